"""The ReadModel port on SQL: order summaries and the projection's position."""

from __future__ import annotations

from sqlalchemy import Connection, and_, delete, or_, select, update

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.prepared import Driver, execute
from adapters.outbound.sql.rows import summary_from_row, summary_values
from adapters.outbound.sql.schema import order_summaries, projection_position
from adapters.outbound.sql.statements import (
    ADVANCE_POSITION,
    INSERT_SUMMARY,
    SELECT_POSITION,
    SUMMARY_BY_ID,
    UPDATE_SUMMARY,
)
from core.orders.model import OrderStatus
from core.orders.queries import OrderPage, OrderSummary, decode_cursor, encode_cursor


def load_summary(connection: Connection, order_id: str) -> OrderSummary | None:
    row = connection.execute(SUMMARY_BY_ID, {"order_id": order_id}).first()
    return summary_from_row(row) if row is not None else None


def write_summary(driver: Driver, summary: OrderSummary, *, new: bool) -> None:
    """Insert a new order's summary; update an existing one (inserting if it went missing)."""
    values = summary_values(summary)
    if not new and execute(driver, UPDATE_SUMMARY, {**values, "where_order_id": summary.order_id}) == 1:
        return
    execute(driver, INSERT_SUMMARY, values)


def advance_position(driver: Driver, position: int) -> None:
    execute(driver, ADVANCE_POSITION, {"new_position": position})


class SqlReadModel:
    """Committed summaries. Outside a unit of work, `put` commits on its own (projection rebuilds)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, summary: OrderSummary, position: int) -> None:
        with self._db.driving() as driver:
            write_summary(driver, summary, new=False)
            advance_position(driver, position)

    def get(self, order_id: str) -> OrderSummary | None:
        with self._db.reading() as connection:
            return load_summary(connection, order_id)

    def list(
        self, *, customer_id: str | None = None, status: OrderStatus | None = None,
        cursor: str | None = None, limit: int = 50,
    ) -> OrderPage:
        table = order_summaries.c
        query = select(order_summaries)
        if customer_id is not None:
            query = query.where(table.customer_id == customer_id)
        if status is not None:
            query = query.where(table.status == status.value)
        if cursor:
            created_at, order_id = decode_cursor(cursor)
            query = query.where(or_(table.created_at < created_at,
                                    and_(table.created_at == created_at, table.order_id < order_id)))
        query = query.order_by(table.created_at.desc(), table.order_id.desc()).limit(limit + 1)
        with self._db.reading() as connection:
            rows = connection.execute(query).all()
        page = tuple(summary_from_row(row) for row in rows[:limit])
        more = len(rows) > limit
        return OrderPage(items=page, next_cursor=encode_cursor(page[-1]) if more and page else None)

    def position(self) -> int:
        with self._db.reading() as connection:
            return int(connection.execute(SELECT_POSITION).scalar_one())

    def clear(self) -> None:
        with self._db.writing() as connection:
            connection.execute(delete(order_summaries))
            connection.execute(update(projection_position).values(position=0))
