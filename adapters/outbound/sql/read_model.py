"""The ReadModel port on SQL: any view's documents in one `documents` table, and the projection's
position. The committer writes documents inside units of work with the same two statements
(`write_document`, `advance_position`); `put` here commits on its own (view rebuilds).

Lists run on the pooled DBAPI connection with statements compiled once per dialect (prepared.py).
Measured at 1M orders (bench/growth.py): a page of 50 is about 0.04 ms of SQL; building a Core
select per call and running it through `Connection` (a Row per document) cost 0.3 ms more than
this; what remains (about 0.45 ms) is decoding the JSON and the view's `from_json`."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, delete

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.prepared import Driver, Prepared, execute
from adapters.outbound.sql.rows import document_from_data, document_values, loads
from adapters.outbound.sql.schema import TAGS, documents
from adapters.outbound.sql.statements import (
    ADVANCE_POSITION,
    DOCUMENT,
    LIST_DOCUMENTS,
    SELECT_POSITION,
    UPSERT_DOCUMENT,
)
from core.kernel.views import Page, View, decode_cursor, page_of

T = TypeVar("T")
_TAG_NAMES = tuple(f"tag{n}" for n in range(1, TAGS + 1))
_lists: dict[tuple[str, tuple[int, ...], bool], Prepared] = {}
_lists_lock = threading.Lock()


def _list_statement(dialect: Dialect, tags: tuple[int, ...], after: bool) -> Prepared:
    key = (dialect.name, tags, after)
    prepared = _lists.get(key)
    if prepared is None:
        with _lists_lock:
            prepared = _lists.setdefault(key, Prepared(LIST_DOCUMENTS[(tags, after)], dialect, ()))
    return prepared


def load_document(connection: Connection, view: View[T], key: str) -> T | None:
    data = connection.execute(DOCUMENT, {"view": view.name, "key": key}).scalar()
    return document_from_data(view, data) if data is not None else None


def write_document(driver: Driver, view: View[T], document: T) -> None:
    """Insert or replace the document with its view and key."""
    execute(driver, UPSERT_DOCUMENT[driver.dialect.name], document_values(view, document))


def advance_position(driver: Driver, position: int) -> None:
    """Raise the projection position to `position`; a lower one leaves it as it is."""
    execute(driver, ADVANCE_POSITION, {"new_position": position})


class SqlReadModel:
    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, view: View[T], document: T, position: int) -> None:
        with self._db.driving() as driver:
            write_document(driver, view, document)
            advance_position(driver, position)

    def get(self, view: View[T], key: str) -> T | None:
        with self._db.reading() as connection:
            return load_document(connection, view, key)

    def list(self, view: View[T], where: tuple[str | None, ...] = (), cursor: str | None = None,
             limit: int = 50) -> Page[T]:
        if len(where) > TAGS:
            raise ValueError(f"view {view.name}: {len(where)} filters, documents carry {TAGS} tags")
        params: dict[str, Any] = {"view": view.name, "limit": limit + 1}
        tags = []
        for number, value in enumerate(where, start=1):
            if value is not None:
                tags.append(number)
                params[_TAG_NAMES[number - 1]] = value
        if cursor:
            params["after_sort"], params["after_key"] = decode_cursor(cursor)
        with self._db.querying() as driver:
            prepared = _list_statement(driver.dialect, tuple(tags), bool(cursor))
            found = driver.run(prepared.sql, prepared.driver_params(params))
            rows = found.fetchall()
            found.close()
        from_json = view.from_json
        return page_of([from_json(loads(data)) for data, in rows], view, limit)

    def position(self) -> int:
        with self._db.reading() as connection:
            return int(connection.execute(SELECT_POSITION).scalar_one())

    def clear(self, view: View[Any]) -> None:
        """Remove the view's documents (for a rebuild); the position stays, as the port says."""
        with self._db.writing() as connection:
            connection.execute(delete(documents).where(documents.c.view == view.name))
