"""A clock and an id generator that give the same values on every run (tests, snapshots)."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta


class SteppingClock:
    """Starts at `start` and moves `step` forward on every call."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(seconds=1)) -> None:
        self._next = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            current, self._next = self._next, self._next + self._step
            return current


class SequentialIds:
    """`prefix-000001`, `prefix-000002`, ...: sortable and readable."""

    def __init__(self, prefix: str = "id") -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            return f"{self._prefix}-{next(self._counter):06d}"
