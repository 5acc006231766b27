"""The unit-of-work template: what every store does at commit, written once.

A store implements the transaction primitives and the transaction-bound port objects; this base
guarantees that the order change, one outbox row per event, the read-model projection and the
inbox entry are staged in the same transaction, and that events reach the bus only after commit.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from core.envelope import OutboxRecord
from core.errors import AlreadyProcessed
from core.messages import DomainEvent
from core.orders.model import Order
from core.orders.projection import project
from core.orders.queries import OrderSummary

if TYPE_CHECKING:
    from ports.inbox import Inbox
    from ports.outbox import OutboxWriter
    from ports.read_model import SummaryWriter
    from ports.repository import OrderRepository


class TrackingRepository:
    """Wraps a store's repository and remembers every order handed out or added, so commit
    finds their new events without the handler having to list them."""

    def __init__(self, inner: OrderRepository, seen: dict[str, Order]) -> None:
        self._inner = inner
        self._seen = seen

    def get(self, order_id: str) -> Order | None:
        return self._track(self._seen.get(order_id) or self._inner.get(order_id))

    def get_by_idempotency_key(self, key: str) -> Order | None:
        return self._track(self._inner.get_by_idempotency_key(key))

    def add(self, order: Order) -> None:
        self._seen[order.id] = order

    def save(self, order: Order) -> None:
        self._seen[order.id] = order

    def _track(self, order: Order | None) -> Order | None:
        if order is not None:
            order = self._seen.setdefault(order.id, order)
        return order


class StagedOutbox:
    """An OutboxWriter for stores that apply a whole unit of work at commit: rows wait in `staged`.

    Sequence numbers are taken at once from `next_seq`, like a database sequence: never reused,
    with gaps where a unit of work rolled back.
    """

    def __init__(self, next_seq: Callable[[], int], staged: list[OutboxRecord]) -> None:
        self._next_seq = next_seq
        self._staged = staged

    def add(self, record: OutboxRecord) -> int:
        seq = self._next_seq()
        self._staged.append(dataclasses.replace(record, seq=seq))
        return seq


class StagedSummaries:
    """A SummaryWriter for stores that apply a whole unit of work at commit: summaries wait in
    `staged` (with their position) and reads fall through to the committed read model."""

    def __init__(self, committed: Callable[[str], OrderSummary | None],
                 staged: dict[str, tuple[OrderSummary, int]]) -> None:
        self._committed = committed
        self._staged = staged

    def put(self, summary: OrderSummary, position: int) -> None:
        self._staged[summary.order_id] = (summary, position)

    def get(self, order_id: str) -> OrderSummary | None:
        staged = self._staged.get(order_id)
        return staged[0] if staged else self._committed(order_id)


class StagedInbox:
    """An Inbox for stores that apply a whole unit of work at commit: ids wait in `staged`; a
    repeat of a committed or staged id is refused at once (the store checks again at commit)."""

    def __init__(self, committed: Callable[[str], bool], staged: list[str]) -> None:
        self._committed = committed
        self._staged = staged

    def add(self, message_id: str) -> None:
        if message_id in self._staged or self._committed(message_id):
            raise AlreadyProcessed(message_id)
        self._staged.append(message_id)

    def contains(self, message_id: str) -> bool:
        return self._committed(message_id)


class UnitOfWorkBase(ABC):
    """Implements the UnitOfWork port given a store's transaction and port objects."""

    message_id: str | None = None

    def __init__(self) -> None:
        self._seen: dict[str, Order] = {}
        self._committed_events: list[DomainEvent] = []
        self._active = False

    # the store provides these, bound to the transaction opened by _begin()
    @property
    @abstractmethod
    def _repository(self) -> OrderRepository: ...

    @property
    @abstractmethod
    def _outbox(self) -> OutboxWriter: ...

    @property
    @abstractmethod
    def _read_model(self) -> SummaryWriter: ...

    @property
    @abstractmethod
    def inbox(self) -> Inbox: ...

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @property
    def orders(self) -> TrackingRepository:
        return TrackingRepository(self._repository, self._seen)

    def __enter__(self) -> Self:
        self._seen.clear()
        self._begin()
        self._active = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._active:
            self.rollback()

    def commit(self) -> None:
        changed = [order for order in self._seen.values() if order.pending_events]
        try:
            for order in changed:
                if order.persisted_version == 0:
                    self._repository.add(order)
                else:
                    self._repository.save(order)
                for event in order.pending_events:
                    seq = self._outbox.add(OutboxRecord.from_event(event))
                    self._read_model.put(project(self._read_model.get(order.id), event), seq)
            if self.message_id is not None:
                self.inbox.add(self.message_id)
            self._commit()
        except BaseException:
            self.rollback()
            raise
        self._active = False
        for order in changed:
            self._committed_events.extend(order.pending_events)
            order.pending_events.clear()
            order.persisted_version = order.version

    def rollback(self) -> None:
        self._active = False
        self._seen.clear()
        self._rollback()

    def collect_new_events(self) -> list[DomainEvent]:
        events, self._committed_events = self._committed_events, []
        return events
