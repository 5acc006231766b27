"""Virtual time and a ready-made breaker for the circuit-breaker tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.outbound.memory.feed import RingBufferFeed
from core.runtime.breaker import BreakerConfig, CircuitBreaker

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class VirtualClock:
    """Monotonic seconds and the matching wall time, moved only by advance()."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds - 1000.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


class ServiceError(Exception):
    """A 5xx: counts against the service."""


def make_breaker(clock: VirtualClock, feed: RingBufferFeed | None = None, **config: Any) -> CircuitBreaker:
    settings = {"window_size": 10, "minimum_calls": 4, "failure_rate_threshold": 0.5, "slow_call_duration": 1.0,
                "wait_in_open": 5.0, "wait_multiplier": 2.0, "max_wait_in_open": 30.0, "probe_timeout": 3.0}
    return CircuitBreaker("payments", BreakerConfig(**{**settings, **config}), monotonic=clock.monotonic,
                          now=clock.now, feed=feed)


def succeed(breaker: CircuitBreaker, clock: VirtualClock, took: float = 0.0) -> None:
    permit = breaker.acquire()
    clock.advance(took)
    permit.success()


def fail(breaker: CircuitBreaker, clock: VirtualClock, took: float = 0.0) -> None:
    permit = breaker.acquire()
    clock.advance(took)
    permit.failure(ServiceError("503 from payments"))
