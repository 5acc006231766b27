"""The unit of work over a FileStore: changes are staged in memory and committed as one journal
line, after the version checks, under the writer lock."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from adapters.outbound.file.ports import FileReadModel, numbered
from adapters.outbound.file.state import FileState
from adapters.outbound.file.store import FileStore
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.kernel.streams import check_append
from core.kernel.messages import DomainEvent
from core.orders.model import Order
from core.orders.queries import OrderSummary
from core.orders.snapshots import order_from_snapshot, order_to_snapshot, rebuild, snapshot_due
from core.runtime.unit_of_work import StagedInbox, StagedOutbox, StagedSummaries, UnitOfWorkBase


@dataclass(frozen=True)
class _StagedOrder:
    snapshot: dict[str, Any]
    expected_version: int
    events: tuple[DomainEvent, ...]

    @property
    def order_id(self) -> str:
        return str(self.snapshot["order_id"])


def load_order(state: FileState, order_id: str) -> Order | None:
    """A fresh Order from the committed state: its stored snapshot (state mode), or its latest
    event-sourcing snapshot plus the events after it (events mode)."""
    if state.mode == "state":
        snapshot = state.orders.get(order_id)
        return order_from_snapshot(snapshot) if snapshot is not None else None

    def read_stream(stream_id: str, from_version: int) -> list[DomainEvent]:
        return [e for e in state.streams.get(stream_id, []) if e.aggregate_version >= from_version]

    return rebuild(order_id, state.order_snapshots.get(order_id), read_stream)


class _StagedOrders:
    def __init__(self, store: FileStore, staged: dict[str, _StagedOrder]) -> None:
        self._store = store
        self._staged = staged

    def get(self, order_id: str) -> Order | None:
        return self._store.read(lambda state: load_order(state, order_id))

    def get_by_idempotency_key(self, key: str) -> Order | None:
        return self._store.read(lambda state: load_order(state, state.keys[key]) if key in state.keys else None)

    def add(self, order: Order) -> None:
        self._stage(order, 0)

    def save(self, order: Order) -> None:
        self._stage(order, order.persisted_version)

    def _stage(self, order: Order, expected: int) -> None:
        self._staged[order.id] = _StagedOrder(order_to_snapshot(order), expected, tuple(order.pending_events))



class FileUnitOfWork(UnitOfWorkBase):
    def __init__(self, store: FileStore, snapshot_every: int) -> None:
        super().__init__()
        self._store = store
        self._snapshot_every = snapshot_every
        self._orders: dict[str, _StagedOrder] = {}
        self._outbox_rows: list[OutboxRecord] = []
        self._summaries: dict[str, tuple[OrderSummary, int]] = {}
        self._inbox_ids: list[str] = []

    @property
    def _repository(self) -> _StagedOrders:
        return _StagedOrders(self._store, self._orders)

    @property
    def _outbox(self) -> StagedOutbox:
        return StagedOutbox(self._store.next_seq, self._outbox_rows)

    @property
    def _read_model(self) -> StagedSummaries:
        return StagedSummaries(FileReadModel(self._store).get, self._summaries)

    @property
    def inbox(self) -> StagedInbox:
        return StagedInbox(partial(_inbox_has, self._store), self._inbox_ids)

    def _begin(self) -> None:
        self._discard()
        # Catch up with other processes now, so outbox seqs are taken after theirs.
        self._store.read(lambda state: None)

    def _commit(self) -> None:
        if self._orders or self._outbox_rows or self._summaries or self._inbox_ids:
            self._store.write(self._record)
        self._discard()

    def _record(self, state: FileState) -> dict[str, Any]:
        for staged in self._orders.values():
            current = state.version_of(staged.order_id)
            key = staged.snapshot["idempotency_key"]
            taken = staged.expected_version == 0 and key is not None and key in state.keys
            if taken or current != staged.expected_version:
                raise ConcurrencyConflict(staged.order_id, staged.expected_version, current)
            if state.mode == "events":
                check_append(staged.order_id, current, staged.events, staged.expected_version)
        for message_id in self._inbox_ids:
            if message_id in state.inbox:
                raise AlreadyProcessed(message_id)
        for row in self._outbox_rows:
            if row.seq in state.outbox:  # another process committed this seq since we took it
                raise ConcurrencyConflict(row.aggregate_id, row.aggregate_version - 1)
        record: dict[str, Any] = {}
        if state.mode == "state":
            record["orders"] = [s.snapshot for s in self._orders.values()]
        else:
            record["events"] = numbered(state, [e for s in self._orders.values() for e in s.events])
            record["order_snapshots"] = [
                s.snapshot for s in self._orders.values()
                if snapshot_due(s.expected_version, int(s.snapshot["version"]), self._snapshot_every)
            ]
        if self._outbox_rows:
            record["outbox"] = [r.to_json() for r in self._outbox_rows]
            record["outbox_seq"] = max(r.seq for r in self._outbox_rows)
        if self._summaries:
            record["summaries"] = [s.to_json() for s, _ in self._summaries.values()]
            record["position"] = max(p for _, p in self._summaries.values())
        if self._inbox_ids:
            record["inbox"] = list(self._inbox_ids)
        return record

    def _rollback(self) -> None:
        self._discard()

    def _discard(self) -> None:
        self._orders, self._outbox_rows, self._summaries, self._inbox_ids = {}, [], {}, []


def _inbox_has(store: FileStore, message_id: str) -> bool:
    return store.read(lambda state: message_id in state.inbox)
