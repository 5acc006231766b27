"""Fault injection: one mechanism for every service and saga participant.

The core only decides; the adapters apply a FaultDecision (sleep the delay, raise the error or
the timeout, withhold or repeat the reply). Injection is off unless the process was started with
`faults.enabled = true`, so a production configuration cannot be made to fail by accident.

The four rates are shares of calls: one draw per call falls into at most one of them (timeout,
then error, then dropped reply, then duplicated reply), so their sum is at most 1 and each rate
is exactly what a person set. Added latency applies to every call of the service.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.kernel.errors import DomainError, InvalidFields, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from ports.system import EventFeed

RATES = ("timeout_rate", "error_rate", "drop_reply_rate", "duplicate_reply_rate")


@dataclass(frozen=True, kw_only=True)
class FaultSettings:
    """What to inject into one service's calls. Rates are shares (0-1), latency is seconds."""

    error_rate: float = 0.0
    latency: float = 0.0
    timeout_rate: float = 0.0
    drop_reply_rate: float = 0.0
    duplicate_reply_rate: float = 0.0

    def __post_init__(self) -> None:
        errors: list[ValidationError] = []
        for name in RATES:
            value = getattr(self, name)
            if not _number(value) or not 0 <= value <= 1:
                errors.append(ValidationError(name, f"must be a share from 0 to 1, got {value!r}"))
        if not _number(self.latency) or self.latency < 0:
            errors.append(ValidationError("latency", f"must be seconds >= 0, got {self.latency!r}"))
        if not errors:
            total = sum(getattr(self, name) for name in RATES)
            if total > 1 + 1e-9:
                shares = " + ".join(f"{name} {getattr(self, name):g}" for name in RATES if getattr(self, name))
                errors.append(ValidationError(
                    "error_rate", f"{shares} = {total:g}: the rates are shares of calls and add up to at most 1"))
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise InvalidFields(errors)

    @classmethod
    def off(cls) -> FaultSettings:
        return cls()

    @property
    def is_off(self) -> bool:
        return self == FaultSettings()

    def describe(self) -> str:
        if self.is_off:
            return "no faults"
        parts = [f"{getattr(self, name):.0%} {label}" for name, label in (
            ("error_rate", "errors"), ("timeout_rate", "timeouts"), ("drop_reply_rate", "dropped replies"),
            ("duplicate_reply_rate", "duplicated replies")) if getattr(self, name)]
        if self.latency:
            parts.append(f"+{self.latency:g} s latency")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidFields([ValidationError(name, f"unknown fault setting (known: {', '.join(sorted(known))})")
                                 for name in unknown])
        return cls(**data)


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one call. At most one of fail, timeout, drop_reply, duplicate_reply is set."""

    fail: bool = False
    delay: float = 0.0
    timeout: bool = False
    drop_reply: bool = False
    duplicate_reply: bool = False


NO_FAULT = FaultDecision()


class FaultInjector:
    """Fault settings per service name, and the decision for each call. Thread-safe.

    `random` returns a float in [0, 1) (random.random in production, a fixed sequence in tests).
    """

    def __init__(self, enabled: bool, random: Callable[[], float], feed: EventFeed | None,
                 now: Callable[[], datetime]) -> None:
        self.enabled = enabled
        self._random = random
        self._feed = feed
        self._now = now
        self._lock = threading.Lock()
        self._settings: dict[str, FaultSettings] = {}

    def set(self, service: str, settings: FaultSettings) -> None:
        """Inject `settings` into `service` from its next call (FaultSettings.off() clears)."""
        if not self.enabled:
            raise DomainError(f"fault injection is off; set faults.enabled = true (ORDERHEX_FAULTS__ENABLED=true) and "
                              f"restart this process to inject faults into {service}")
        with self._lock:
            before = self._settings.get(service, FaultSettings.off())
            if settings.is_off:
                self._settings.pop(service, None)
            else:
                self._settings[service] = settings
        if self._feed is not None:
            text = (f"faults for {service} cleared" if settings.is_off
                    else f"faults for {service}: {settings.describe()}")
            self._feed.publish(FeedEvent(kind=FeedKind.FAULT, text=text, at=self._now(), data={
                "service": service, "settings": settings.to_json(), "before": before.to_json()}))

    def get(self, service: str) -> FaultSettings:
        with self._lock:
            return self._settings.get(service, FaultSettings.off())

    def all(self) -> dict[str, FaultSettings]:
        """The services with faults set, by name."""
        with self._lock:
            return dict(sorted(self._settings.items()))

    def decide(self, service: str) -> FaultDecision:
        if not self.enabled:
            return NO_FAULT
        with self._lock:
            settings = self._settings.get(service)
        if settings is None:
            return NO_FAULT
        draw = self._random()
        chosen = None
        bound = 0.0
        for name in RATES:
            bound += getattr(settings, name)
            if draw < bound:
                chosen = name
                break
        return FaultDecision(fail=chosen == "error_rate", delay=settings.latency, timeout=chosen == "timeout_rate",
                             drop_reply=chosen == "drop_reply_rate",
                             duplicate_reply=chosen == "duplicate_reply_rate")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
