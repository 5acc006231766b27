"""The hot path's writes: Core statements compiled once per dialect, run on a pooled DBAPI
connection that holds the write transaction.

Why: every unit of work is one write transaction of a handful of statements (placing an order:
BEGIN, its aggregate, its outbox row, its summary document, the projection position, COMMIT),
and SQLAlchemy's `Connection` costs here about 40 us of Python per `execute` and 150 us per
connect-begin-commit-close, against 2-5 us and 30 us for the driver itself. The SQL still comes
from the Core statements through the dialect's compiler (one code path for SQLite and
PostgreSQL), values still go through the column types' bind processors (UtcDateTime included),
the connections come from SQLAlchemy's pool with its per-connection settings, and driver errors
are raised as SQLAlchemy's exception classes, as `Connection.execute` would raise them. Reads,
and writes off the hot path, use `Connection` as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Driver:
    """A pooled DBAPI (PEP 249) connection inside a write transaction, and its dialect.
    `on_end`, when given, takes the connection back instead of the pool (database.py holds
    SQLite's writer connection); it is told whether the transaction failed to end."""

    connection: Any
    dialect: Dialect
    on_end: Callable[[bool], None] | None = None

    def run(self, sql: str, params: Any = (), *, many: bool = False) -> Any:
        """Execute on a new cursor; driver errors come out as SQLAlchemy's exception classes."""
        dbapi = self.dialect.loaded_dbapi
        cursor = self.connection.cursor()
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=self.dialect) from exc
        return cursor

    def end(self, commit: bool) -> None:
        """Commit or roll back, then hand the connection back."""
        dbapi = self.dialect.loaded_dbapi
        broken = True
        try:
            if commit:
                self.connection.commit()
            else:
                self.connection.rollback()
            broken = False
        except dbapi.Error as exc:
            raise DBAPIError.instance("COMMIT" if commit else "ROLLBACK", (), exc, dbapi.Error,
                                      dialect=self.dialect) from exc
        finally:
            self.release(broken)

    def release(self, broken: bool = False) -> None:
        """Hand the connection back without ending its transaction (the pool rolls it back)."""
        if self.on_end is None:
            self.connection.close()
        else:
            self.on_end(broken)


class Prepared:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, statement: Executable, dialect: Dialect, keys: Sequence[str]) -> None:
        extra = {"column_keys": list(keys)} if isinstance(statement, UpdateBase) else {}
        compiled = statement.compile(dialect=dialect, **extra)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = list(compiled.positiontup or ()) if dialect.positional else list(binds)
        self._positional = dialect.positional
        self._names = names
        self._defaults = [binds[name].value for name in names]
        processors = [binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
        self._processors: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor is not None]

    def driver_params(self, params: Params) -> tuple[Any, ...] | dict[str, Any]:
        get = params.get
        values = [get(name, default) for name, default in zip(self._names, self._defaults, strict=True)]
        for index, processor in self._processors:
            values[index] = processor(values[index])
        return tuple(values) if self._positional else dict(zip(self._names, values, strict=True))


_prepared: dict[tuple[int, str, tuple[str, ...]], Prepared] = {}
_lock = threading.Lock()


def _prepare(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> Prepared:
    # Keyed by id(): only module-level statements (never collected) are passed in.
    key = (id(statement), dialect.name, keys)
    prepared = _prepared.get(key)
    if prepared is None:
        with _lock:
            prepared = _prepared.setdefault(key, Prepared(statement, dialect, keys))
    return prepared


def execute(driver: Driver, statement: Executable, params: Params) -> int:
    """Run one write; returns the number of rows it matched."""
    prepared = _prepare(statement, driver.dialect, tuple(params))
    cursor = driver.run(prepared.sql, prepared.driver_params(params))
    count: int = cursor.rowcount
    cursor.close()
    return count


def scalar(driver: Driver, statement: Executable, params: Params) -> Any:
    """Run a statement that returns one row of one column (RETURNING, or a plain aggregate)."""
    prepared = _prepare(statement, driver.dialect, tuple(params))
    cursor = driver.run(prepared.sql, prepared.driver_params(params))
    row = cursor.fetchone()
    cursor.close()
    return row[0]


def first(driver: Driver, statement: Executable, params: Params) -> tuple[Any, ...] | None:
    """Run a query; its first row as the driver returns it (no result processing: for columns
    the driver hands over as they are stored, such as text)."""
    prepared = _prepare(statement, driver.dialect, tuple(params))
    cursor = driver.run(prepared.sql, prepared.driver_params(params))
    row = cursor.fetchone()
    cursor.close()
    return None if row is None else tuple(row)


def execute_many(driver: Driver, statement: Executable, rows: Sequence[Params]) -> None:
    if not rows:
        return
    prepared = _prepare(statement, driver.dialect, tuple(rows[0]))
    driver.run(prepared.sql, [prepared.driver_params(row) for row in rows], many=True).close()
