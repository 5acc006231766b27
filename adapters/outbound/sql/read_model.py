"""The ReadModel port on SQL: any view's documents in one `documents` table, and the projection's
position. The committer writes documents inside units of work with the same two statements
(`write_document`, `advance_position`); `put` here commits on its own (view rebuilds)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Connection, and_, delete, or_, select

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.prepared import Driver, execute
from adapters.outbound.sql.rows import document_from_data, document_values
from adapters.outbound.sql.schema import TAGS, documents
from adapters.outbound.sql.statements import ADVANCE_POSITION, DOCUMENT, SELECT_POSITION, UPSERT_DOCUMENT
from core.kernel.views import Page, View, decode_cursor, page_of

T = TypeVar("T")
_TAG_COLUMNS = tuple(documents.c[f"tag{n}"] for n in range(1, TAGS + 1))


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
        table = documents.c
        query = select(table.data).where(table.view == view.name)
        for column, value in zip(_TAG_COLUMNS, where, strict=False):
            if value is not None:
                query = query.where(column == value)
        if cursor:
            sort, key = decode_cursor(cursor)
            # (sort, key) < (:sort, :key), spelled so that both dialects see a range on `sort`
            # they can seek the (view, [tag,] sort, key) index to; the OR only trims the edge.
            query = query.where(table.sort <= sort, or_(table.sort < sort, and_(table.sort == sort, table.key < key)))
        query = query.order_by(table.sort.desc(), table.key.desc()).limit(limit + 1)
        with self._db.reading() as connection:
            rows = connection.execute(query).scalars().all()
        return page_of([document_from_data(view, data) for data in rows], view, limit)

    def position(self) -> int:
        with self._db.reading() as connection:
            return int(connection.execute(SELECT_POSITION).scalar_one())

    def clear(self, view: View[Any]) -> None:
        """Remove the view's documents (for a rebuild); the position stays, as the port says."""
        with self._db.writing() as connection:
            connection.execute(delete(documents).where(documents.c.view == view.name))
