from __future__ import annotations

import threading
from datetime import UTC, datetime


class SystemClock:
    """UTC wall-clock time that never goes backwards, even if the system clock is stepped back."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        current = datetime.now(UTC)
        with self._lock:
            self._last = max(self._last, current)
            return self._last
