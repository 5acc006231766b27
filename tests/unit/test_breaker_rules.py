"""The circuit breaker against a plain model of its rules (Hypothesis state machine, virtual time).

The model keeps every outcome in a list and recomputes rates from scratch; the breaker keeps
running totals, per-second buckets, a fast path and leases. After every step both must agree
on the state, the would-be state, the rates and the calls in the window, and on whether a call
was let through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from core.runtime.breaker import BreakerConfig, BreakerState, CircuitBreaker, CircuitOpen
from tests.unit.breaker_fixtures import ServiceError, VirtualClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FORCED_OPEN, FORCED_CLOSED, METRICS_ONLY = (BreakerState.FORCED_OPEN, BreakerState.FORCED_CLOSED,
                                            BreakerState.METRICS_ONLY)


@st.composite
def configs(draw: st.DrawFn) -> BreakerConfig:
    window = draw(st.sampled_from(["count", "time"]))
    size = draw(st.integers(1, 8))
    wait = draw(st.sampled_from([2.0, 5.0]))
    return BreakerConfig(
        window=window, window_size=size,
        minimum_calls=draw(st.integers(1, size if window == "count" else 8)),
        failure_rate_threshold=draw(st.sampled_from([0.25, 0.5, 0.75, 1.0])),
        slow_call_duration=1.0, slow_call_rate_threshold=draw(st.sampled_from([0.5, 1.0])),
        wait_in_open=wait, wait_multiplier=draw(st.sampled_from([2.0, 1.0])),
        max_wait_in_open=draw(st.sampled_from([20.0, wait])), probe_timeout=3.0)


class IgnoredError(Exception):
    """Not counted by the classifier: passed through, recorded as neither."""


@dataclass
class Model:
    """The rules, written as plainly as possible."""

    config: BreakerConfig
    outcomes: list[tuple[float, bool, bool]] = field(default_factory=list)  # (finished at, failed, slow)
    state: BreakerState = CLOSED
    mode: BreakerState | None = None
    shadow: BreakerState = CLOSED
    opened_at: float = 0.0
    failed_probes: int = 0

    def window(self, now: float) -> list[tuple[float, bool, bool]]:
        if self.config.window == "count":
            return self.outcomes[-self.config.window_size:]
        return [o for o in self.outcomes if math.floor(o[0]) > math.floor(now) - self.config.window_size]

    def rates(self, now: float) -> tuple[int, float, float]:
        window = self.window(now)
        calls = len(window)
        if not calls:
            return 0, 0.0, 0.0
        return calls, sum(o[1] for o in window) / calls, sum(o[2] for o in window) / calls

    def trips(self, now: float) -> bool:
        calls, failure_rate, slow_rate = self.rates(now)
        return calls >= self.config.minimum_calls and (
            failure_rate >= self.config.failure_rate_threshold or slow_rate >= self.config.slow_call_rate_threshold)

    def wait(self) -> float:
        c = self.config
        return min(c.wait_in_open * c.wait_multiplier ** self.failed_probes, c.max_wait_in_open)

    def open(self, now: float, failed_probe: bool) -> None:
        self.state, self.opened_at = OPEN, now
        self.failed_probes = self.failed_probes + 1 if failed_probe else 0

    def clear(self) -> None:
        self.state, self.shadow, self.outcomes, self.failed_probes = CLOSED, CLOSED, [], 0

    def advance(self, now: float) -> None:
        if self.state == OPEN and now >= self.opened_at + self.wait():
            self.state = HALF_OPEN
        if self.mode is None and self.state == CLOSED and self.trips(now):
            self.open(now, failed_probe=False)
        elif self.mode in (FORCED_CLOSED, METRICS_ONLY):
            self.shadow = OPEN if self.trips(now) else CLOSED

    def admit(self, now: float) -> str:
        """"reject", "call" or "probe"."""
        self.advance(now)
        if self.mode == FORCED_OPEN:
            return "reject"
        if self.mode is not None or self.state == CLOSED:
            return "call"
        return "reject" if self.state == OPEN else "probe"

    def finish(self, now: float, kind: str, failed: bool, slow: bool) -> None:
        if kind == "probe":
            if failed or slow:
                self.open(now, failed_probe=True)
            else:
                self.clear()
            return
        self.outcomes.append((now, failed, slow))
        if self.mode is None and self.state == CLOSED and self.trips(now):
            self.open(now, failed_probe=False)
        elif self.mode in (FORCED_CLOSED, METRICS_ONLY):
            self.shadow = OPEN if self.trips(now) else CLOSED

    def operate(self, now: float, mode: BreakerState) -> None:
        self.advance(now)
        if mode == FORCED_OPEN and self.mode in (FORCED_CLOSED, METRICS_ONLY):
            self.state = self.shadow
            if self.shadow == OPEN:
                self.opened_at, self.failed_probes = now, 0
        self.mode = mode
        if mode != FORCED_OPEN:
            self.shadow = OPEN if self.trips(now) else CLOSED

    def reconfigure(self, now: float, config: BreakerConfig) -> None:
        if config.window != self.config.window:
            self.outcomes = []
        elif config.window == "count":
            self.outcomes = self.outcomes[-min(config.window_size, self.config.window_size):]
        else:
            self.outcomes = self.window(now)  # what aged out stays out when the window grows
        self.config = config
        self.advance(now)

    def shown(self) -> tuple[BreakerState, BreakerState]:
        would_be = self.shadow if self.mode in (FORCED_CLOSED, METRICS_ONLY) else self.state
        return self.mode or self.state, would_be


class BreakerRules(RuleBasedStateMachine):
    @initialize(config=configs())
    def start(self, config: BreakerConfig) -> None:
        self.clock = VirtualClock()
        self.breaker = CircuitBreaker("payments", config, monotonic=self.clock.monotonic, now=self.clock.now,
                                      counts=lambda error: not isinstance(error, IgnoredError))
        self.model = Model(config)

    @rule(outcome=st.sampled_from(["ok", "fail", "ignored"]), took=st.sampled_from([0.0, 0.5, 1.5, 3.0]))
    def call(self, outcome: str, took: float) -> None:
        kind = self.model.admit(self.clock.seconds)
        try:
            permit = self.breaker.acquire()
        except CircuitOpen:
            assert kind == "reject"
            return
        assert kind != "reject"
        self.clock.advance(took)
        if outcome == "ok":
            permit.success()
        elif outcome == "fail":
            permit.failure(ServiceError("503"))
        else:
            assert not permit.failure(IgnoredError("404"))
        if outcome != "ignored":
            self.model.finish(self.clock.seconds, kind, outcome == "fail", took > 1.0)

    @rule(seconds=st.sampled_from([0.25, 1.0, 2.5, 5.0, 12.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(mode=st.sampled_from([FORCED_OPEN, FORCED_CLOSED, METRICS_ONLY]))
    def operator_forces(self, mode: BreakerState) -> None:
        {FORCED_OPEN: self.breaker.force_open, FORCED_CLOSED: self.breaker.force_closed,
         METRICS_ONLY: self.breaker.metrics_only}[mode]("operator")
        self.model.operate(self.clock.seconds, mode)

    @rule()
    def operator_resets(self) -> None:
        self.breaker.reset("operator")
        self.model.mode = None
        self.model.clear()

    @rule(config=configs())
    def operator_reconfigures(self, config: BreakerConfig) -> None:
        self.breaker.reconfigure(config)
        self.model.reconfigure(self.clock.seconds, config)

    @invariant()
    def breaker_agrees_with_the_model(self) -> None:
        snapshot = self.breaker.snapshot()
        now = self.clock.seconds
        self.model.advance(now)
        calls, failure_rate, slow_rate = self.model.rates(now)
        assert (snapshot.state, snapshot.would_be) == self.model.shown()
        assert (snapshot.calls, snapshot.failure_rate, snapshot.slow_call_rate) == (calls, failure_rate, slow_rate)
        assert snapshot.in_flight == 0


TestBreakerRules = BreakerRules.TestCase
TestBreakerRules.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)

