"""The retry budget: retries may add at most `ratio` extra requests over a sliding window,
plus a small floor so a quiet gateway can still retry (Linkerd's and Finagle's model).

Without it, retries multiply load exactly when an upstream is failing: three attempts per
request triple the traffic to a service that is already down. Pure; time comes from the
injected monotonic clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.kernel.errors import ValidationError


@dataclass(frozen=True)
class BudgetSettings:
    ratio: float = 0.2
    window_seconds: float = 10.0
    min_per_second: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.ratio <= 1:
            raise ValidationError("gateway.retry_budget_percent", f"{self.ratio * 100:g}: must be 0 to 100")
        if self.window_seconds <= 0 or self.min_per_second < 0:
            raise ValidationError("gateway.retry_budget_window_s", "the window must be positive, the floor >= 0")


class RetryBudget:
    def __init__(self, monotonic: Callable[[], float], settings: BudgetSettings | None = None) -> None:
        self._monotonic = monotonic
        self.settings = settings or BudgetSettings()
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def request(self) -> None:
        """Count one original request (not a retry)."""
        now = self._monotonic()
        self._requests.append(now)
        self._expire(now)

    def try_retry(self) -> bool:
        """Take one retry from the budget: True if there was one left (it is spent)."""
        now = self._monotonic()
        self._expire(now)
        if len(self._retries) + 1 > self.allowed():
            return False
        self._retries.append(now)
        return True

    def allowed(self) -> float:
        s = self.settings
        return s.ratio * len(self._requests) + s.min_per_second * s.window_seconds

    def _expire(self, now: float) -> None:
        horizon = now - self.settings.window_seconds
        for stamps in (self._requests, self._retries):
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
