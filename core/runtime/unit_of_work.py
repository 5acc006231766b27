"""The unit-of-work template: what every store does at commit, written once.

A store implements the Committer port (committed reads, one atomic write); this template tracks
the aggregates a handler touched, and at commit stages one outbox row per new event (plus the
messages the handler sent), the context's views projected from those events and the inbox
entry, and hands all of it to the store in ONE write. Events reach the bus only after commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from core.kernel.aggregate import Aggregate, AggregateCodec, Staged
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.kernel.messages import DomainEvent
from core.kernel.views import View
from core.runtime.context import Projector
from ports.sagas import SagaChanges, SagaRecord, Timer
from ports.storage import Committer

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


class TrackingRepository(Generic[A]):
    """The Repository port for one aggregate type: remembers every aggregate handed out or
    added, so commit finds their new events without the handler having to list them."""

    def __init__(self, committer: Committer, codec: AggregateCodec[A],
                 seen: dict[tuple[str, str], Staged]) -> None:
        self._committer = committer
        self._codec = codec
        self._seen = seen

    def get(self, aggregate_id: str) -> A | None:
        staged = self._seen.get((self._codec.name, aggregate_id))
        if staged is not None:
            found: A = staged.aggregate  # type: ignore[assignment]
            return found
        return self._track(self._committer.load(self._codec, aggregate_id))

    def get_by_idempotency_key(self, key: str) -> A | None:
        return self._track(self._committer.load_by_key(self._codec, key))

    def add(self, aggregate: A) -> None:
        self._seen[(self._codec.name, aggregate.id)] = Staged(aggregate, self._codec)

    def _track(self, aggregate: A | None) -> A | None:
        if aggregate is None:
            return None
        staged = self._seen.setdefault((self._codec.name, aggregate.id), Staged(aggregate, self._codec))
        tracked: A = staged.aggregate  # type: ignore[assignment]
        return tracked


class StagedViews:
    """The ViewWriter port inside one unit of work: documents wait here until commit; reads see
    what this unit staged, else what is committed."""

    def __init__(self, committer: Committer) -> None:
        self._committer = committer
        self.staged: dict[tuple[str, str], tuple[View[Any], Any]] = {}

    def get(self, view: View[T], key: str) -> T | None:
        staged = self.staged.get((view.name, key))
        if staged is not None:
            document: T = staged[1]
            return document
        return self._committer.document(view, key)

    def put(self, view: View[T], document: T) -> None:
        self.staged[(view.name, view.key(document))] = (view, document)


class StagedInbox:
    """The Inbox port inside one unit of work: ids wait until commit; a repeat of a committed or
    staged id is refused at once (the store checks again when it writes)."""

    def __init__(self, committer: Committer) -> None:
        self._committer = committer
        self.staged: list[str] = []

    def add(self, message_id: str) -> None:
        if message_id in self.staged or self._committer.seen(message_id):
            raise AlreadyProcessed(message_id)
        self.staged.append(message_id)

    def contains(self, message_id: str) -> bool:
        return self._committer.seen(message_id)


class StagedSagas:
    """The SagaWriter port inside one unit of work: saves, history rows and timers wait here until
    commit, when the store checks each save's expected version in the same write as the rest."""

    def __init__(self, committer: Committer) -> None:
        self._committer = committer
        # saga id -> (record as it will be stored, the version the store must still hold)
        self._saves: dict[str, tuple[SagaRecord, int]] = {}
        self._history: list[tuple[str, dict[str, Any]]] = []
        # timer name -> the timer to schedule, or None to cancel it: the last call wins
        self._timers: dict[tuple[str, str, int], Timer | None] = {}

    def get(self, saga_id: str) -> SagaRecord | None:
        staged = self._saves.get(saga_id)
        if staged is not None:
            return staged[0]
        return self._committer.saga(saga_id)

    def save(self, record: SagaRecord) -> None:
        expected = record.version
        staged = self._saves.get(record.saga_id)
        if staged is not None:
            # A second save in one unit builds on the first (or on the same committed version):
            # the unit still moves the saga one version on, from what it read.
            expected = staged[1]
            if record.version not in (expected, expected + 1):
                raise ConcurrencyConflict(record.saga_id, record.version, staged[0].version)
        self._saves[record.saga_id] = (dataclasses.replace(record, version=expected + 1), expected)

    def record_history(self, saga_id: str, entries: Sequence[dict[str, Any]]) -> None:
        self._history.extend((saga_id, entry) for entry in entries)

    def schedule(self, timer: Timer) -> None:
        key = (timer.saga_id, timer.step, timer.generation)
        self._timers.pop(key, None)  # re-inserted last, so timers keep the order they were scheduled in
        self._timers[key] = timer

    def cancel(self, saga_id: str, step: str, generation: int) -> None:
        key = (saga_id, step, generation)
        self._timers.pop(key, None)
        self._timers[key] = None

    def changes(self) -> SagaChanges:
        return SagaChanges(
            saves=list(self._saves.values()), history=list(self._history),
            timers=[timer for timer in self._timers.values() if timer is not None],
            cancelled=[key for key, timer in self._timers.items() if timer is None],
        )

    def clear(self) -> None:
        self._saves.clear()
        self._history.clear()
        self._timers.clear()


class UnitOfWork:
    """The UnitOfWork port over any store's Committer, for one context (its projector and the
    topic its events go to)."""

    message_id: str | None = None

    def __init__(self, committer: Committer, *, project: Projector | None, events_topic: str) -> None:
        self._committer = committer
        self._project = project
        self._events_topic = events_topic
        self._seen: dict[tuple[str, str], Staged] = {}
        self._sent: list[OutboxRecord] = []
        self._committed_events: list[DomainEvent] = []
        self.inbox = StagedInbox(committer)
        self.sagas = StagedSagas(committer)
        self._active = False
        self.committed = False

    def repository(self, codec: AggregateCodec[A]) -> TrackingRepository[A]:
        return TrackingRepository(self._committer, codec, self._seen)

    def send(self, record: OutboxRecord) -> None:
        """Stage an outgoing message (a command for another context): it is written with the commit."""
        self._sent.append(record)

    def __enter__(self) -> Self:
        self._discard()
        self._active = True
        self.committed = False
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._active:
            self.rollback()

    def commit(self) -> None:
        changed = [staged for staged in self._seen.values() if staged.aggregate.pending_events]
        try:
            records: list[OutboxRecord] = []
            views = StagedViews(self._committer)
            for staged in changed:
                for event in staged.aggregate.pending_events:
                    records.append(OutboxRecord.from_event(event, self._events_topic))
                    if self._project is not None:
                        self._project(views, event)
            records.extend(self._sent)
            inbox = list(self.inbox.staged)
            if self.message_id is not None:
                if self.message_id in inbox:
                    raise AlreadyProcessed(self.message_id)
                inbox.append(self.message_id)
            sagas = self.sagas.changes()
            # A unit that only moves a saga (a reply handled, a timer fired) commits too.
            if changed or records or inbox or views.staged or sagas:
                self._committer.write(changed, records, list(views.staged.values()), inbox,
                                      sagas=sagas if sagas else None)
        except BaseException:
            self.rollback()
            raise
        self._active = False
        self.committed = True
        for staged in changed:
            aggregate = staged.aggregate
            self._committed_events.extend(aggregate.pending_events)
            aggregate.pending_events.clear()
            aggregate.persisted_version = aggregate.version
        self._discard()

    def rollback(self) -> None:
        self._active = False
        self._discard()

    def collect_new_events(self) -> list[DomainEvent]:
        events, self._committed_events = self._committed_events, []
        return events

    def _discard(self) -> None:
        self._seen.clear()
        self._sent.clear()
        self.inbox.staged.clear()
        self.sagas.clear()
