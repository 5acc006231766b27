"""The storage ports over a FileStore: read model, outbox, event store (committed data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.outbound.file.state import FileState
from adapters.outbound.file.store import FileStore
from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.streams import check_append
from core.kernel.messages import DomainEvent
from core.orders.model import OrderStatus
from core.orders.queries import OrderPage, OrderSummary, decode_cursor, encode_cursor, sort_key


class FileReadModel:
    def __init__(self, store: FileStore) -> None:
        self._store = store

    def put(self, summary: OrderSummary, position: int) -> None:
        self._store.write(lambda state: {"summaries": [summary.to_json()], "position": position})

    def get(self, order_id: str) -> OrderSummary | None:
        return self._store.read(lambda state: state.summaries.get(order_id))

    def list(
        self, *, customer_id: str | None = None, status: OrderStatus | None = None,
        cursor: str | None = None, limit: int = 50,
    ) -> OrderPage:
        after = decode_cursor(cursor) if cursor else None
        rows = self._store.read(lambda state: [
            s for s in state.summaries.values()
            if (customer_id is None or s.customer_id == customer_id) and (status is None or s.status == status)
            and (after is None or sort_key(s) < after)
        ])
        rows.sort(key=sort_key, reverse=True)
        page = tuple(rows[:limit])
        return OrderPage(items=page, next_cursor=encode_cursor(page[-1]) if len(rows) > limit else None)

    def position(self) -> int:
        return self._store.read(lambda state: state.position)

    def clear(self) -> None:
        self._store.write(lambda state: {"clear_read_model": True})


class FileOutbox:
    def __init__(self, store: FileStore) -> None:
        self._store = store

    def claim(self, limit: int) -> list[OutboxRecord]:
        return self._store.read(
            lambda state: sorted((r for r in state.outbox.values() if r.published_at is None), key=lambda r: r.seq)
        )[:limit]

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None:
        def build(state: FileState) -> dict[str, Any] | None:
            fresh = sorted({s for s in seqs if s in state.outbox and state.outbox[s].published_at is None})
            return {"published": {"seqs": fresh, "at": at.isoformat()}} if fresh else None

        self._store.write(build)

    def pending_count(self) -> int:
        return self._store.read(lambda state: sum(1 for r in state.outbox.values() if r.published_at is None))

    def oldest_pending_at(self) -> datetime | None:
        return self._store.read(
            lambda state: min((r.created_at for r in state.outbox.values() if r.published_at is None), default=None)
        )

    def purge_published(self, before: datetime) -> int:
        purged: list[int] = []

        def build(state: FileState) -> dict[str, Any] | None:
            purged[:] = sorted(s for s, r in state.outbox.items()
                               if r.published_at is not None and r.published_at < before)
            return {"purged": purged} if purged else None

        self._store.write(build)
        return len(purged)

    def recent(self, limit: int) -> list[OutboxRecord]:
        return self._store.read(lambda state: sorted(state.outbox.values(), key=lambda r: r.seq, reverse=True))[:limit]

    def history(self, aggregate_id: str) -> list[OutboxRecord]:
        rows = self._store.read(lambda state: [r for r in state.outbox.values() if r.aggregate_id == aggregate_id])
        return sorted(rows, key=lambda r: r.aggregate_version)


class FileEventStore:
    def __init__(self, store: FileStore) -> None:
        self._store = store

    def append(self, stream_id: str, events: Sequence[DomainEvent], expected_version: int) -> None:
        def build(state: FileState) -> dict[str, Any] | None:
            stream = state.streams.get(stream_id, [])
            check_append(stream_id, stream[-1].aggregate_version if stream else 0, events, expected_version)
            return {"events": numbered(state, events)} if events else None

        self._store.write(build)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[DomainEvent]:
        return self._store.read(
            lambda state: [e for e in state.streams.get(stream_id, []) if e.aggregate_version >= from_version]
        )

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        # Positions are gap-free from 1, so position p sits at index p - 1.
        return self._store.read(lambda state: state.all_events[max(after_position, 0):max(after_position, 0) + limit])


def numbered(state: FileState, events: Sequence[DomainEvent]) -> list[dict[str, Any]]:
    """Events with the global positions they take next, as journal JSON."""
    start = len(state.all_events)
    return [{"position": start + i, "event": e.to_dict()} for i, e in enumerate(events, start=1)]
