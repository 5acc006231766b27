"""The retry budget lets retries add at most the configured share of requests (plus a small
floor) over its window, and forgets what left the window; passive ejection takes an instance
out after failures in a row and lets it back after the ejection time, for longer if it fails
again."""

from __future__ import annotations

from adapters.inbound.gateway.ejection import Ejector
from adapters.inbound.gateway.retry_budget import BudgetSettings, RetryBudget


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_retries_are_capped_at_the_ratio_of_requests() -> None:
    clock = Clock()
    budget = RetryBudget(clock, BudgetSettings(ratio=0.2, window_seconds=10, min_per_second=0))
    for _ in range(100):
        budget.request()
    granted = sum(budget.try_retry() for _ in range(100))
    assert granted == 20


def test_the_floor_lets_a_quiet_gateway_retry() -> None:
    budget = RetryBudget(Clock(), BudgetSettings(ratio=0.2, window_seconds=10, min_per_second=0.3))
    budget.request()
    assert [budget.try_retry() for _ in range(4)] == [True, True, True, False]


def test_spent_retries_return_once_they_leave_the_window() -> None:
    clock = Clock()
    budget = RetryBudget(clock, BudgetSettings(ratio=0.5, window_seconds=10, min_per_second=0))
    for _ in range(4):
        budget.request()
    assert [budget.try_retry() for _ in range(3)] == [True, True, False]
    clock.t += 10.5  # the requests and the retries all left the window
    for _ in range(2):
        budget.request()
    assert [budget.try_retry() for _ in range(2)] == [True, False]


def test_an_instance_is_ejected_after_failures_in_a_row_only() -> None:
    clock = Clock()
    ejector = Ejector(clock, consecutive=3, eject_seconds=10)
    assert not ejector.failure("p/a", "HTTP 503")
    assert not ejector.failure("p/a", "HTTP 503")
    ejector.success("p/a")  # the streak is broken
    assert not ejector.failure("p/a", "HTTP 503")
    assert not ejector.failure("p/a", "HTTP 503")
    assert ejector.failure("p/a", "connection refused")
    assert ejector.ejected("p/a")
    assert "connection refused" in ejector.reason("p/a")


def test_an_ejected_instance_returns_after_the_time_and_stays_out_longer_if_it_fails_again() -> None:
    clock = Clock()
    ejector = Ejector(clock, consecutive=1, eject_seconds=10)
    ejector.failure("p/a", "HTTP 500")
    clock.t += 10.1
    assert not ejector.ejected("p/a")
    ejector.failure("p/a", "HTTP 500")
    clock.t += 10.1
    assert ejector.ejected("p/a")  # second ejection: 20 s
    clock.t += 10
    assert not ejector.ejected("p/a")
