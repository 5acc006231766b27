"""One opened database: its engine, plus short read and write transactions on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from adapters.outbound.sql.engine import WRITER, SqlTarget, open_engine, translated
from adapters.outbound.sql.prepared import Driver


class Database:
    def __init__(self, target: SqlTarget) -> None:
        self.target = target
        self.engine = open_engine(target)
        # The same pool; its connections carry the writer option from the start.
        self._writers = self.engine.execution_options(**WRITER)

    @property
    def dialect(self) -> str:
        return self.target.dialect

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with translated(self.target), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite) that commits when the block ends."""
        with translated(self.target), self._writers.connect() as connection, connection.begin():
            yield connection

    def writer(self) -> Connection:
        """An open write transaction for the caller to commit or roll back, then close."""
        with translated(self.target):
            connection = self._writers.connect()
            try:
                connection.begin()
            except BaseException:
                connection.close()
                raise
        return connection

    def driver(self) -> Driver:
        """A write transaction straight on a pooled DBAPI connection, for prepared.py's writes.
        The caller ends it with `Driver.end`. PostgreSQL's driver opens the transaction with the
        first statement; SQLite's runs in autocommit mode, so the writer lock is taken here."""
        with translated(self.target):
            driver = Driver(self.engine.raw_connection(), self.engine.dialect)
            try:
                if self.dialect == "sqlite":
                    driver.run("BEGIN IMMEDIATE").close()
            except BaseException:
                driver.connection.close()
                raise
        return driver

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
        # The engine makes a new pool on next use, so a closed store reopens by itself.
        self.engine.dispose()
