"""The fan-out: parts run at once, each bounded in time, every outcome reported; the last-known cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from core.kernel.errors import Unavailable
from core.runtime.fanout import Deadline, DeadlineExceeded, FanOut, LastKnown, TimedOut


def _classify(error: BaseException) -> str:
    return "timeout" if isinstance(error, TimedOut) else "error"


@pytest.fixture
def fanout() -> Iterator[FanOut]:
    pool = FanOut(monotonic=time.monotonic, classify=_classify)
    yield pool
    pool.close()


def test_parts_run_concurrently(fanout: FanOut) -> None:
    # Each part waits for all the others: only a concurrent fan-out gets past the barrier.
    barrier = threading.Barrier(4, timeout=5)
    results = fanout.run({name: lambda within, name=name: (barrier.wait(), name)[1] for name in "abcd"},
                         part_timeout=5, deadline=5)
    assert {name: r.value for name, r in results.items()} == {"a": "a", "b": "b", "c": "c", "d": "d"}
    assert all(r.status == "ok" and r.latency_ms >= 0 for r in results.values())


def test_a_stuck_part_times_out_and_the_others_still_answer(fanout: FanOut) -> None:
    release = threading.Event()
    try:
        results = fanout.run({"fast": lambda within: 1, "stuck": lambda within: release.wait(10)},
                             part_timeout=0.05, deadline=5)
    finally:
        release.set()
    assert results["fast"].status == "ok" and results["fast"].value == 1
    assert results["stuck"].status == "timeout" and results["stuck"].value is None


def test_each_part_is_given_the_smaller_of_its_timeout_and_the_deadline(fanout: FanOut) -> None:
    results = fanout.run({"p": lambda within: within}, part_timeout=3, deadline=2)
    assert results["p"].value == 2


def test_errors_are_classified_and_kept(fanout: FanOut) -> None:
    def slow(within: float) -> None:
        raise TimedOut("payments", within)

    def down(within: float) -> None:
        raise Unavailable("shipping", "connection refused")

    results = fanout.run({"slow": slow, "down": down}, part_timeout=1, deadline=1)
    assert results["slow"].status == "timeout" and "payments" in (results["slow"].error or "")
    assert results["down"].status == "error" and isinstance(results["down"].exception, Unavailable)


def test_a_deadline_refuses_once_passed() -> None:
    now = [100.0]
    deadline = Deadline(0.5, lambda: now[0])
    assert deadline.check("validation") == pytest.approx(0.5)
    now[0] += 0.5
    with pytest.raises(DeadlineExceeded, match="hop credit-check"):
        deadline.check("credit-check")


def test_last_known_values_carry_their_age_and_the_oldest_go_first() -> None:
    now = [0.0]
    cache: LastKnown[int] = LastKnown(lambda: now[0], capacity=2)
    cache.put("payment", "o-1", 1)
    now[0] = 7.5
    assert cache.get("payment", "o-1") == (1, 7.5)
    cache.put("payment", "o-2", 2)
    cache.put("payment", "o-3", 3)
    assert cache.get("payment", "o-1") is None and cache.get("payment", "o-3") == (3, 0.0)
