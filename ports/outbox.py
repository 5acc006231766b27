from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.envelope import OutboxRecord


class OutboxWriter(Protocol):
    """The outbox as a unit of work writes it: `add` stages a row in the current transaction
    and returns its sequence number; the row exists only if that transaction commits."""

    def add(self, record: OutboxRecord) -> int: ...


class Outbox(Protocol):
    """The outbox as the relay reads it.

    Contract:
    - `claim(limit)` returns up to `limit` unpublished rows in ascending `seq`; rows of one
      aggregate come in version order. A row stays claimable until `mark_published`.
    - `mark_published(seqs, at)` sets `published_at`; marking twice is harmless.
    - `pending_count()` counts unpublished rows; `oldest_pending_at()` is the `created_at`
      of the oldest one, or None.
    - `purge_published(before)` deletes rows published before that time and returns how many.
    - `recent(limit)` returns the newest rows, published or not, newest first (for dashboards).
    - `history(aggregate_id)` returns the retained rows of one aggregate in version order.
    """

    def claim(self, limit: int) -> list[OutboxRecord]: ...

    def mark_published(self, seqs: Sequence[int], at: datetime) -> None: ...

    def pending_count(self) -> int: ...

    def oldest_pending_at(self) -> datetime | None: ...

    def purge_published(self, before: datetime) -> int: ...

    def recent(self, limit: int) -> list[OutboxRecord]: ...

    def history(self, aggregate_id: str) -> list[OutboxRecord]: ...
