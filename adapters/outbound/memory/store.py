"""One in-memory store for orders, outbox, read model, inbox and event streams.

Writers stage their changes in a unit of work and apply them under the store's lock at commit,
after checking versions: that gives the same atomicity and conflict behaviour as a database.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from core.envelope import OutboxRecord, StoredEvent
from core.errors import AlreadyProcessed, ConcurrencyConflict
from core.event_streams import check_append
from core.messages import DomainEvent
from core.orders.model import Order, OrderStatus
from core.orders.queries import OrderPage, OrderSummary, decode_cursor, encode_cursor, sort_key
from core.orders.snapshots import order_to_snapshot, rebuild, snapshot_due
from core.unit_of_work import StagedInbox, StagedOutbox, StagedSummaries, UnitOfWorkBase


class MemoryStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.orders: dict[str, Order] = {}
        self.keys: dict[str, str] = {}
        self.outbox: dict[int, OutboxRecord] = {}
        self.outbox_seq = itertools.count(1)
        self.summaries: dict[str, OrderSummary] = {}
        self.position = 0
        self.inbox: set[str] = set()
        self.streams: dict[str, list[DomainEvent]] = {}
        self.all_events: list[StoredEvent] = []
        self.snapshots: dict[str, dict[str, Any]] = {}


class MemoryReadModel:
    """The ReadModel port over a MemoryStore (committed data only)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def put(self, summary: OrderSummary, position: int) -> None:
        with self._store.lock:
            self._store.summaries[summary.order_id] = summary
            self._store.position = max(self._store.position, position)

    def get(self, order_id: str) -> OrderSummary | None:
        with self._store.lock:
            return self._store.summaries.get(order_id)

    def list(
        self, *, customer_id: str | None = None, status: OrderStatus | None = None,
        cursor: str | None = None, limit: int = 50,
    ) -> OrderPage:
        after = decode_cursor(cursor) if cursor else None
        with self._store.lock:
            rows = [s for s in self._store.summaries.values()
                    if (customer_id is None or s.customer_id == customer_id)
                    and (status is None or s.status == status)
                    and (after is None or sort_key(s) < after)]
        rows.sort(key=sort_key, reverse=True)
        page = tuple(rows[:limit])
        more = len(rows) > limit
        return OrderPage(items=page, next_cursor=encode_cursor(page[-1]) if more else None)

    def position(self) -> int:
        with self._store.lock:
            return self._store.position

    def clear(self) -> None:
        with self._store.lock:
            self._store.summaries.clear()
            self._store.position = 0


class MemoryOutbox:
    """The Outbox port (relay side) over a MemoryStore."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def claim(self, limit: int) -> list[OutboxRecord]:
        with self._store.lock:
            pending = (r for r in self._store.outbox.values() if r.published_at is None)
            return sorted(pending, key=lambda r: r.seq)[:limit]

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        with self._store.lock:
            for seq in seqs:
                record = self._store.outbox.get(seq)
                if record is not None and record.published_at is None:
                    self._store.outbox[seq] = dataclasses.replace(record, published_at=at)

    def pending_count(self) -> int:
        with self._store.lock:
            return sum(1 for r in self._store.outbox.values() if r.published_at is None)

    def oldest_pending_at(self) -> datetime | None:
        with self._store.lock:
            return min((r.created_at for r in self._store.outbox.values() if r.published_at is None), default=None)

    def purge_published(self, before: datetime) -> int:
        with self._store.lock:
            old = [s for s, r in self._store.outbox.items() if r.published_at is not None and r.published_at < before]
            for seq in old:
                del self._store.outbox[seq]
            return len(old)

    def recent(self, limit: int) -> list[OutboxRecord]:
        with self._store.lock:
            return sorted(self._store.outbox.values(), key=lambda r: r.seq, reverse=True)[:limit]

    def history(self, aggregate_id: str) -> list[OutboxRecord]:
        with self._store.lock:
            rows = [r for r in self._store.outbox.values() if r.aggregate_id == aggregate_id]
        return sorted(rows, key=lambda r: r.aggregate_version)


def _inbox_has(store: MemoryStore, message_id: str) -> bool:
    with store.lock:
        return message_id in store.inbox


class MemoryEventStore:
    """The EventStore port over a MemoryStore."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def append(self, stream_id: str, events: Sequence[DomainEvent], expected_version: int) -> None:
        with self._store.lock:
            stream = self._store.streams.get(stream_id, [])
            check_append(stream_id, len(stream), events, expected_version)
            self._store.streams[stream_id] = [*stream, *events]
            for event in events:
                self._store.all_events.append(StoredEvent(position=len(self._store.all_events) + 1, event=event))

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[DomainEvent]:
        with self._store.lock:
            return [e for e in self._store.streams.get(stream_id, []) if e.aggregate_version >= from_version]

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        with self._store.lock:
            return self._store.all_events[after_position:after_position + limit]


class _StagedOrders:
    """The OrderRepository port inside one memory unit of work."""

    def __init__(self, store: MemoryStore, staged: dict[str, tuple[Order, int]]) -> None:
        self._store = store
        self._staged = staged

    def get(self, order_id: str) -> Order | None:
        with self._store.lock:
            order = self._store.orders.get(order_id)
            return order.copy() if order is not None else None

    def get_by_idempotency_key(self, key: str) -> Order | None:
        with self._store.lock:
            order_id = self._store.keys.get(key)
        return self.get(order_id) if order_id is not None else None

    def add(self, order: Order) -> None:
        self._staged[order.id] = (order.copy(), 0)

    def save(self, order: Order) -> None:
        self._staged[order.id] = (order.copy(), order.persisted_version)


class _EventSourcedOrders(_StagedOrders):
    """The OrderRepository port for event-sourced orders: streams are the truth, snapshots a shortcut."""

    def get(self, order_id: str) -> Order | None:
        with self._store.lock:
            snapshot = self._store.snapshots.get(order_id)
            return rebuild(order_id, snapshot, MemoryEventStore(self._store).read_stream)


class MemoryUnitOfWork(UnitOfWorkBase):
    def __init__(self, store: MemoryStore, event_sourced: bool = False, snapshot_every: int = 50) -> None:
        super().__init__()
        self._store = store
        self._event_sourced = event_sourced
        self._snapshot_every = snapshot_every
        self._orders: dict[str, tuple[Order, int]] = {}
        self._outbox_rows: list[OutboxRecord] = []
        self._summaries: dict[str, tuple[OrderSummary, int]] = {}
        self._inbox_ids: list[str] = []

    @property
    def _repository(self) -> _StagedOrders | _EventSourcedOrders:
        if self._event_sourced:
            return _EventSourcedOrders(self._store, self._orders)
        return _StagedOrders(self._store, self._orders)

    @property
    def _outbox(self) -> StagedOutbox:
        return StagedOutbox(partial(next, self._store.outbox_seq), self._outbox_rows)

    @property
    def _read_model(self) -> StagedSummaries:
        return StagedSummaries(MemoryReadModel(self._store).get, self._summaries)

    @property
    def inbox(self) -> StagedInbox:
        return StagedInbox(partial(_inbox_has, self._store), self._inbox_ids)

    def _begin(self) -> None:
        self._discard()

    def _commit(self) -> None:
        store = self._store
        with store.lock:
            for order, expected in self._orders.values():
                version = self._stored_version(order.id)
                taken = expected == 0 and order.idempotency_key is not None and order.idempotency_key in store.keys
                if taken or version != expected:
                    raise ConcurrencyConflict(order.id, expected, version)
            if any(m in store.inbox for m in self._inbox_ids):
                raise AlreadyProcessed(next(m for m in self._inbox_ids if m in store.inbox))
            events = MemoryEventStore(store)
            for order, expected in self._orders.values():
                if self._event_sourced:
                    events.append(order.id, order.pending_events, expected)
                    if snapshot_due(expected, order.version, self._snapshot_every):
                        store.snapshots[order.id] = order_to_snapshot(order)
                else:
                    store.orders[order.id] = _snapshot(order)
                if order.idempotency_key is not None:
                    store.keys[order.idempotency_key] = order.id
            for record in self._outbox_rows:
                store.outbox[record.seq] = record
            for summary, position in self._summaries.values():
                store.summaries[summary.order_id] = summary
                store.position = max(store.position, position)
            store.inbox.update(self._inbox_ids)
        self._discard()

    def _rollback(self) -> None:
        self._discard()

    def _stored_version(self, order_id: str) -> int:
        if self._event_sourced:
            return len(self._store.streams.get(order_id, ()))
        current = self._store.orders.get(order_id)
        return current.version if current else 0

    def _discard(self) -> None:
        self._orders, self._outbox_rows, self._summaries, self._inbox_ids = {}, [], {}, []


def _snapshot(order: Order) -> Order:
    """A stored copy: no events pending, persisted at its current version."""
    stored = order.copy()
    stored.pending_events = []
    stored.persisted_version = stored.version
    return stored
