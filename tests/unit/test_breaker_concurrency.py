"""The circuit breaker under real threads and tasks: one half-open probe, leases that come back."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.runtime.breaker import BreakerState, CircuitBreaker, CircuitOpen, Permit
from tests.unit.breaker_fixtures import ServiceError, VirtualClock, fail, make_breaker

THREADS = 32


def tripped(clock: VirtualClock) -> CircuitBreaker:
    breaker = make_breaker(clock)
    for _ in range(4):
        fail(breaker, clock)
    assert breaker.snapshot().state == BreakerState.OPEN
    return breaker


def race_acquire(breaker: CircuitBreaker) -> tuple[list[Permit], int]:
    """THREADS threads call acquire() at the same moment; the permits granted and the rejections."""
    start = threading.Barrier(THREADS)

    def attempt() -> Permit | None:
        start.wait(timeout=10)
        try:
            return breaker.acquire()
        except CircuitOpen:
            return None

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: attempt(), range(THREADS)))
    permits = [r for r in results if r is not None]
    return permits, results.count(None)


def test_threads_racing_at_the_end_of_the_wait_get_exactly_one_probe() -> None:
    clock = VirtualClock()
    breaker = tripped(clock)
    for round_ in range(10):
        clock.advance(breaker.config.max_wait_in_open)  # past any wait: half-open
        permits, rejected = race_acquire(breaker)
        assert (len(permits), rejected) == (1, THREADS - 1), f"round {round_}"
        permits[0].failure(ServiceError("still down"))  # back to open, to race again
    assert breaker.snapshot().rejected == 10 * (THREADS - 1)


def test_an_expired_lease_lets_exactly_one_next_probe_through() -> None:
    clock = VirtualClock()
    breaker = tripped(clock)
    clock.advance(5)
    stuck = breaker.acquire()
    permits, _ = race_acquire(breaker)
    assert permits == []  # the lease is held
    clock.advance(breaker.config.probe_timeout)
    permits, rejected = race_acquire(breaker)
    assert (len(permits), rejected) == (1, THREADS - 1)
    permits[0].success()
    stuck.failure(ServiceError("too late to matter"))
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_concurrent_calls_are_all_counted_and_none_left_in_flight() -> None:
    clock = VirtualClock()
    breaker = make_breaker(clock, window_size=1000, minimum_calls=1000)
    per_thread = 500

    def work(worker: int) -> None:
        for number in range(per_thread):
            permit = breaker.acquire()
            if (worker + number) % 3 == 0:
                permit.failure(ServiceError("503"))
            else:
                permit.success()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    snapshot = breaker.snapshot()
    assert snapshot.successes + snapshot.failures == 8 * per_thread
    assert (snapshot.calls, snapshot.in_flight) == (1000, 0)


def test_cancelling_the_task_awaiting_a_probe_releases_the_lease() -> None:
    clock = VirtualClock()
    breaker = tripped(clock)
    clock.advance(5)

    async def scenario() -> None:
        started = asyncio.Event()

        async def slow_service() -> str:
            started.set()
            await asyncio.Event().wait()  # never answers
            return "never"

        task = asyncio.create_task(breaker.acall(slow_service))
        await asyncio.wait_for(started.wait(), timeout=5)
        with pytest.raises(CircuitOpen, match="a probe call is in flight"):
            breaker.acquire()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async def healthy() -> str:
            return "ok"

        assert await breaker.acall(healthy) == "ok"  # the next caller got the lease

    asyncio.run(scenario())
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_acall_uses_an_async_fallback_when_rejected() -> None:
    clock = VirtualClock()
    breaker = tripped(clock)

    async def service() -> str:
        return "live"

    async def cached(error: BaseException) -> str:
        return f"cached ({type(error).__name__})"

    assert asyncio.run(breaker.acall(service, fallback=cached)) == "cached (CircuitOpen)"
