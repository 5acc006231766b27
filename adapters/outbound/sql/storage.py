"""The Storage port on SQL: SQLite (the embedded default) or PostgreSQL, same code for both."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from sqlalchemy import select, text

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.engine import SqlTarget, target_for
from adapters.outbound.sql.event_store import SqlEventStore
from adapters.outbound.sql.migrate import ensure_current
from adapters.outbound.sql.outbox import SqlOutbox
from adapters.outbound.sql.read_model import SqlReadModel
from adapters.outbound.sql.schema import events, orders
from adapters.outbound.sql.unit_of_work import EventSourcedOrders, SqlUnitOfWork, StateOrders


class SqlStorage:
    """Opens the database, refuses a schema it was not written for (upgrading a store it manages
    itself), and hands out units of work. `orders` is "state" or "events"."""

    def __init__(self, target: SqlTarget, orders: str = "state", snapshot_every: int = 50) -> None:
        self._db = Database(target)
        try:
            ensure_current(self._db.engine, target)
        except BaseException:
            self._db.close()
            raise
        self._event_sourced = orders == "events"
        self._orders = (partial(EventSourcedOrders, snapshot_every=snapshot_every) if self._event_sourced
                        else StateOrders)
        self.read_model = SqlReadModel(self._db)
        self.outbox = SqlOutbox(self._db)
        self.event_store = SqlEventStore(self._db)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._db, self._orders)

    def order_ids(self) -> list[str]:
        query = (select(events.c.stream_id).distinct().order_by(events.c.stream_id) if self._event_sourced
                 else select(orders.c.id).order_by(orders.c.id))
        with self._db.reading() as connection:
            return list(connection.execute(query).scalars())

    def close(self) -> None:
        self.outbox.release_all()
        self._db.close()

    def describe(self) -> str:
        return self._db.target.shown

    def check(self) -> None:
        with self._db.reading() as connection:
            connection.execute(text("SELECT 1"))


def open_sql_storage(adapter: str, data_dir: Path, url: str, *, orders: str, snapshot_every: int,
                     busy_timeout_ms: int = 5000, connect_timeout_s: int = 5) -> SqlStorage:
    """The "sqlite" or "postgres" storage adapter (see engine.target_for for how `url` is read)."""
    target = target_for(adapter, data_dir, url, busy_timeout_ms=busy_timeout_ms,
                        connect_timeout_s=connect_timeout_s)
    if target is None:
        raise ValueError(f"{adapter!r} is not a SQL storage adapter")
    return SqlStorage(target, orders, snapshot_every)
