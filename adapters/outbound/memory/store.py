"""One in-memory store for any context's aggregates, outbox, views, inbox, event streams and sagas.

A unit of work hands its changes to `MemoryCommitter.write`, which checks versions and applies
them under the store's lock: the same atomicity and conflict behaviour as a database.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from adapters.outbound.indexes import PendingRows, ViewDocuments
from core.kernel.aggregate import Aggregate, AggregateCodec, Staged, snapshot_due
from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.kernel.messages import DomainEvent
from core.kernel.streams import check_append
from core.kernel.views import Page, View, decode_cursor, page_of
from core.runtime.saga_tables import SagaTables
from ports.sagas import HistoryRow, SagaChanges, SagaRecord, Timer
from ports.storage import OutboxRow, ParkedRow

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


class MemoryStore:
    def __init__(self, mode: str = "state", snapshot_every: int = 50) -> None:
        self.mode = mode
        self.snapshot_every = snapshot_every
        self.lock = threading.RLock()
        # (aggregate type, id) -> the aggregate's state (state mode) or latest snapshot (events mode)
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions: dict[tuple[str, str], int] = {}
        self.keys: dict[tuple[str, str], str] = {}
        # Every retained row in seq order (rows are only ever added with a higher seq), and the
        # unpublished ones apart, so a claim does not walk the published ones.
        self.outbox: dict[int, OutboxRecord] = {}
        self.pending = PendingRows()
        self.outbox_seq = itertools.count(1)
        # seq -> (reason, parked at): rows the broker refused for good
        self.parked: dict[int, tuple[str, datetime]] = {}
        self.documents: dict[str, ViewDocuments[Any]] = {}
        self.position = 0
        self.inbox: set[str] = set()
        self.streams: dict[str, list[DomainEvent]] = {}
        self.all_events: list[StoredEvent] = []
        self.sagas = SagaTables()


class MemoryCommitter:
    """The Committer port over a MemoryStore."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def load(self, codec: AggregateCodec[A], aggregate_id: str) -> A | None:
        store = self._store
        with store.lock:
            state = store.states.get((codec.name, aggregate_id))
            if store.mode == "events":
                stream = list(store.streams.get(aggregate_id, ()))
                return codec.rebuild(state, lambda version: [e for e in stream if e.aggregate_version >= version])
        return codec.from_state(state) if state is not None else None

    def load_by_key(self, codec: AggregateCodec[A], key: str) -> A | None:
        with self._store.lock:
            aggregate_id = self._store.keys.get((codec.name, key))
        return self.load(codec, aggregate_id) if aggregate_id is not None else None

    def document(self, view: View[T], key: str) -> T | None:
        with self._store.lock:
            found = self._store.documents.get(view.name)
            return found.get(key) if found is not None else None

    def seen(self, message_id: str) -> bool:
        with self._store.lock:
            return message_id in self._store.inbox

    def saga(self, saga_id: str) -> SagaRecord | None:
        with self._store.lock:
            return self._store.sagas.sagas.get(saga_id)

    def write(self, changes: Sequence[Staged], records: Sequence[OutboxRecord],
              documents: Sequence[tuple[View[Any], Any]], inbox_ids: Sequence[str], *,
              sagas: SagaChanges | None = None) -> list[int]:
        store = self._store
        with store.lock:
            for staged in changes:
                aggregate = staged.aggregate
                ident = (staged.codec.name, aggregate.id)
                version = store.versions.get(ident, 0)
                key = aggregate.idempotency_key
                taken = staged.expected_version == 0 and key is not None and (staged.codec.name, key) in store.keys
                if taken or version != staged.expected_version:
                    raise ConcurrencyConflict(aggregate.id, staged.expected_version, version)
                if store.mode == "events":
                    check_append(aggregate.id, len(store.streams.get(aggregate.id, ())), aggregate.pending_events,
                                 staged.expected_version)
            for message_id in inbox_ids:
                if message_id in store.inbox:
                    raise AlreadyProcessed(message_id)
            store.sagas.check(sagas)
            events = MemoryEventStore(store)
            for staged in changes:
                aggregate, codec = staged.aggregate, staged.codec
                ident = (codec.name, aggregate.id)
                if store.mode == "events":
                    events.append(aggregate.id, aggregate.pending_events, staged.expected_version)
                    if snapshot_due(staged.expected_version, aggregate.version, store.snapshot_every):
                        store.states[ident] = codec.to_state(aggregate)
                else:
                    store.states[ident] = codec.to_state(aggregate)
                store.versions[ident] = aggregate.version
                if aggregate.idempotency_key is not None:
                    store.keys[(codec.name, aggregate.idempotency_key)] = aggregate.id
            seqs = []
            for record in records:
                seq = next(store.outbox_seq)
                row = store.outbox[seq] = dataclasses.replace(record, seq=seq)
                if row.published_at is None:
                    store.pending.add(row)
                seqs.append(seq)
            for view, document in documents:
                _put(store, view, document)
            if seqs:
                store.position = max(store.position, seqs[-1])
            store.inbox.update(inbox_ids)
            store.sagas.apply(sagas)
        return seqs


def _put(store: MemoryStore, view: View[T], document: T) -> None:
    documents = store.documents.get(view.name)
    if documents is None:
        documents = store.documents[view.name] = ViewDocuments()
    documents.put(view.key(document), view.sort(document), view.tags(document), document)


class MemoryReadModel:
    """The ReadModel port over a MemoryStore (committed data only)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def put(self, view: View[T], document: T, position: int) -> None:
        with self._store.lock:
            _put(self._store, view, document)
            self._store.position = max(self._store.position, position)

    def get(self, view: View[T], key: str) -> T | None:
        with self._store.lock:
            found = self._store.documents.get(view.name)
            return found.get(key) if found is not None else None

    def list(self, view: View[T], where: tuple[str | None, ...] = (), cursor: str | None = None,
             limit: int = 50) -> Page[T]:
        after = decode_cursor(cursor) if cursor else None
        with self._store.lock:
            documents = self._store.documents.get(view.name)
            rows = documents.page(where, after, limit + 1) if documents is not None else []
        return page_of(rows, view, limit)

    def position(self) -> int:
        with self._store.lock:
            return self._store.position

    def clear(self, view: View[Any]) -> None:
        with self._store.lock:
            self._store.documents.pop(view.name, None)


class MemoryOutbox:
    """The Outbox port (relay side) over a MemoryStore."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def claim(self, limit: int, after: int = 0) -> list[OutboxRecord]:
        with self._store.lock:
            return self._store.pending.claim(self._store.parked, limit, after)

    def claim_rows(self, limit: int, after: int = 0) -> list[OutboxRow]:
        return [OutboxRow.of(record) for record in self.claim(limit, after)]

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        store = self._store
        with store.lock:
            for seq in seqs:
                record = store.outbox.get(seq)
                if record is not None and record.published_at is None:
                    store.outbox[seq] = dataclasses.replace(record, published_at=at)
                    store.pending.discard(seq)

    def pending_count(self) -> int:
        with self._store.lock:
            return self._store.pending.waiting(self._store.parked)

    def oldest_pending_at(self) -> datetime | None:
        with self._store.lock:
            oldest = self._store.pending.oldest(self._store.parked)
        return oldest.created_at if oldest is not None else None

    def purge_published(self, before: datetime) -> int:
        with self._store.lock:
            old = [s for s, r in self._store.outbox.items() if r.published_at is not None and r.published_at < before]
            for seq in old:
                del self._store.outbox[seq]
            return len(old)

    def recent(self, limit: int) -> list[OutboxRecord]:
        with self._store.lock:
            return list(itertools.islice(reversed(self._store.outbox.values()), max(limit, 0)))

    def history(self, aggregate_id: str) -> list[OutboxRecord]:
        with self._store.lock:
            rows = [r for r in self._store.outbox.values() if r.aggregate_id == aggregate_id]
        return sorted(rows, key=lambda r: r.aggregate_version)

    def park(self, seq: int, reason: str, at: datetime) -> bool:
        with self._store.lock:
            record = self._store.outbox.get(seq)
            if record is None or record.published_at is not None or seq in self._store.parked:
                return False
            self._store.parked[seq] = (reason, at)
            return True

    def parked(self) -> list[ParkedRow]:
        with self._store.lock:
            return [ParkedRow(record=self._store.outbox[seq], reason=reason, parked_at=at)
                    for seq, (reason, at) in sorted(self._store.parked.items())]

    def retry(self, seq: int) -> bool:
        with self._store.lock:
            return self._store.parked.pop(seq, None) is not None

    def drop(self, seq: int) -> OutboxRecord | None:
        with self._store.lock:
            if self._store.parked.pop(seq, None) is None:
                return None
            self._store.pending.discard(seq)
            return self._store.outbox.pop(seq)

    def requeue_published(self) -> int:
        with self._store.lock:
            published = [r for r in self._store.outbox.values() if r.published_at is not None]
            for record in published:
                row = self._store.outbox[record.seq] = dataclasses.replace(record, published_at=None)
                self._store.pending.add(row)
            return len(published)

    def relay_lock(self) -> str | None:
        """None: a memory store lives in one process, so no other relay can reach it."""
        return None


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


class MemorySagaStore:
    """The SagaStore port over a MemoryStore (committed sagas only)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def get(self, saga_id: str) -> SagaRecord | None:
        with self._store.lock:
            return self._store.sagas.sagas.get(saga_id)

    def list(self, state: str | None = None, after: str | None = None, limit: int = 100) -> list[SagaRecord]:
        with self._store.lock:
            return self._store.sagas.list(state, after, limit)

    def history(self, saga_id: str) -> list[HistoryRow]:
        with self._store.lock:
            return list(self._store.sagas.history.get(saga_id, ()))

    def counts(self) -> dict[str, int]:
        with self._store.lock:
            return self._store.sagas.counts()


class MemoryTimerStore:
    """The TimerStore port over a MemoryStore: claims are leases kept under the store's lock."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[Timer]:
        with self._store.lock:
            return self._store.sagas.claim_due(now, limit, lease_seconds)

    def pending(self, saga_id: str) -> list[Timer]:
        with self._store.lock:
            return self._store.sagas.pending(saga_id)

    def next_due(self) -> datetime | None:
        with self._store.lock:
            return self._store.sagas.next_due()
