"""Resilience as the application runs it: which errors a breaker counts, how a part's failure is
named, the in-process door that applies injected faults, breakers per target service, and the
Resilience port over one BreakerBoard and one FaultInjector (forced states kept through a port).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from core.kernel.errors import Unavailable, ValidationError
from core.runtime.breaker import BreakerBoard, BreakerConfig, CircuitOpen
from core.runtime.fanout import DeadlineExceeded, TimedOut
from ports.resilience import ForcedStates

T = TypeVar("T")


def counts(error: BaseException) -> bool:
    """What a breaker counts as a failure of the service it guards: it could not be reached, failed
    (5xx) or did not answer in time. Not a refusal on purpose (a 4xx, a DomainError), not a deadline
    the caller ran out of (the service answered at once), not a rejection by the breaker itself."""
    return isinstance(error, Unavailable) and not isinstance(error, (DeadlineExceeded, CircuitOpen))


def classify(error: BaseException) -> str:
    """A part's status in the overview, from the error its call raised."""
    if isinstance(error, CircuitOpen):
        return "open_circuit"
    if isinstance(error, (TimedOut, DeadlineExceeded)):
        return "timeout"
    return "error"


class FaultDoor:
    """The door of every service in this process, for calls that do not come over HTTP: it applies
    the service's FaultDecision the way the REST door does (added latency; an error; a timeout, held
    as long as the caller waits) and refuses work the caller's time left cannot cover."""

    def __init__(self, injector: Any, sleep: Callable[[float], None], hold_seconds: float = 10.0) -> None:
        self._injector = injector
        self._sleep = sleep
        self._hold = hold_seconds

    def __call__(self, service: str, within: float | None) -> None:
        if within is not None and within <= 0:
            raise DeadlineExceeded(service, within * 1000)
        decision = self._injector.decide(service)
        if decision.delay > 0:
            if within is not None and decision.delay >= within:
                self._sleep(within)
                raise TimedOut(f"{service} (an injected delay of {decision.delay:g} s)", within)
            self._sleep(decision.delay)
        if decision.timeout:
            wait = self._hold if within is None else min(self._hold, within)
            self._sleep(wait)
            raise TimedOut(f"{service} (an injected timeout)", wait)
        if decision.fail or decision.drop_reply:
            raise Unavailable(service, "an injected fault", "clear it with `orderhex faults clear`")


class Breakers:
    """One breaker per target, made on first use with the process's configuration, and the guard
    (a call through it) that adapters are handed."""

    def __init__(self, board: BreakerBoard, config: BreakerConfig) -> None:
        self.board = board
        self.config = config

    def guard(self, name: str) -> Callable[[Callable[[], Any]], Any]:
        def call(fn: Callable[[], T]) -> T:
            result: T = self.board.ensure(name, self.config).call(fn)
            return result

        return call


class ResilienceService:
    """The Resilience port over this process's breakers and faults. `services` are the names faults
    may be set for; forced states are saved to `store` at each change and restored at start."""

    def __init__(self, board: BreakerBoard, injector: Any, store: ForcedStates, *,
                 services: Iterable[str], config: BreakerConfig) -> None:
        self._board = board
        self._injector = injector
        self._store = store
        self._services = tuple(services)
        self._config = config
        self._lock = threading.Lock()

    def restore(self) -> None:
        """Put back the forced states saved before (an operator's force survives a restart)."""
        forced = self._store.load()
        for name in forced:
            self._board.ensure(name, self._config)
        self._board.restore(forced)

    def breakers(self) -> list[dict[str, Any]]:
        return [breaker.snapshot().to_json() for breaker in self._board.all()]

    def _change(self, name: str, change: Callable[[Any], None]) -> dict[str, Any]:
        breaker = self._board.get(name)  # NotFound for a name no call has made yet
        with self._lock:  # the saved file follows the changes in the order they were made
            change(breaker)
            self._store.save(self._board.forced())
        return dict(breaker.snapshot().to_json())

    def force_open(self, name: str, reason: str) -> dict[str, Any]:
        return self._change(name, lambda b: b.force_open(reason))

    def force_closed(self, name: str, reason: str) -> dict[str, Any]:
        return self._change(name, lambda b: b.force_closed(reason))

    def metrics_only(self, name: str, reason: str) -> dict[str, Any]:
        return self._change(name, lambda b: b.metrics_only(reason))

    def reset(self, name: str, reason: str) -> dict[str, Any]:
        return self._change(name, lambda b: b.reset(reason))

    def reconfigure(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        def apply(breaker: Any) -> None:
            merged = {**breaker.snapshot().config.to_json(), **dict(config)}
            breaker.reconfigure(BreakerConfig.from_json(merged))

        return self._change(name, apply)

    def faults(self) -> dict[str, dict[str, Any]]:
        return {service: settings.to_json() for service, settings in self._injector.all().items()}

    def _known(self, service: str) -> str:
        if service not in self._services:
            raise ValidationError("service", f"unknown service {service!r}; services are "
                                             f"{', '.join(self._services)}")
        return service

    def set_fault(self, service: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        from core.runtime.faults import FaultSettings  # the fault core lands beside the breaker's

        self._injector.set(self._known(service), FaultSettings.from_json(dict(settings)))
        return dict(self._injector.get(service).to_json())

    def clear_fault(self, service: str) -> None:
        from core.runtime.faults import FaultSettings

        self._injector.set(self._known(service), FaultSettings.off())
