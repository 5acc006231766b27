"""The unit of work on SQL, and the repositories, outbox writer, read model and inbox bound to it.

Reads run in short read transactions of their own; the first write (which comes from
`commit()` itself) opens the write transaction that `commit()` ends (see prepared.py for why it
runs on the driver). So a unit of work holds no lock while a handler thinks, SQLite's single
writer lock is held only for the writes, and a stale read is caught by the version checks at
write time. The one read inside `commit()`, an existing order's summary, sees committed data,
which is the data it needs: the order's row (or stream) lock that `commit()` took first keeps
every other writer of that order, and so of its summary, waiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.exc import IntegrityError

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.engine import translated
from adapters.outbound.sql.event_store import append_events, read_stream
from adapters.outbound.sql.prepared import Driver, execute, execute_many, scalar
from adapters.outbound.sql.read_model import SqlReadModel, advance_position, load_summary, write_summary
from adapters.outbound.sql.rows import line_values, order_from_rows, order_values, outbox_values
from adapters.outbound.sql.statements import (
    INBOX_HAS,
    INSERT_INBOX,
    INSERT_LINES,
    INSERT_ORDER,
    INSERT_ORDER_KEY,
    INSERT_OUTBOX,
    INSERT_SNAPSHOT,
    LATEST_SNAPSHOT,
    LINES_OF_ORDER,
    ORDER_BY_ID,
    ORDER_BY_KEY,
    ORDER_ID_BY_KEY,
    SAVE_ORDER,
)
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.orders.model import Order
from core.orders.queries import OrderSummary
from core.orders.snapshots import order_to_snapshot, rebuild, snapshot_due
from core.runtime.unit_of_work import UnitOfWorkBase


class _Transaction:
    """The unit of work's write transaction: none until the first write."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.driver: Driver | None = None
        # Orders inserted in this transaction: they cannot have a summary yet.
        self.new_orders: set[str] = set()

    def writer(self) -> Driver:
        if self.driver is None:
            self.driver = self.db.driver()
        return self.driver

    def reader(self) -> AbstractContextManager[Connection]:
        return self.db.reading()

    def commit(self) -> None:
        self._end(commit=True)

    def rollback(self) -> None:
        self._end(commit=False)

    def _end(self, commit: bool) -> None:
        driver, self.driver = self.driver, None
        self.new_orders.clear()
        if driver is not None:
            with translated(self.db.target):
                driver.end(commit)


class StateOrders:
    """OrderRepository over the orders and order_lines tables (`storage.orders = "state"`)."""

    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    def get(self, order_id: str) -> Order | None:
        return self._load(ORDER_BY_ID, {"order_id": order_id})

    def get_by_idempotency_key(self, key: str) -> Order | None:
        return self._load(ORDER_BY_KEY, {"key": key})

    def _load(self, query: Select[Any], params: dict[str, str]) -> Order | None:
        with self._tx.reader() as connection:
            row = connection.execute(query, params).first()
            if row is None:
                return None
            lines = connection.execute(LINES_OF_ORDER, {"order_id": row.id}).all()
        return order_from_rows(row, lines)

    def add(self, order: Order) -> None:
        driver = self._tx.writer()
        try:
            execute(driver, INSERT_ORDER, order_values(order))
        except IntegrityError as exc:
            # The id or the idempotency key is taken: someone placed it first.
            raise ConcurrencyConflict(order.id, 0) from exc
        execute_many(driver, INSERT_LINES, line_values(order))
        self._tx.new_orders.add(order.id)

    def save(self, order: Order) -> None:
        changed = execute(self._tx.writer(), SAVE_ORDER, {
            "where_id": order.id, "where_version": order.persisted_version, "status": order.status.value,
            "version": order.version, "updated_at": order.updated_at, "reason": order.reason})
        if changed != 1:
            raise ConcurrencyConflict(order.id, order.persisted_version)


class EventSourcedOrders:
    """OrderRepository over the event store (`storage.orders = "events"`): an order is its stream,
    replayed on top of its latest snapshot; a snapshot is written every `snapshot_every` events."""

    def __init__(self, tx: _Transaction, snapshot_every: int) -> None:
        self._tx = tx
        self._every = snapshot_every

    def get(self, order_id: str) -> Order | None:
        with self._tx.reader() as connection:
            data = connection.execute(LATEST_SNAPSHOT, {"order_id": order_id}).scalar()
            return rebuild(order_id, json.loads(data) if data is not None else None,
                           lambda stream_id, version: read_stream(connection, stream_id, version))

    def get_by_idempotency_key(self, key: str) -> Order | None:
        with self._tx.reader() as connection:
            order_id = connection.execute(ORDER_ID_BY_KEY, {"key": key}).scalar()
        return self.get(order_id) if order_id is not None else None

    def add(self, order: Order) -> None:
        driver = self._tx.writer()
        self._append(driver, order)
        if order.idempotency_key is not None:
            try:
                execute(driver, INSERT_ORDER_KEY, {"idempotency_key": order.idempotency_key,
                                                        "order_id": order.id})
            except IntegrityError as exc:
                raise ConcurrencyConflict(order.id, 0) from exc
        self._tx.new_orders.add(order.id)

    def save(self, order: Order) -> None:
        self._append(self._tx.writer(), order)

    def _append(self, driver: Driver, order: Order) -> None:
        append_events(driver, order.id, order.pending_events, order.persisted_version)
        if snapshot_due(order.persisted_version, order.version, self._every):
            execute(driver, INSERT_SNAPSHOT, {"stream_id": order.id, "version": order.version,
                                                   "data": json.dumps(order_to_snapshot(order))})


class _TxOutbox:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    def add(self, record: OutboxRecord) -> int:
        return int(scalar(self._tx.writer(), INSERT_OUTBOX, outbox_values(record)))


class _TxReadModel(SqlReadModel):
    """Summaries staged in the unit of work and written once per order just before commit."""

    def __init__(self, db: Database, tx: _Transaction) -> None:
        super().__init__(db)
        self._tx = tx
        self.staged: dict[str, OrderSummary] = {}
        self.position_seen = 0

    def put(self, summary: OrderSummary, position: int) -> None:
        self.staged[summary.order_id] = summary
        self.position_seen = max(self.position_seen, position)

    def get(self, order_id: str) -> OrderSummary | None:
        if order_id in self.staged:
            return self.staged[order_id]
        if order_id in self._tx.new_orders:
            return None
        with self._tx.reader() as connection:
            return load_summary(connection, order_id)

    def flush(self) -> None:
        if not self.staged:
            return
        driver = self._tx.writer()
        for order_id, summary in self.staged.items():
            write_summary(driver, summary, new=order_id in self._tx.new_orders)
        advance_position(driver, self.position_seen)

    def discard(self) -> None:
        self.staged.clear()
        self.position_seen = 0


class SqlInbox:
    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    def add(self, message_id: str) -> None:
        try:
            execute(self._tx.writer(), INSERT_INBOX, {"message_id": message_id})
        except IntegrityError as exc:
            raise AlreadyProcessed(message_id) from exc

    def contains(self, message_id: str) -> bool:
        with self._tx.db.reading() as connection:
            found = connection.execute(INBOX_HAS, {"message_id": message_id}).first()
        return found is not None


OrdersFactory = Callable[[_Transaction], StateOrders | EventSourcedOrders]


class SqlUnitOfWork(UnitOfWorkBase):
    def __init__(self, db: Database, orders_factory: OrdersFactory) -> None:
        super().__init__()
        self._db = db
        self._tx = _Transaction(db)
        self._orders_port = orders_factory(self._tx)
        self._outbox_port = _TxOutbox(self._tx)
        self._read_model_port = _TxReadModel(db, self._tx)
        self._inbox_port = SqlInbox(self._tx)

    @property
    def _repository(self) -> StateOrders | EventSourcedOrders:
        return self._orders_port

    @property
    def _outbox(self) -> _TxOutbox:
        return self._outbox_port

    @property
    def _read_model(self) -> _TxReadModel:
        return self._read_model_port

    @property
    def inbox(self) -> SqlInbox:
        return self._inbox_port

    def _begin(self) -> None:
        self._tx.rollback()
        self._read_model_port.discard()

    def commit(self) -> None:
        with translated(self._db.target):
            super().commit()

    def _commit(self) -> None:
        self._read_model_port.flush()
        self._tx.commit()
        self._read_model_port.discard()

    def _rollback(self) -> None:
        self._read_model_port.discard()
        self._tx.rollback()
