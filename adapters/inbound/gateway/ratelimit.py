"""Per-client rate limits with the `limits` library (memory storage), and the IETF RateLimit
headers (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`) plus
`Retry-After` on a refusal.

A hit costs 6-8 µs on memory storage here (FIELD-NOTES), so the synchronous strategy runs on the
event loop without a thread hop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse, storage, strategies

from core.kernel.errors import ValidationError

STRATEGIES = {"sliding-window": strategies.SlidingWindowCounterRateLimiter,
              "moving-window": strategies.MovingWindowRateLimiter}
POLICY = "default"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        out = {"RateLimit-Policy": f'"{POLICY}";q={self.limit};w={self.window_seconds}',
               "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset_seconds}'}
        if not self.allowed:
            out["Retry-After"] = str(max(1, self.reset_seconds))
        return out


class RateLimiter:
    """`rate` like "100/second" or "600 per minute" applies to each client separately."""

    def __init__(self, rate: str, strategy: str = "sliding-window", wall: Callable[[], float] = time.time) -> None:
        try:
            self.item: RateLimitItem = parse(rate)
        except ValueError as exc:
            raise ValidationError("gateway.rate_limit", f"{rate!r}: expected like 100/second or 600 per minute "
                                                        f"({exc})") from exc
        if strategy not in STRATEGIES:
            raise ValidationError("gateway.rate_limit_strategy",
                                  f"{strategy!r}: expected one of {', '.join(STRATEGIES)}")
        self._limiter = STRATEGIES[strategy](storage.MemoryStorage())
        self._wall = wall
        self.rate = rate

    def hit(self, client: str) -> Verdict:
        allowed = self._limiter.hit(self.item, client)
        stats = self._limiter.get_window_stats(self.item, client)
        reset = max(0, math.ceil(stats.reset_time - self._wall()))
        return Verdict(allowed, self.item.amount, max(0, stats.remaining), reset, self.item.get_expiry())
