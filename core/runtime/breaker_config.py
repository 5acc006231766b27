"""What a circuit breaker is set to (BreakerConfig) and what it shows (BreakerSnapshot).

Both are frozen values with a JSON form, so the admin API, the CLI, the dashboard and a store
of forced states speak the same shape. A bad config is refused at construction, naming every
bad field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.kernel.errors import InvalidFields, ValidationError


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"
    FORCED_OPEN = "forced-open"  # sticky until an operator resets it
    FORCED_CLOSED = "forced-closed"  # disabled: never rejects, still measures
    METRICS_ONLY = "metrics-only"  # measures and reports what it would do, never trips


FORCED_STATES = (BreakerState.FORCED_OPEN, BreakerState.FORCED_CLOSED, BreakerState.METRICS_ONLY)
WINDOWS = ("count", "time")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, kw_only=True)
class BreakerConfig:
    """How a breaker measures and when it trips. Durations are seconds.

    `window` "count" keeps the last `window_size` calls; "time" keeps the calls of the current
    second and the `window_size - 1` before it. The breaker trips when, over at least
    `minimum_calls`, the share of failures reaches `failure_rate_threshold` or the share of
    slow calls (longer than `slow_call_duration`, finished or still in flight) reaches
    `slow_call_rate_threshold`. It stays open `wait_in_open`, multiplied by `wait_multiplier`
    after each failed probe up to `max_wait_in_open`; a half-open probe's lease lasts
    `probe_timeout`.
    """

    window: str = "count"
    window_size: int = 20
    minimum_calls: int = 10
    failure_rate_threshold: float = 0.5
    slow_call_duration: float = 2.0
    slow_call_rate_threshold: float = 1.0
    wait_in_open: float = 5.0
    wait_multiplier: float = 2.0
    max_wait_in_open: float = 60.0
    probe_timeout: float = 10.0

    def __post_init__(self) -> None:
        errors = self._problems()
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise InvalidFields(errors)

    def _problems(self) -> list[ValidationError]:
        errors: list[ValidationError] = []

        def positive(name: str) -> bool:
            value = getattr(self, name)
            if not _number(value) or value <= 0:
                errors.append(ValidationError(name, f"must be a number of seconds above 0, got {value!r}"))
                return False
            return True

        if self.window not in WINDOWS:
            errors.append(ValidationError("window", f"must be 'count' or 'time', got {self.window!r}"))
        size = self.window_size
        unit = "seconds" if self.window == "time" else "calls"
        if not _number(size) or size < 1 or size != int(size):
            errors.append(ValidationError("window_size", f"must be a whole number of {unit} >= 1, got {size!r}"))
        minimum = self.minimum_calls
        if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
            errors.append(ValidationError("minimum_calls", f"must be a whole number >= 1, got {minimum!r}"))
        elif self.window == "count" and _number(size) and minimum > size:
            errors.append(ValidationError(
                "minimum_calls", f"{minimum} is more than the window's {size} calls: the breaker could never trip"))
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if not _number(value) or not 0 < value <= 1:
                errors.append(ValidationError(name, f"must be a share above 0 and at most 1, got {value!r}"))
        positive("slow_call_duration")
        positive("probe_timeout")
        wait_ok = positive("wait_in_open")
        if not _number(self.wait_multiplier) or self.wait_multiplier < 1:
            errors.append(ValidationError("wait_multiplier", f"must be a number >= 1, got {self.wait_multiplier!r}"))
        if positive("max_wait_in_open") and wait_ok and self.max_wait_in_open < self.wait_in_open:
            errors.append(ValidationError(
                "max_wait_in_open", f"{self.max_wait_in_open} is less than wait_in_open ({self.wait_in_open})"))
        return errors

    def wait_after(self, failed_probes: int) -> float:
        """Seconds to stay open after `failed_probes` failed probes in a row."""
        try:
            return min(self.wait_in_open * self.wait_multiplier ** failed_probes, self.max_wait_in_open)
        except OverflowError:
            return self.max_wait_in_open

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BreakerConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidFields([ValidationError(name, f"unknown breaker setting (known: {', '.join(sorted(known))})")
                                 for name in unknown])
        return cls(**data)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True, kw_only=True)
class BreakerSnapshot:
    """What a breaker shows at one moment. While forced, `would_be` is the state the rules alone
    would give; otherwise it equals `state`. `recent` is the newest outcomes, oldest first, each
    "ok", "fail", "slow" (a slow success), "slow-fail" or "rejected"."""

    name: str
    state: BreakerState
    would_be: BreakerState
    reason: str
    failure_rate: float
    slow_call_rate: float
    calls: int
    in_flight: int
    recent: tuple[str, ...]
    opened_at: datetime | None
    next_probe_at: datetime | None
    config: BreakerConfig
    successes: int = 0
    failures: int = 0
    rejected: int = 0

    @property
    def forced(self) -> bool:
        return self.state in FORCED_STATES

    def describe(self) -> str:
        """One line for a person: "forced-open, would be closed: 2% failures"."""
        head = f"{self.state}, would be {self.would_be}" if self.forced else str(self.state)
        rates = f"{self.failure_rate:.0%} failures"
        if self.slow_call_rate:
            rates += f", {self.slow_call_rate:.0%} slow"
        text = f"{head}: {rates} in {self.calls} calls"
        if self.next_probe_at is not None and self.state == BreakerState.OPEN:
            text += f", next probe at {self.next_probe_at:%H:%M:%S}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "state": self.state.value, "would_be": self.would_be.value, "reason": self.reason,
            "failure_rate": self.failure_rate, "slow_call_rate": self.slow_call_rate, "calls": self.calls,
            "in_flight": self.in_flight, "recent": list(self.recent), "opened_at": _time(self.opened_at),
            "next_probe_at": _time(self.next_probe_at), "config": self.config.to_json(),
            "successes": self.successes, "failures": self.failures, "rejected": self.rejected,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BreakerSnapshot:
        return cls(
            name=data["name"], state=BreakerState(data["state"]), would_be=BreakerState(data["would_be"]),
            reason=data["reason"], failure_rate=float(data["failure_rate"]),
            slow_call_rate=float(data["slow_call_rate"]), calls=int(data["calls"]), in_flight=int(data["in_flight"]),
            recent=tuple(data["recent"]), opened_at=_parse_time(data["opened_at"]),
            next_probe_at=_parse_time(data["next_probe_at"]), config=BreakerConfig.from_json(data["config"]),
            successes=int(data.get("successes", 0)), failures=int(data.get("failures", 0)),
            rejected=int(data.get("rejected", 0)),
        )


def wall_after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=max(seconds, 0.0))
