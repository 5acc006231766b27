"""One opened database: its engine, plus short read and write transactions on it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from adapters.outbound.sql.engine import WRITER, SqlTarget, open_engine, translated
from adapters.outbound.sql.prepared import Driver


class Database:
    def __init__(self, target: SqlTarget) -> None:
        self.target = target
        self.engine = open_engine(target)
        # The same pool; its connections carry the writer option from the start.
        self._writers = self.engine.execution_options(**WRITER)
        # SQLite has one writer at a time anyway, so its writes keep one pooled connection checked
        # out between them: a pool checkout and return cost as much as the statements of a small
        # unit of work. Whoever finds it busy takes one from the pool, as before. PostgreSQL keeps
        # the pool for every write: its pre-ping is what survives a server restart.
        self._hold = self.dialect == "sqlite"
        self._held: Any = None
        self._held_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.target.dialect

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with translated(self.target), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def querying(self) -> Iterator[Driver]:
        """A pooled DBAPI connection for one read on the driver (prepared.py). SQLite's runs in
        autocommit mode, so a SELECT is its own read transaction; PostgreSQL's is rolled back as
        the pool takes it back."""
        with translated(self.target):
            connection = self.engine.raw_connection()
            try:
                yield Driver(connection, self.engine.dialect)
            finally:
                connection.close()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite) that commits when the block ends."""
        with translated(self.target), self._writers.connect() as connection, connection.begin():
            yield connection

    def driver(self) -> Driver:
        """A write transaction straight on a DBAPI connection, for prepared.py's writes. The
        caller ends it with `Driver.end`. PostgreSQL's driver opens the transaction with the first
        statement; SQLite's runs in autocommit mode, so the writer lock is taken here."""
        with translated(self.target):
            driver = self._held_driver() if self._hold else None
            if driver is None:
                driver = Driver(self.engine.raw_connection(), self.engine.dialect)
            try:
                if self.dialect == "sqlite":
                    driver.run("BEGIN IMMEDIATE").close()
            except BaseException:
                driver.release(broken=True)
                raise
        return driver

    def _held_driver(self) -> Driver | None:
        if not self._held_lock.acquire(blocking=False):
            return None
        try:
            if self._held is None:
                self._held = self.engine.raw_connection()
        except BaseException:
            self._held_lock.release()
            raise
        return Driver(self._held, self.engine.dialect, on_end=self._give_back)

    def _give_back(self, broken: bool) -> None:
        """The held connection's transaction ended; one that failed to end is not trusted again."""
        if broken and self._held is not None:
            held, self._held = self._held, None
            held.close()
        self._held_lock.release()

    @contextmanager
    def driving(self) -> Iterator[Driver]:
        """`driver()` as a block: commits when it ends, rolls back on an error."""
        driver = self.driver()
        try:
            with translated(self.target):
                yield driver
        except BaseException:
            driver.end(commit=False)
            raise
        with translated(self.target):
            driver.end(commit=True)

    def close(self) -> None:
        with self._held_lock:
            held, self._held = self._held, None
            if held is not None:
                held.close()
        # The engine makes a new pool on next use, so a closed store reopens by itself.
        self.engine.dispose()
