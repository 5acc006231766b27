"""The append rule of the EventStore port, shared by every store so all enforce the same thing."""

from __future__ import annotations

from collections.abc import Sequence

from core.kernel.errors import ConcurrencyConflict
from core.kernel.messages import DomainEvent


def check_append(stream_id: str, current: int | None, events: Sequence[DomainEvent], expected_version: int) -> None:
    """Refuse an append unless the stream is at `expected_version` (optimistic concurrency:
    ConcurrencyConflict) and the new events belong to it and follow on without gaps (ValueError:
    that is a bug in the caller, not a race)."""
    if (current or 0) != expected_version:
        raise ConcurrencyConflict(stream_id, expected_version, current)
    for offset, event in enumerate(events, start=1):
        if event.aggregate_id != stream_id or event.aggregate_version != expected_version + offset:
            raise ValueError(f"{stream_id}: event {event.type} of {event.aggregate_id} has version "
                             f"{event.aggregate_version}, expected {expected_version + offset}")
