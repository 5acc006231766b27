from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the time. Contract: `now()` is timezone-aware (UTC) and never goes backwards."""

    def now(self) -> datetime: ...
