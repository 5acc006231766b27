"""Group commit: many commands in one transaction, still through the bus.

Each command's handler runs through the bus with the batch's unit of work; it enters, stages and
"commits" as usual, but nothing is written until `flush()`: one commit for the whole batch. After
it, the batch's events go through the bus's dispatch like any command's, so event handlers run
for every command of a batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from core.kernel.aggregate import Aggregate, AggregateCodec
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import AlreadyProcessed
from core.kernel.messages import Command, DomainEvent
from core.runtime.bus import MessageBus
from ports.storage import Inbox, Repository, UnitOfWork

A = TypeVar("A", bound=Aggregate)


class BatchUnitOfWork:
    """The UnitOfWork port for many commands in one transaction.

    Handlers stage nothing before they fail (they validate first), so a command rejected by the
    domain leaves no trace in the batch. A message id seen twice, or any error while staging,
    marks the batch `tainted`: the caller must then abandon it and run the commands one by one,
    which isolates the culprit.
    """

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner
        self._ids: set[str] = set()
        self.message_id: str | None = None
        self.tainted = False
        self.committed = False
        inner.__enter__()

    def repository(self, codec: AggregateCodec[A]) -> Repository[A]:
        return self._inner.repository(codec)

    def send(self, record: OutboxRecord) -> None:
        self._inner.send(record)

    @property
    def inbox(self) -> Inbox:
        return self._inner.inbox

    def seen(self, message_id: str) -> bool:
        """Whether the message's effect is committed or already staged in this batch."""
        return message_id in self._ids or self._inner.inbox.contains(message_id)

    def __enter__(self) -> BatchUnitOfWork:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def commit(self) -> None:
        if self.message_id is None:
            return
        try:
            if self.message_id in self._ids:
                raise AlreadyProcessed(self.message_id)
            self._inner.inbox.add(self.message_id)
        except BaseException:
            self.tainted = True
            raise
        self._ids.add(self.message_id)
        self.committed = True

    def rollback(self) -> None:
        self.tainted = True

    def collect_new_events(self) -> list[DomainEvent]:
        return []

    def flush(self) -> list[DomainEvent]:
        """Commit every staged command at once; returns their events."""
        self._inner.commit()
        return self._inner.collect_new_events()

    def abandon(self) -> None:
        self._inner.rollback()


class GroupCommit:
    """Runs commands through `bus` inside one BatchUnitOfWork per batch and thread."""

    def __init__(self, bus: MessageBus, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._bus = bus
        self._unit_of_work = unit_of_work
        self._local = threading.local()

    @contextmanager
    def batch(self) -> Iterator[BatchUnitOfWork]:
        batch = BatchUnitOfWork(self._unit_of_work())
        self._local.batch = batch
        try:
            yield batch
        except BaseException:
            batch.abandon()
            raise
        finally:
            self._local.batch = None

    def send(self, command: Command, message_id: str | None = None) -> Any:
        """Run the command in the current batch (see `batch()`); its events wait for `dispatch`."""
        batch: BatchUnitOfWork | None = getattr(self._local, "batch", None)
        if batch is None:
            raise RuntimeError("a group-commit command ran outside GroupCommit.batch()")
        return self._bus.handle(command, message_id=message_id, unit_of_work=batch)

    def dispatch(self, events: list[DomainEvent]) -> None:
        """After the batch committed: its events through the bus (feed and event handlers)."""
        self._bus.dispatch(events)
