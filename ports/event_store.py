from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.envelope import StoredEvent
from core.messages import DomainEvent


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
