"""A circuit breaker's sliding windows: the outcomes it judges, with running totals.

An outcome is a small int: bit 0 set for a failure, bit 1 for a slow call. Both windows keep
totals as they go, so reading the rates costs the same for 10 calls as for 10,000.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

FAILED = 1
SLOW = 2


class CountWindow:
    """The last `size` outcomes."""

    __slots__ = ("calls", "failures", "outcomes", "size", "slow")

    def __init__(self, size: int, outcomes: Iterable[int] = ()) -> None:
        self.size = size
        self.outcomes: deque[int] = deque(outcomes, maxlen=size)  # keeps the newest when shrunk
        self.calls = len(self.outcomes)
        self.failures = sum(code & FAILED for code in self.outcomes)
        self.slow = sum(code >> 1 for code in self.outcomes)

    def record(self, now: float, code: int) -> None:
        outcomes = self.outcomes
        if self.calls == self.size:
            oldest = outcomes[0]  # append() below pushes it out
            self.failures -= oldest & FAILED
            self.slow -= oldest >> 1
        else:
            self.calls += 1
        outcomes.append(code)
        self.failures += code & FAILED
        self.slow += code >> 1

    def totals(self, now: float) -> tuple[int, int, int]:
        return self.calls, self.failures, self.slow

    def resized(self, size: int) -> CountWindow:
        return CountWindow(size, self.outcomes)


class TimeWindow:
    """The outcomes of the current second and the `seconds - 1` before it, in one bucket per second
    (memory bounded by the window's length, not by the call rate)."""

    __slots__ = ("buckets", "calls", "failures", "seconds", "slow")

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.buckets: deque[list[int]] = deque()  # [second, calls, failures, slow], oldest first
        self.calls = self.failures = self.slow = 0

    def _evict(self, now: float) -> None:
        oldest_kept = math.floor(now) - self.seconds + 1
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest_kept:
            _, calls, failures, slow = buckets.popleft()
            self.calls -= calls
            self.failures -= failures
            self.slow -= slow

    def record(self, now: float, code: int) -> None:
        self._evict(now)
        second = math.floor(now)
        buckets = self.buckets
        # >= rather than ==: a clock that stepped back adds to the newest bucket, keeping the order.
        if buckets and buckets[-1][0] >= second:
            bucket = buckets[-1]
        else:
            bucket = [second, 0, 0, 0]
            buckets.append(bucket)
        failed, slow = code & FAILED, code >> 1
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        self._evict(now)
        return self.calls, self.failures, self.slow

    def resized(self, seconds: int) -> TimeWindow:
        window = TimeWindow(seconds)
        window.buckets = self.buckets
        window.calls, window.failures, window.slow = self.calls, self.failures, self.slow
        return window


Window = CountWindow | TimeWindow


def new_window(kind: str, size: int) -> Window:
    return TimeWindow(int(size)) if kind == "time" else CountWindow(int(size))
