"""The circuit breaker: stops calling a service that fails or hangs, and tries it again carefully.

The rules, all on the injected clocks (monotonic for durations, `now` for wall times shown):
- closed: every call passes; outcomes go into a sliding window (count or time). Over at least
  `minimum_calls`, a failure share >= failure_rate_threshold or a slow share >=
  slow_call_rate_threshold opens it. Calls still in flight that already took longer than
  slow_call_duration count as slow calls (a hung service trips it before the calls time out).
- open: every call is rejected (CircuitOpen) for the current wait; then half-open.
- half-open: exactly one caller at a time gets a probe lease (expiring after probe_timeout,
  then passing to the next caller; the expired probe's outcome then counts for nothing). The
  probe's success closes the breaker with a cleared window; its failure, or its slowness, opens
  it again with the wait multiplied by wait_multiplier (up to max_wait_in_open).
- forced-open (rejects everything until reset), forced-closed and metrics-only (never reject,
  still measure): operator states. Meanwhile the state the rules would give is still computed:
  under forced-open the state it was in, moving on with time; under the others, open whenever
  the window breaks a threshold.
- reset: closed, cleared window, no operator state.
An error the `counts` classifier does not count (a 4xx, a refusal on purpose) is passed through
and recorded as neither success nor failure. Outcomes of calls started before the window was
last cleared are not put into the new window.

Every transition, would-be transition and reconfiguration goes to the feed (FeedKind.BREAKER)
with its reason; rejected calls at most once a second per breaker, with the count since the
last report. Events are published after the lock is released, so a feed subscriber may read
the breaker. One lock; the closed-state success path takes it twice (acquire and record).
"""

from __future__ import annotations

import inspect
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from core.kernel.errors import DomainError, NotFound, Unavailable, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from core.runtime.breaker_config import (
    FORCED_STATES,
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    wall_after,
)
from core.runtime.breaker_window import FAILED, SLOW, CountWindow, Window, new_window
from ports.system import EventFeed

__all__ = [
    "BreakerBoard", "BreakerConfig", "BreakerSnapshot", "BreakerState", "CircuitBreaker", "CircuitOpen", "Permit",
    "counts_unless_refused",
]

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FORCED_OPEN = BreakerState.FORCED_OPEN
RECENT = 30  # outcomes kept for the dashboard's sparkline
REJECTED = 4  # in the recent outcomes only
LABELS = {0: "ok", FAILED: "fail", SLOW: "slow", FAILED | SLOW: "slow-fail", REJECTED: "rejected"}
REJECT_REPORT_EVERY = 1.0  # seconds between feed reports of rejected calls, per breaker


def counts_unless_refused(error: BaseException) -> bool:
    """The default classifier: a DomainError is a refusal on purpose (the service answered, like
    a 4xx), so it does not count against the service; any other error does."""
    return not isinstance(error, DomainError)


class CircuitOpen(Unavailable):
    """A call was not made: the breaker `name` is `state`. `retry_after` is the seconds until it
    may let a call through (None while an operator holds it open)."""

    def __init__(self, name: str, state: BreakerState, retry_after: float | None, reason: str) -> None:
        when = "until an operator resets it" if retry_after is None else f"retry in {retry_after:.1f} s"
        super().__init__(name, f"circuit breaker {state} ({reason})", when)
        self.name = name
        self.state = state
        self.retry_after = retry_after


class Permit:
    """Leave to make one call. Record its end exactly once: `success()`, `failure(error)` or
    `release()` (cancelled: frees a probe lease, records nothing). As a context manager it
    records by itself: no error -> success, an Exception -> failure, anything else (task
    cancellation, KeyboardInterrupt) -> release."""

    # No instance state: the start time lives in the breaker's table of calls in flight, and the
    # breaker is a class attribute of its own Permit subclass, so making a permit runs no
    # __init__ (74 ns against 127 ns with one here; the success path is benchmarked).
    __slots__ = ()
    _breaker: CircuitBreaker
    probe = False

    def success(self) -> None:
        self._breaker._record(self, 0)

    def failure(self, error: BaseException) -> bool:
        """Record `error` if the breaker's classifier counts it, else record nothing. Says which."""
        if self._breaker._counts(error):
            self._breaker._record(self, FAILED)
            return True
        self._breaker._release(self)
        return False

    def release(self) -> None:
        self._breaker._release(self)

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if error is None:
            self._breaker._record(self, 0)
        elif isinstance(error, Exception):
            self.failure(error)
        else:
            self.release()


class ProbePermit(Permit):
    """The half-open probe's permit: its outcome decides, while it holds the lease."""

    __slots__ = ()
    probe = True


class CircuitBreaker:
    """One breaker guarding calls to one target. Thread-safe; see the module for the rules."""

    def __init__(self, name: str, config: BreakerConfig, *, monotonic: Callable[[], float],
                 now: Callable[[], datetime], feed: EventFeed | None = None,
                 counts: Callable[[BaseException], bool] = counts_unless_refused) -> None:
        self.name = name
        self._monotonic = monotonic
        self._now = now
        self._feed = feed
        self._counts = counts
        self._lock = threading.Lock()
        self._config = config
        self._slow_after = config.slow_call_duration
        self._window: Window = new_window(config.window, config.window_size)
        self._count_window = isinstance(self._window, CountWindow)
        self._state = CLOSED  # what the rules give
        self._reason = "new"
        self._mode: BreakerState | None = None  # an operator's state
        self._mode_reason = ""
        self._shadow = CLOSED  # the would-be state under forced-closed and metrics-only
        # Calls in flight, oldest first; those started before the window was last cleared are
        # stale: their outcomes do not go into the new window. A permit in neither is done.
        self._in_flight: dict[Permit, float] = {}
        self._stale: dict[Permit, float] = {}
        self._opened_mono = 0.0
        self._opened_at: datetime | None = None
        self._failed_probes = 0
        self._probe: Permit | None = None
        self._probe_expires = 0.0
        self._recent: deque[int] = deque(maxlen=RECENT)
        self._unsent: list[FeedEvent] = []
        self._unreported_rejections = 0
        self._last_rejection_report = float("-inf")
        self._successes = self._failures = self._rejected = 0
        self._fast = True
        self._permit: type[Permit] = type("Permit", (Permit,), {"__slots__": (), "_breaker": self})
        self._probe_permit: type[Permit] = type("ProbePermit", (ProbePermit,), {"__slots__": (), "_breaker": self})

    # -- calls ------------------------------------------------------------------------------

    def acquire(self) -> Permit:
        """A Permit for one call, or CircuitOpen if the breaker does not let it through."""
        # acquire()/release() rather than `with`: half the cost (70 ns against 145 ns here).
        self._lock.acquire()
        try:
            now = self._monotonic()
            if self._fast:
                in_flight = self._in_flight
                if not in_flight or now - next(iter(in_flight.values())) <= self._slow_after:
                    permit = self._permit()
                    in_flight[permit] = now
                    return permit
            admitted = self._admit(now)
            unsent = self._take_unsent()
        finally:
            self._lock.release()
        self._publish(unsent)
        if isinstance(admitted, CircuitOpen):
            raise admitted
        return admitted

    def call(self, fn: Callable[..., T], /, *args: Any, fallback: Callable[[BaseException], T] | None = None,
             **kwargs: Any) -> T:
        """fn(*args, **kwargs) through the breaker. `fallback(error)` answers instead when the call
        is rejected (CircuitOpen) or fails with a counted error; other errors pass through."""
        # acquire()'s common case, inlined: this path is benchmarked.
        permit: Permit | None = None
        self._lock.acquire()
        try:
            if self._fast:
                now = self._monotonic()
                in_flight = self._in_flight
                if not in_flight or now - next(iter(in_flight.values())) <= self._slow_after:
                    permit = self._permit()
                    in_flight[permit] = now
        finally:
            self._lock.release()
        if permit is None:
            try:
                permit = self.acquire()
            except CircuitOpen as rejected:
                if fallback is None:
                    raise
                return fallback(rejected)
        try:
            result = fn(*args, **kwargs)
        except Exception as error:
            if permit.failure(error) and fallback is not None:
                return fallback(error)
            raise
        except BaseException:
            permit.release()
            raise
        self._record(permit, 0)
        return result

    async def acall(self, fn: Callable[..., Awaitable[T]], /, *args: Any,
                    fallback: Callable[[BaseException], T | Awaitable[T]] | None = None, **kwargs: Any) -> T:
        """await fn(*args, **kwargs) through the breaker; like call(). Cancelling the awaiting task
        releases the permit (and a probe's lease) without recording an outcome. `fallback` may be
        a plain function or a coroutine function."""
        try:
            permit = self.acquire()
        except CircuitOpen as rejected:
            if fallback is None:
                raise
            return await _resolved(fallback(rejected))
        try:
            result = await fn(*args, **kwargs)
        except Exception as error:
            if permit.failure(error) and fallback is not None:
                return await _resolved(fallback(error))
            raise
        except BaseException:
            permit.release()
            raise
        self._record(permit, 0)
        return result

    # -- operators ----------------------------------------------------------------------------

    def force_open(self, reason: str) -> None:
        """Reject every call until reset(), whatever the service does."""
        self._operate(FORCED_OPEN, reason)

    def force_closed(self, reason: str) -> None:
        """Never reject (the breaker is disabled) but keep measuring."""
        self._operate(BreakerState.FORCED_CLOSED, reason)

    def metrics_only(self, reason: str) -> None:
        """Never reject; measure and report what the breaker would do."""
        self._operate(BreakerState.METRICS_ONLY, reason)

    def reset(self, reason: str) -> None:
        """Back to closed under the rules, with a cleared window and the first wait."""
        reason = _operator_reason(reason)
        with self._lock:
            now = self._monotonic()
            self._advance(now)
            before = self._mode or self._state
            self._mode, self._mode_reason = None, ""
            self._clear(now, f"reset: {reason}")
            self._report(before, CLOSED, f"reset: {reason}", now)
            unsent = self._take_unsent()
        self._publish(unsent)

    def reconfigure(self, config: BreakerConfig) -> None:
        """Apply `config` now, keeping the state and the window (a count window resized keeps its
        newest outcomes; a window of another kind starts empty, as counts carry no times)."""
        with self._lock:
            now = self._monotonic()
            old = self._config
            if config.window != old.window:
                self._window = new_window(config.window, config.window_size)
            elif config.window_size != old.window_size:
                self._window = self._window.resized(int(config.window_size))
            self._count_window = isinstance(self._window, CountWindow)
            self._refresh_fast()
            self._config = config
            self._slow_after = config.slow_call_duration
            changed = {k: v for k, v in config.to_json().items() if old.to_json()[k] != v}
            state = self._mode or self._state
            text = ", ".join(f"{k} {getattr(old, k)} -> {v}" for k, v in changed.items()) or "no change"
            self._emit(f"breaker {self.name}: reconfigured: {text}", now,
                       {"from": state, "to": state, "reason": "reconfigured", "changed": changed})
            self._advance(now)
            unsent = self._take_unsent()
        self._publish(unsent)

    # -- reading ------------------------------------------------------------------------------

    @property
    def config(self) -> BreakerConfig:
        return self._config

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            now = self._monotonic()
            self._advance(now)
            calls, failure_rate, slow_rate = self._rates(now)
            would_be = self._would_be()
            opened_at = self._opened_at if self._state is OPEN else None
            wall = self._now()
            next_probe_at = None
            if self._mode is None and self._state is OPEN:
                next_probe_at = wall_after(wall, self._opened_mono + self._wait() - now)
            elif self._mode is None and self._state is HALF_OPEN:
                expires = self._probe_expires if self._probe is not None else now
                next_probe_at = wall_after(wall, expires - now)
            snapshot = BreakerSnapshot(
                name=self.name, state=self._mode or self._state, would_be=would_be,
                reason=self._mode_reason or self._reason, failure_rate=failure_rate, slow_call_rate=slow_rate,
                calls=calls, in_flight=len(self._in_flight) + len(self._stale),
                recent=tuple(LABELS[code] for code in self._recent),
                opened_at=opened_at, next_probe_at=next_probe_at, config=self._config,
                successes=self._successes, failures=self._failures, rejected=self._rejected)
            unsent = self._take_unsent()
        self._publish(unsent)
        return snapshot

    def describe(self) -> str:
        return self.snapshot().describe()

    # -- inside the lock ----------------------------------------------------------------------

    def _admit(self, now: float) -> Permit | CircuitOpen:
        self._advance(now)
        mode = self._mode
        if mode is FORCED_OPEN:
            return self._reject(now, None)
        if mode is not None or self._state is CLOSED:
            return self._grant(now, probe=False)
        if self._state is OPEN:
            return self._reject(now, self._opened_mono + self._wait() - now)
        if self._probe is not None and now < self._probe_expires:
            return self._reject(now, self._probe_expires - now, "a probe call is in flight")
        if self._probe is not None:
            self._emit(f"breaker {self.name}: probe lease expired after {self._config.probe_timeout} s; "
                       "the next caller probes", now,
                       {"from": HALF_OPEN, "to": HALF_OPEN, "reason": "probe lease expired"})
        permit = self._grant(now, probe=True)
        self._probe, self._probe_expires = permit, now + self._config.probe_timeout
        return permit

    def _grant(self, now: float, *, probe: bool) -> Permit:
        permit = self._probe_permit() if probe else self._permit()
        self._in_flight[permit] = now
        return permit

    def _reject(self, now: float, retry_after: float | None, reason: str = "") -> CircuitOpen:
        self._rejected += 1
        self._recent.append(REJECTED)
        self._unreported_rejections += 1
        state = self._mode or self._state
        reason = reason or self._mode_reason or self._reason
        rejected = CircuitOpen(self.name, state, None if retry_after is None else max(retry_after, 0.0), reason)
        if now - self._last_rejection_report >= REJECT_REPORT_EVERY:
            count, self._unreported_rejections = self._unreported_rejections, 0
            self._last_rejection_report = now
            self._emit(f"breaker {self.name}: rejected {count} call{'s' if count > 1 else ''}: {rejected}", now,
                       {"from": state, "to": state, "reason": reason, "rejected": count,
                        "retry_after": rejected.retry_after})
        return rejected

    def _record(self, permit: Permit, code: int) -> None:
        self._lock.acquire()
        try:
            now = self._monotonic()
            started = self._in_flight.pop(permit, None)
            if started is None:  # stale or already recorded
                self._forget(permit, code)
                return
            if code:
                self._failures += 1
            else:
                self._successes += 1
            if now - started > self._slow_after:
                code |= SLOW
            if self._fast:
                window = self._window
                window.record(now, code)
                self._recent.append(code)
                if window.failures or window.slow or self._in_flight:  # else nothing could trip it
                    self._trip_if_due(now)
            elif permit.probe:
                if permit is self._probe:  # else its lease expired and passed on: it counts for nothing
                    self._recent.append(code)
                    self._probe = None
                    self._judge_probe(now, code, now - started)
            else:
                window = self._window
                window.record(now, code)
                self._recent.append(code)
                if self._mode is None:
                    if self._state is CLOSED and (window.failures or window.slow or self._in_flight):
                        self._trip_if_due(now)
                elif self._mode is not FORCED_OPEN:
                    self._update_shadow(now)
            if not self._unsent:
                return
            unsent = self._take_unsent()
        finally:
            self._lock.release()
        self._publish(unsent)

    def _forget(self, permit: Permit, code: int) -> None:
        if self._stale.pop(permit, None) is not None:
            if code:
                self._failures += 1
            else:
                self._successes += 1

    def _release(self, permit: Permit) -> None:
        with self._lock:
            if self._in_flight.pop(permit, None) is None:
                self._stale.pop(permit, None)
            if permit is self._probe:
                self._probe = None  # the lease is free: the next caller probes

    def _judge_probe(self, now: float, code: int, took: float) -> None:
        if code & FAILED:
            self._open(now, "probe failed", failed_probe=True)
        elif code & SLOW:
            self._open(now, f"probe took {took:.2f} s (slow: over {self._slow_after} s)", failed_probe=True)
        else:
            self._clear(now, "probe succeeded")
            self._report(HALF_OPEN, CLOSED, "probe succeeded", now)

    def _advance(self, now: float) -> None:
        """Apply what time alone changes: an open wait that ended, calls that became slow in
        flight, a time window that aged."""
        if self._state is OPEN and now >= self._opened_mono + self._wait():
            self._state = HALF_OPEN
            self._refresh_fast()
            self._reason = f"waited {self._wait():g} s"
            self._probe = None
            self._report(OPEN, HALF_OPEN, self._reason, now, would_be=self._mode is not None)
        if self._mode is None:
            if self._state is CLOSED:
                self._trip_if_due(now)
        elif self._mode is not FORCED_OPEN:
            self._update_shadow(now)

    def _trip_if_due(self, now: float) -> None:
        reason = self._trip_reason(now)
        if reason is not None:
            self._open(now, reason, failed_probe=False)

    def _update_shadow(self, now: float) -> None:
        shadow = CLOSED if self._trip_reason(now) is None else OPEN
        if shadow is not self._shadow:
            before, self._shadow = self._shadow, shadow
            calls, failure_rate, slow_rate = self._rates(now)
            reason = self._trip_reason(now) or f"{failure_rate:.0%} failures, {slow_rate:.0%} slow in {calls} calls"
            self._report(before, shadow, reason, now, would_be=True)

    def _open(self, now: float, reason: str, *, failed_probe: bool) -> None:
        before = self._state
        self._state = OPEN
        self._refresh_fast()
        self._reason = reason
        self._failed_probes = self._failed_probes + 1 if failed_probe else 0
        self._opened_mono, self._opened_at = now, self._now()
        self._probe = None
        self._report(before, OPEN, f"{reason}; open for {self._wait():g} s", now)

    def _clear(self, now: float, reason: str) -> None:
        self._state, self._shadow = CLOSED, CLOSED
        self._refresh_fast()
        self._reason = reason
        self._window = new_window(self._config.window, self._config.window_size)
        self._stale.update(self._in_flight)
        self._in_flight = {}
        self._failed_probes = 0
        self._opened_at = None
        self._probe = None

    def _operate(self, mode: BreakerState, reason: str) -> None:
        reason = _operator_reason(reason)
        with self._lock:
            now = self._monotonic()
            self._advance(now)
            before = self._mode or self._state
            if mode is FORCED_OPEN and self._mode is not None and self._mode is not FORCED_OPEN:
                # Leaving a measuring mode: the rules' state is what the measurements gave.
                self._state = self._shadow
                if self._shadow is OPEN:
                    self._opened_mono, self._opened_at, self._failed_probes = now, self._now(), 0
            self._mode, self._mode_reason = mode, reason
            self._refresh_fast()
            self._probe = None  # no probes under an operator's state
            if mode is not FORCED_OPEN:
                self._shadow = CLOSED if self._trip_reason(now) is None else OPEN
            self._report(before, mode, f"operator: {reason}", now)
            unsent = self._take_unsent()
        self._publish(unsent)

    def _refresh_fast(self) -> None:
        # The common case, closed under the rules with a count window (which does not age), is
        # decided by this one flag on the hot path.
        self._fast = self._mode is None and self._state is CLOSED and self._count_window

    def _wait(self) -> float:
        return self._config.wait_after(self._failed_probes)

    def _slow_in_flight(self, now: float) -> int:
        slow = 0
        for started in self._in_flight.values():  # oldest first: stop at the first that is not slow
            if now - started <= self._slow_after:
                break
            slow += 1
        return slow

    def _rates(self, now: float) -> tuple[int, float, float]:
        calls, failures, slow = self._window.totals(now)
        slow_in_flight = self._slow_in_flight(now)
        measured = calls + slow_in_flight
        return (calls, failures / calls if calls else 0.0,
                (slow + slow_in_flight) / measured if measured else 0.0)

    def _trip_reason(self, now: float) -> str | None:
        calls, failures, slow = self._window.totals(now)
        config = self._config
        if calls >= config.minimum_calls and failures / calls >= config.failure_rate_threshold:
            return (f"{failures / calls:.0%} failures in {self._span(calls)} "
                    f"(threshold {config.failure_rate_threshold:.0%})")
        if not slow and not self._in_flight:
            return None
        slow_in_flight = self._slow_in_flight(now)
        measured = calls + slow_in_flight
        if measured >= config.minimum_calls and (slow + slow_in_flight) / measured >= config.slow_call_rate_threshold:
            return (f"{(slow + slow_in_flight) / measured:.0%} slow (over {config.slow_call_duration:g} s) in "
                    f"{self._span(calls)} and {slow_in_flight} slow in flight "
                    f"(threshold {config.slow_call_rate_threshold:.0%})")
        return None

    def _span(self, calls: int) -> str:
        if self._count_window:
            return f"the last {calls} calls"
        return f"{calls} calls in the last {self._config.window_size} s"

    def _would_be(self) -> BreakerState:
        if self._mode is None or self._mode is FORCED_OPEN:
            return self._state
        return self._shadow

    def _report(self, before: BreakerState, after: BreakerState, reason: str, now: float, *,
                would_be: bool = False) -> None:
        calls, failure_rate, slow_rate = self._rates(now)
        if would_be:
            text = f"breaker {self.name}: {self._mode}, would be {after} (was {before}): {reason}"
        else:
            text = f"breaker {self.name}: {before} -> {after}: {reason}"
        data: dict[str, Any] = {"from": before, "to": after, "reason": reason, "failure_rate": failure_rate,
                                "slow_call_rate": slow_rate, "calls": calls}
        if would_be:
            data["forced"] = self._mode
        self._emit(text, now, data)

    def _emit(self, text: str, now: float, data: dict[str, Any]) -> None:
        if self._feed is not None:
            data = {"name": self.name, **{k: str(v) if isinstance(v, BreakerState) else v for k, v in data.items()}}
            self._unsent.append(FeedEvent(kind=FeedKind.BREAKER, text=text, at=self._now(), data=data))

    def _take_unsent(self) -> list[FeedEvent]:
        unsent = self._unsent
        if unsent:
            self._unsent = []
        return unsent

    def _publish(self, events: list[FeedEvent]) -> None:
        if self._feed is not None:
            for event in events:
                self._feed.publish(event)


async def _resolved(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


def _operator_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("reason", "say why (it is shown beside the breaker and on the feed)")
    return reason.strip()


class BreakerBoard:
    """The breakers of one process, by name. Forced states restored before a breaker exists are
    applied when it is made, so a store can restore them at start in any order."""

    def __init__(self, *, monotonic: Callable[[], float], now: Callable[[], datetime],
                 feed: EventFeed | None = None,
                 counts: Callable[[BaseException], bool] = counts_unless_refused) -> None:
        self._monotonic = monotonic
        self._now = now
        self._feed = feed
        self._counts = counts
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._pending: dict[str, tuple[BreakerState, str]] = {}

    def ensure(self, name: str, config: BreakerConfig,
               counts: Callable[[BaseException], bool] | None = None) -> CircuitBreaker:
        """The breaker called `name`, made with `config` (and `counts`) if there is none yet."""
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is not None:
                return breaker
            breaker = CircuitBreaker(name, config, monotonic=self._monotonic, now=self._now, feed=self._feed,
                                     counts=counts or self._counts)
            self._breakers[name] = breaker
            pending = self._pending.pop(name, None)
        if pending is not None:
            _apply(breaker, *pending)
        return breaker

    def get(self, name: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(name)
        if breaker is None:
            raise NotFound("circuit breaker", name)
        return breaker

    def all(self) -> list[CircuitBreaker]:
        with self._lock:
            return [self._breakers[name] for name in sorted(self._breakers)]

    def forced(self) -> dict[str, tuple[str, str]]:
        """{name: (state, reason)} of every breaker an operator holds, plus restored ones not yet made."""
        forced = {name: (str(state), reason) for name, (state, reason) in self._pending.items()}
        for breaker in self.all():
            snapshot = breaker.snapshot()
            if snapshot.forced:
                forced[breaker.name] = (str(snapshot.state), snapshot.reason)
        return forced

    def restore(self, forced: Mapping[str, tuple[str, str]]) -> None:
        """Put back operator states kept by forced(): on existing breakers now, on others when made."""
        for name, (state, reason) in forced.items():
            if state not in FORCED_STATES:
                raise ValidationError("state", f"{state!r} for breaker {name!r} is not one of "
                                               f"{', '.join(FORCED_STATES)}")
            with self._lock:
                breaker = self._breakers.get(name)
                if breaker is None:
                    self._pending[name] = (BreakerState(state), reason)
            if breaker is not None:
                _apply(breaker, BreakerState(state), reason)


def _apply(breaker: CircuitBreaker, state: BreakerState, reason: str) -> None:
    {BreakerState.FORCED_OPEN: breaker.force_open, BreakerState.FORCED_CLOSED: breaker.force_closed,
     BreakerState.METRICS_ONLY: breaker.metrics_only}[state](reason)
