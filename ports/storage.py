"""Storage ports: one service's database (database per service), generic over aggregates and views.

A store keeps any context's aggregates through their AggregateCodec, its outbox, inbox, event
streams and views; nothing here names a context. Each docstring is the contract that
tests/contract/ holds every adapter to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self, TypeVar

from core.kernel.aggregate import Aggregate, AggregateCodec, Staged
from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.messages import DomainEvent
from core.kernel.views import Page, View
from ports.sagas import SagaChanges, SagaRecord, SagaStore, SagaWriter, TimerStore

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


class Repository(Protocol[A]):
    """Aggregates of one type inside one unit of work. Nothing it does is visible to others before commit.

    Contract:
    - `get` returns a fresh aggregate (never one shared with another unit of work) or None.
    - `get_by_idempotency_key` finds the aggregate added with that key, or None.
    - `add` stages a new aggregate. Changed aggregates that `get` handed out are saved at commit
      without being named again.
    """

    def get(self, aggregate_id: str) -> A | None: ...

    def get_by_idempotency_key(self, key: str) -> A | None: ...

    def add(self, aggregate: A) -> None: ...


class Inbox(Protocol):
    """Ids of inbound messages whose effect is committed (idempotent consumer).

    Contract: `add(message_id)` stages the id in the current transaction and raises
    AlreadyProcessed if it was recorded before (at the latest when the transaction commits);
    `contains(message_id)` tells whether it was committed.
    """

    def add(self, message_id: str) -> None: ...

    def contains(self, message_id: str) -> bool: ...


class UnitOfWork(Protocol):
    """One atomic change. Use as `with uow: ...; uow.commit()`.

    Contract:
    - Leaving the block without `commit()` (or with an exception) leaves no trace at all.
    - `commit()` stores every changed aggregate, one outbox row per new domain event (and per
      message staged with `send`), the views the context projects from those events and (when
      `message_id` is set) the inbox entry, in ONE transaction. A stale aggregate raises
      ConcurrencyConflict, a seen message AlreadyProcessed; then nothing is stored.
    - `sagas` stages saga saves, history rows and timers (SagaWriter); they commit in the same
      transaction, and a unit that changes only sagas commits too.
    - `collect_new_events()` hands over, once, the events of committed changes, in order.
    - `committed` says whether `commit()` succeeded since the block was last entered.
    """

    inbox: Inbox
    sagas: SagaWriter
    message_id: str | None
    committed: bool

    def repository(self, codec: AggregateCodec[A]) -> Repository[A]: ...

    def send(self, record: OutboxRecord) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def collect_new_events(self) -> list[DomainEvent]: ...


class Committer(Protocol):
    """What a store gives the unit-of-work template: committed reads, and one atomic write.

    Contract:
    - `load(codec, id)` / `load_by_key(codec, key)` read committed data: a fresh aggregate
      (never one shared with another caller) or None.
    - `document(view, key)` reads a committed document; `seen(message_id)` tells whether the
      inbox holds the id; `saga(saga_id)` reads a committed saga record, or None.
    - `write(changes, records, documents, inbox_ids)` stores one unit of work atomically: each
      staged aggregate only if its stored version is its `expected_version` (0: neither it nor
      its idempotency key may exist yet), else ConcurrencyConflict; each message id only if new,
      else AlreadyProcessed; outbox records get increasing `seq`s in the order given, returned;
      documents replace those with the same view and key, and the views' position rises to the
      highest seq written. `sagas` (keyword) are the unit's saga saves, history rows and timers
      (see SagaChanges): a stale expected saga version raises ConcurrencyConflict. Nothing at
      all is stored when it raises.
    """

    def load(self, codec: AggregateCodec[A], aggregate_id: str) -> A | None: ...

    def load_by_key(self, codec: AggregateCodec[A], key: str) -> A | None: ...

    def document(self, view: View[T], key: str) -> T | None: ...

    def seen(self, message_id: str) -> bool: ...

    def saga(self, saga_id: str) -> SagaRecord | None: ...

    def write(self, changes: Sequence[Staged], records: Sequence[OutboxRecord],
              documents: Sequence[tuple[View[Any], Any]], inbox_ids: Sequence[str], *,
              sagas: SagaChanges | None = None) -> list[int]: ...


class ViewWriter(Protocol):
    """Views as a unit of work writes them: `put` stages a document in the transaction, `get`
    sees what this transaction staged, else what is committed."""

    def get(self, view: View[T], key: str) -> T | None: ...

    def put(self, view: View[T], document: T) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ParkedRow:
    """An outbox row the broker refused for good (too large, invalid), set aside with the reason
    until an operator retries or drops it."""

    record: OutboxRecord
    reason: str
    parked_at: datetime


class OutboxRow(NamedTuple):
    """An outbox row as the relay publishes it: only what goes on the wire and what it reports,
    as cheap to make as a tuple (a claim makes one per row). `topic` is "" for the default."""

    seq: int
    event_id: str
    aggregate_id: str
    aggregate_version: int
    type: str
    payload: str
    topic: str

    @classmethod
    def of(cls, record: OutboxRecord) -> OutboxRow:
        return cls(record.seq, record.event_id, record.aggregate_id, record.aggregate_version, record.type,
                   record.payload, record.topic)


class Outbox(Protocol):
    """The outbox as the relay reads it.

    Contract:
    - `claim(limit)` returns up to `limit` unpublished, unparked rows in ascending `seq`; rows of
      one aggregate come in version order, and none that comes after a parked row of its
      aggregate (they wait behind it). A row stays claimable until `mark_published`.
      `claim(limit, after)` hands out only rows with a seq above `after` (the relay's rows in
      flight are at or below it), with the same rules: a parked row at or below `after` still
      holds its aggregate's later rows. `claim_rows(limit, after)` is the same claim as OutboxRows
      (the relay's hot path: no record, no timestamps).
    - `mark_published(seqs, at)` sets `published_at`; marking twice is harmless.
    - `pending_count()` counts unpublished rows that are not parked (rows waiting behind a parked
      row count: they wait); `oldest_pending_at()` is the `created_at` of the oldest of them, or None.
    - `purge_published(before)` deletes rows published before that time and returns how many.
    - `recent(limit)` returns the newest rows, published or not, newest first (for dashboards).
    - `history(aggregate_id)` returns the retained rows of one aggregate in version order.
    - `park(seq, reason, at)` sets an unpublished row aside (see above) and returns True; False
      (nothing changed) when no unpublished row has that seq or it is parked already.
      `parked()` lists the parked rows in ascending seq.
    - `retry(seq)` makes a parked row claimable again and returns True; `drop(seq)` deletes a
      parked row for good and returns it. Both do nothing (False, None) for a seq not parked.
    - `requeue_published()` makes every retained published row unpublished again (the broker lost
      them), so `claim` hands them out again in seq order; returns how many. Parked rows stay so.
    - `relay_lock()` is the path of the lock file a relay must hold to publish this outbox when
      the store cannot share it between relays (beside a SQLite file, in a file store's
      directory), or None when several relays may run (PostgreSQL) or none other can (memory).
    """

    def claim(self, limit: int, after: int = 0) -> list[OutboxRecord]: ...

    def claim_rows(self, limit: int, after: int = 0) -> list[OutboxRow]: ...

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None: ...

    def pending_count(self) -> int: ...

    def oldest_pending_at(self) -> datetime | None: ...

    def purge_published(self, before: datetime) -> int: ...

    def recent(self, limit: int) -> list[OutboxRecord]: ...

    def history(self, aggregate_id: str) -> list[OutboxRecord]: ...

    def park(self, seq: int, reason: str, at: datetime) -> bool: ...

    def parked(self) -> list[ParkedRow]: ...

    def retry(self, seq: int) -> bool: ...

    def drop(self, seq: int) -> OutboxRecord | None: ...

    def requeue_published(self) -> int: ...

    def relay_lock(self) -> str | None: ...


class ReadModel(Protocol):
    """Views for queries (the CQRS read side) and the projection's position.

    Contract:
    - `put(view, document, position)` stores the document (replacing the one with its key) and
      raises the position (the outbox sequence of the last projected event) to at least `position`.
    - `get(view, key)` returns the document or None.
    - `list(view, where, cursor, limit)` returns documents whose tags equal every non-None value
      of `where` (in the view's filter order), newest first by (sort, key); `next_cursor`
      continues after the last item and is None on the last page. Paging over an unchanged set
      sees every item once.
    - `position()` is 0 when nothing was projected; `clear(view)` removes the view's documents
      (for rebuilds; the position stays).
    """

    def put(self, view: View[T], document: T, position: int) -> None: ...

    def get(self, view: View[T], key: str) -> T | None: ...

    def list(self, view: View[T], where: tuple[str | None, ...] = (), cursor: str | None = None,
             limit: int = 50) -> Page[T]: ...

    def position(self) -> int: ...

    def clear(self, view: View[Any]) -> None: ...


class EventStore(Protocol):
    """Append-only streams of domain events, one stream per aggregate.

    Contract:
    - `append(stream_id, events, expected_version)` adds events after the stream's current
      version only if that version equals `expected_version` (0 for a new stream), else raises
      ConcurrencyConflict and stores nothing. Event versions must follow on without gaps.
    - `read_stream(stream_id, from_version=1)` returns the stream's events with version >=
      from_version, in version order; an unknown stream gives [].
    - `read_all(after_position, limit)` returns events in global order with position >
      after_position; positions increase strictly.
    """

    def append(self, stream_id: str, events: Sequence[DomainEvent], expected_version: int) -> None: ...

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[DomainEvent]: ...

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]: ...


class Storage(Protocol):
    """One service's database: the storage ports over one store.

    Contract: `committer` commits units of work into this store only; the `read_model`, `outbox`,
    `event_store`, `sagas` and `timers` see what it committed and nothing else.
    `mode` is "state" (aggregates kept as their current state) or "events" (as their event
    streams, with snapshots); it concerns aggregates only: sagas and timers are kept the same way
    in both. `aggregate_ids(codec)` lists every stored aggregate of that type; `history(aggregate_id)`
    gives its events in version order (its stream, or in state mode the retained outbox rows).
    `close()` releases connections and locks; the store may be used again afterwards (it
    reopens), and its data is still there. `describe()` names the store for people
    (a path or a URL without password). `check()` returns if the store answers, else raises
    Unavailable naming it and what to do.
    """

    mode: str
    committer: Committer
    read_model: ReadModel
    outbox: Outbox
    event_store: EventStore
    sagas: SagaStore
    timers: TimerStore

    def aggregate_ids(self, codec: AggregateCodec[Any]) -> list[str]: ...

    def history(self, aggregate_id: str) -> list[DomainEvent]: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...

    def check(self) -> None: ...
