from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from core.messages import DomainEvent
from ports.inbox import Inbox
from ports.repository import OrderRepository


class UnitOfWork(Protocol):
    """One atomic change. Use as `with uow: ...; uow.commit()`.

    Contract:
    - Leaving the block without `commit()` (or with an exception) leaves no trace at all.
    - `commit()` stores every changed order, one outbox row per new domain event, their
      read-model summaries and (when `message_id` is set) the inbox entry, in ONE transaction.
      A stale order raises ConcurrencyConflict, a seen message AlreadyProcessed; then nothing
      is stored.
    - `collect_new_events()` hands over, once, the events of committed changes, in order.
    """

    orders: OrderRepository
    inbox: Inbox
    message_id: str | None

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def collect_new_events(self) -> list[DomainEvent]: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
