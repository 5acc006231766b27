"""The hot path's writes: Core statements compiled once per dialect, run on the transaction's
own DBAPI cursor.

Why: placing an order takes seven statements in one transaction, and
`Connection.execute(statement)` costs 30-50 us of Python per call here (cache-key lookup,
execution context, result setup) while the driver itself needs 2-5 us. The SQL still comes
from the Core statements through the dialect's compiler (so one code path serves SQLite and
PostgreSQL), values still go through the column types' bind processors (UtcDateTime included),
the connection and its transaction are still SQLAlchemy's, and driver errors are raised as
SQLAlchemy's exception classes, exactly as `Connection.execute` would raise them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase

Params = Mapping[str, Any]
_Slot = tuple[str, Callable[[Any], Any] | None, Any]


class Prepared:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, statement: UpdateBase, dialect: Dialect, column_keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys))
        self.sql = compiled.string
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = list(compiled.positiontup or ()) if dialect.positional else list(binds)
        self._positional = dialect.positional
        self._slots: list[_Slot] = [
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect), binds[name].value)
            for name in names
        ]

    def driver_params(self, params: Params) -> tuple[Any, ...] | dict[str, Any]:
        processed = [(name, processor(value) if processor is not None else value)
                     for name, processor, default in self._slots
                     for value in (params.get(name, default),)]
        if self._positional:
            return tuple(value for _, value in processed)
        return dict(processed)


_prepared: dict[tuple[int, str, tuple[str, ...]], Prepared] = {}
_lock = threading.Lock()


def _prepare(statement: UpdateBase, dialect: Dialect, keys: tuple[str, ...]) -> Prepared:
    # Keyed by id(): only module-level statements (never collected) are passed in.
    key = (id(statement), dialect.name, keys)
    prepared = _prepared.get(key)
    if prepared is None:
        with _lock:
            prepared = _prepared.setdefault(key, Prepared(statement, dialect, keys))
    return prepared


def _run(connection: Connection, prepared: Prepared, params: Any, many: bool) -> Any:
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.cursor()
    try:
        if many:
            cursor.executemany(prepared.sql, params)
        else:
            cursor.execute(prepared.sql, params)
    except dbapi.Error as exc:
        cursor.close()
        raise DBAPIError.instance(prepared.sql, params, exc, dbapi.Error, dialect=connection.dialect) from exc
    return cursor


def execute(connection: Connection, statement: UpdateBase, params: Params) -> int:
    """Run one write; returns the number of rows it matched."""
    prepared = _prepare(statement, connection.dialect, tuple(params))
    cursor = _run(connection, prepared, prepared.driver_params(params), many=False)
    count: int = cursor.rowcount
    cursor.close()
    return count


def execute_returning(connection: Connection, statement: UpdateBase, params: Params) -> Any:
    """Run one INSERT ... RETURNING of a single column; returns that value."""
    prepared = _prepare(statement, connection.dialect, tuple(params))
    cursor = _run(connection, prepared, prepared.driver_params(params), many=False)
    row = cursor.fetchone()
    cursor.close()
    return row[0]


def execute_many(connection: Connection, statement: UpdateBase, rows: Sequence[Params]) -> None:
    if not rows:
        return
    prepared = _prepare(statement, connection.dialect, tuple(rows[0]))
    _run(connection, prepared, [prepared.driver_params(row) for row in rows], many=True).close()
