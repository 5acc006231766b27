"""Calls to several services at once, each with its own time limit, under one overall deadline.

Generic and context-free: the caller names the parts and gives each a function of the time left
(`within`, seconds), and gets back one PartResult per part, whatever happened to it. Threads,
because the ports are synchronous; time is read from an injected monotonic clock.

A part still running when its time is up is reported as a timeout and left to finish on its own
thread: every port call it makes carries `within`, so it ends soon after (an HTTP call times out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.kernel.errors import Unavailable

T = TypeVar("T")


class TimedOut(Unavailable):
    """A service did not answer in time (a per-call timeout, a part's timeout): it counts against it."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(what, f"no answer within {seconds * 1000:.0f} ms", "it is slow or stuck; retry later")
        self.seconds = seconds


class DeadlineExceeded(Unavailable):
    """A hop refused work it could not finish in the time its caller had left (or that time ran out
    before it started). Not the service's fault: it answered at once, so no breaker counts it."""

    def __init__(self, hop: str, left_ms: float, detail: str = "") -> None:
        reason = detail or f"{max(left_ms, 0):.0f} ms were left of the caller's deadline"
        super().__init__(f"hop {hop}", f"refused: {reason}", "give the request a longer deadline")
        self.hop = hop
        self.left_ms = left_ms


class Deadline:
    """A point in monotonic time by which a request must be answered."""

    def __init__(self, seconds: float, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self.at = monotonic() + seconds

    def left(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - self._monotonic()

    def check(self, hop: str) -> float:
        """The seconds left, or DeadlineExceeded naming `hop` when none are."""
        left = self.left()
        if left <= 0:
            raise DeadlineExceeded(hop, left * 1000)
        return left


@dataclass(frozen=True, kw_only=True)
class PartResult:
    """What happened to one part: `status` as the classifier named its error ("ok" without one, "timeout"
    when its time ran out), its latency, its value (None unless ok), and the error's text."""

    name: str
    status: str
    latency_ms: float
    value: Any = None
    error: str | None = None
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class FanOut:
    """Runs the parts of one request concurrently on a pool of threads shared by every request."""

    def __init__(self, *, monotonic: Callable[[], float], classify: Callable[[BaseException], str],
                 max_workers: int = 16) -> None:
        self._monotonic = monotonic
        self._classify = classify
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fanout")

    def run(self, parts: Mapping[str, Callable[[float], Any]], *, part_timeout: float,
            deadline: float) -> dict[str, PartResult]:
        """Every part, started together; each given min(part_timeout, deadline) seconds."""
        started = self._monotonic()
        budget = max(0.0, min(part_timeout, deadline))
        finished: dict[str, float] = {}
        lock = threading.Lock()

        def timed(name: str, call: Callable[[float], Any]) -> Any:
            try:
                return call(budget)
            finally:
                with lock:
                    finished[name] = self._monotonic()

        futures: dict[str, Future[Any]] = {name: self._pool.submit(timed, name, call) for name, call in parts.items()}
        wait(futures.values(), timeout=budget)
        results: dict[str, PartResult] = {}
        now = self._monotonic()
        for name, future in futures.items():
            with lock:
                ended = finished.get(name)
            if not future.done() or ended is None:
                results[name] = PartResult(name=name, status="timeout", latency_ms=(now - started) * 1000,
                                           error=f"no answer within {budget * 1000:.0f} ms")
                continue
            latency = (ended - started) * 1000
            error = future.exception()
            if error is None:
                results[name] = PartResult(name=name, status="ok", latency_ms=latency, value=future.result())
            else:
                results[name] = PartResult(name=name, status=self._classify(error), latency_ms=latency,
                                           error=str(error), exception=error)
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class LastKnown(Generic[T]):
    """The last value each key had when it was read live, with when: what a part falls back on.
    Bounded: the least recently stored keys go first."""

    def __init__(self, monotonic: Callable[[], float], capacity: int = 1000) -> None:
        self._monotonic = monotonic
        self._capacity = capacity
        self._values: OrderedDict[tuple[str, str], tuple[T, float]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, part: str, key: str, value: T) -> None:
        with self._lock:
            self._values[(part, key)] = (value, self._monotonic())
            self._values.move_to_end((part, key))
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)

    def get(self, part: str, key: str) -> tuple[T, float] | None:
        """The value and its age in seconds, or None if never read."""
        with self._lock:
            found = self._values.get((part, key))
        if found is None:
            return None
        value, at = found
        return value, self._monotonic() - at
