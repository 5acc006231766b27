"""The storage ports over a FileStore that read committed data and write outside units of work:
read model, outbox, event store. Every write is one journal line (see store.py)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from adapters.outbound.file.state import FileState
from adapters.outbound.file.store import FileStore
from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.messages import DomainEvent
from core.kernel.streams import check_append
from core.kernel.views import Page, View, decode_cursor, page_of
from ports.storage import OutboxRow, ParkedRow

T = TypeVar("T")


def document_entry(view: View[T], document: T) -> dict[str, Any]:
    """A document as a journal record keeps it: its JSON with the key, sort text and tags its view
    gives it, so the store can list and filter it without knowing its type."""
    return {"view": view.name, "key": view.key(document), "sort": view.sort(document),
            "tags": list(view.tags(document)), "doc": view.to_json(document)}


def stored_document(state: FileState, view_name: str, key: str) -> dict[str, Any] | None:
    """A document's JSON as the store keeps it, or None."""
    documents = state.documents.get(view_name)
    return documents.get(key) if documents is not None else None


def numbered(state: FileState, events: Sequence[DomainEvent]) -> list[dict[str, Any]]:
    """Events with the global positions they take next, as journal JSON."""
    start = len(state.all_events)
    return [{"position": start + i, "event": e.to_dict()} for i, e in enumerate(events, start=1)]


class FileReadModel:
    """The ReadModel port over a FileStore."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def put(self, view: View[T], document: T, position: int) -> None:
        entry = document_entry(view, document)
        self._store.write(lambda state: {"documents": [entry], "position": position})

    def get(self, view: View[T], key: str) -> T | None:
        found = self._store.read(lambda state: stored_document(state, view.name, key))
        return view.from_json(found) if found is not None else None

    def list(self, view: View[T], where: tuple[str | None, ...] = (), cursor: str | None = None,
             limit: int = 50) -> Page[T]:
        after = decode_cursor(cursor) if cursor else None

        def matching(state: FileState) -> list[dict[str, Any]]:
            documents = state.documents.get(view.name)
            return documents.page(where, after, limit + 1) if documents is not None else []

        # Only the rows of the page (and the one that says there is more) are decoded.
        return page_of([view.from_json(doc) for doc in self._store.read(matching)], view, limit)

    def position(self) -> int:
        return self._store.read(lambda state: state.position)

    def clear(self, view: View[Any]) -> None:
        self._store.write(lambda state: {"clear": [view.name]} if view.name in state.documents else None)


class FileOutbox:
    """The Outbox port (relay side) over a FileStore."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def claim(self, limit: int, after: int = 0) -> list[OutboxRecord]:
        return self._store.read(lambda state: state.pending.claim(state.parked, limit, after))

    def claim_rows(self, limit: int, after: int = 0) -> list[OutboxRow]:
        return [OutboxRow.of(record) for record in self.claim(limit, after)]

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        def build(state: FileState) -> dict[str, Any] | None:
            fresh = sorted({s for s in seqs if s in state.pending})
            return {"published": {"seqs": fresh, "at": at.isoformat()}} if fresh else None

        self._store.write(build)

    def pending_count(self) -> int:
        return self._store.read(lambda state: state.pending.waiting(state.parked))

    def oldest_pending_at(self) -> datetime | None:
        oldest = self._store.read(lambda state: state.pending.oldest(state.parked))
        return oldest.created_at if oldest is not None else None

    def purge_published(self, before: datetime) -> int:
        purged: list[int] = []

        def build(state: FileState) -> dict[str, Any] | None:
            purged[:] = sorted(s for s, r in state.outbox.items()
                               if r.published_at is not None and r.published_at < before)
            return {"purged": purged} if purged else None

        self._store.write(build)
        return len(purged)

    def recent(self, limit: int) -> list[OutboxRecord]:
        return self._store.read(lambda state: list(itertools.islice(reversed(state.outbox.values()), max(limit, 0))))

    def history(self, aggregate_id: str) -> list[OutboxRecord]:
        rows = self._store.read(lambda state: [r for r in state.outbox.values() if r.aggregate_id == aggregate_id])
        return sorted(rows, key=lambda r: r.aggregate_version)

    def park(self, seq: int, reason: str, at: datetime) -> bool:
        done: list[bool] = []

        def build(state: FileState) -> dict[str, Any] | None:
            if seq not in state.pending or seq in state.parked:
                return None
            done.append(True)
            return {"parked": [{"seq": seq, "reason": reason, "at": at.isoformat()}]}

        self._store.write(build)
        return bool(done)

    def parked(self) -> list[ParkedRow]:
        return self._store.read(lambda state: [
            ParkedRow(record=state.outbox[seq], reason=reason, parked_at=at)
            for seq, (reason, at) in sorted(state.parked.items())])

    def retry(self, seq: int) -> bool:
        done: list[bool] = []

        def build(state: FileState) -> dict[str, Any] | None:
            if seq not in state.parked:
                return None
            done.append(True)
            return {"unparked": [seq]}

        self._store.write(build)
        return bool(done)

    def drop(self, seq: int) -> OutboxRecord | None:
        dropped: list[OutboxRecord] = []

        def build(state: FileState) -> dict[str, Any] | None:
            if seq not in state.parked:
                return None
            dropped.append(state.outbox[seq])
            return {"purged": [seq]}

        self._store.write(build)
        return dropped[0] if dropped else None

    def requeue_published(self) -> int:
        requeued: list[int] = []

        def build(state: FileState) -> dict[str, Any] | None:
            requeued[:] = sorted(s for s, r in state.outbox.items() if r.published_at is not None)
            return {"requeued": requeued} if requeued else None

        self._store.write(build)
        return len(requeued)

    def relay_lock(self) -> str | None:
        """In the store's directory: every process on this directory sees the one relay's lock."""
        return str(self._store.directory / "relay.lock")


class FileEventStore:
    """The EventStore port over a FileStore."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def append(self, stream_id: str, events: Sequence[DomainEvent], expected_version: int) -> None:
        def build(state: FileState) -> dict[str, Any] | None:
            check_append(stream_id, state.stream_version(stream_id), events, expected_version)
            return {"events": numbered(state, events)} if events else None

        self._store.write(build)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[DomainEvent]:
        return self._store.read(
            lambda state: [e for e in state.streams.get(stream_id, []) if e.aggregate_version >= from_version]
        )

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        # Positions are gap-free from 1, so position p sits at index p - 1.
        return self._store.read(lambda state: state.all_events[max(after_position, 0):max(after_position, 0) + limit])

