"""Which registered instances can take traffic: active health state with hysteresis, and a
partition guard that will not empty the pool when most leases vanish at once.

Both are pure state machines on the Clock port; a prober (adapters/outbound/registry/prober.py)
feeds `HealthBoard.record` with probe results, and whoever follows the registry (the gateway)
feeds `PartitionGuard.observe` with what it lists. Both are thread-safe: a prober thread writes
while request threads and a dashboard read.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.kernel.errors import ValidationError
from ports.registry import InstanceRecord
from ports.system import Clock

UNKNOWN, UP, DOWN = "unknown", "up", "down"


@dataclass(frozen=True)
class HealthSettings:
    """`fall`: consecutive failed probes that take an up instance down; `rise`: consecutive
    passes that bring a down one back (a flapping instance stays down until it holds). A new
    instance is up after its first pass, down after `fall` failures (it may still be starting).
    `keep_transitions`: how many of each instance's recent transitions are kept."""

    fall: int = 3
    rise: int = 2
    keep_transitions: int = 20

    def __post_init__(self) -> None:
        for name in ("fall", "rise", "keep_transitions"):
            if getattr(self, name) < 1:
                raise ValidationError(f"health.{name}", f"{getattr(self, name)}: must be at least 1")


@dataclass(frozen=True)
class ProbeResult:
    """One probe: passed or not, and why in a few words ("HTTP 200", "HTTP 503", "timeout after
    1.0 s", "connection refused")."""

    ok: bool
    reason: str
    latency_ms: float | None = None


@dataclass(frozen=True)
class Transition:
    at: datetime
    previous: str
    state: str
    reason: str


@dataclass(frozen=True)
class InstanceHealth:
    """What the board knows of one instance (`key` is its service/instance_id)."""

    key: str
    state: str = UNKNOWN
    since: datetime | None = None
    passes: int = 0
    failures: int = 0
    last_reason: str = ""
    last_probe_at: datetime | None = None
    transitions: tuple[Transition, ...] = ()

    @property
    def up(self) -> bool:
        return self.state == UP

    @property
    def down_reason(self) -> str:
        """Why it went down the last time it did ("" if it never did)."""
        return next((t.reason for t in reversed(self.transitions) if t.state == DOWN), "")


class HealthBoard:
    """Up/down per instance from consecutive probe results (hysteresis), with transitions."""

    def __init__(self, clock: Clock, settings: HealthSettings | None = None) -> None:
        self._clock = clock
        self.settings = settings or HealthSettings()
        self._lock = threading.Lock()
        self._health: dict[str, InstanceHealth] = {}
        self._transitions: dict[str, deque[Transition]] = {}

    def record(self, key: str, result: ProbeResult) -> Transition | None:
        """Take one probe result; returns the transition it caused, if any."""
        now = self._clock.now()
        with self._lock:
            current = self._health.get(key) or InstanceHealth(key, since=now)
            passes = current.passes + 1 if result.ok else 0
            failures = 0 if result.ok else current.failures + 1
            state = self._next_state(current.state, passes, failures)
            transitions = self._transitions.setdefault(key, deque(maxlen=self.settings.keep_transitions))
            transition = None
            if state != current.state:
                repeated = state == DOWN and failures > 1
                reason = f"{failures} failed probes: {result.reason}" if repeated else result.reason
                transition = Transition(now, current.state, state, reason)
                transitions.append(transition)
            self._health[key] = InstanceHealth(
                key, state, now if transition else current.since, passes, failures, result.reason, now,
                tuple(transitions))
            return transition

    def _next_state(self, state: str, passes: int, failures: int) -> str:
        if state == UNKNOWN:
            return UP if passes >= 1 else DOWN if failures >= self.settings.fall else UNKNOWN
        if state == UP:
            return DOWN if failures >= self.settings.fall else UP
        return UP if passes >= self.settings.rise else DOWN

    def health(self, key: str) -> InstanceHealth:
        with self._lock:
            return self._health.get(key) or InstanceHealth(key)

    def is_up(self, key: str) -> bool:
        return self.health(key).up

    def snapshot(self) -> dict[str, InstanceHealth]:
        with self._lock:
            return dict(self._health)

    def retain(self, keys: Iterable[str]) -> None:
        """Forget every instance not in `keys` (they left the registry)."""
        keep = set(keys)
        with self._lock:
            for key in [k for k in self._health if k not in keep]:
                del self._health[key]
                self._transitions.pop(key, None)


# ---------------------------------------------------------------------------------------------
# The partition guard.


@dataclass(frozen=True)
class GuardSettings:
    """Hold when more than `threshold_percent` of the known instances (at least
    `min_instances` of them) vanished within `window_seconds`; release when enough are back or
    after `hold_seconds`. `window_seconds` spans the lease expiries of one event: the leases of
    instances cut off together run out within about one keep-alive interval of each other."""

    threshold_percent: int = 50
    min_instances: int = 3
    window_seconds: float = 3.0
    hold_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.threshold_percent < 100:
            raise ValidationError("registry.partition_threshold_percent",
                                  f"{self.threshold_percent}: must be between 1 and 99")
        if self.min_instances < 1 or self.window_seconds <= 0 or self.hold_seconds <= 0:
            raise ValidationError("registry.partition", "min_instances, window and hold must be positive")


@dataclass(frozen=True)
class GuardView:
    """The instances to route to, by service, and whether they are held: `holding` True means
    the registry's own list was not believed (`reason` says why and since when), so a
    dashboard shows it; `reason` after a release says what ended the hold."""

    instances: Mapping[str, tuple[InstanceRecord, ...]]
    holding: bool = False
    reason: str = ""
    since: datetime | None = None

    def of(self, service: str) -> tuple[InstanceRecord, ...]:
        return self.instances.get(service, ())


@dataclass
class _Held:
    records: dict[str, InstanceRecord]
    since: datetime
    reason: str
    unreachable: bool = False
    lost: set[str] = field(default_factory=set)


class PartitionGuard:
    """Feed `observe(listing)` with what the registry lists now (after every change or poll) and
    `unreachable(reason)` when it cannot be listed; route to `view().instances`.

    When most instances vanish within one window, the last known list is kept and flagged:
    more likely the registry (or the path to it) failed than every service at once. New instances
    still join while holding. The hold ends when at least the threshold's share of the held
    instances is listed again, or after `hold_seconds` (the loss was real). An unreachable
    registry holds with no time limit: there is nothing newer to believe, and the health
    checker still takes dead instances out of rotation.
    """

    def __init__(self, clock: Clock, settings: GuardSettings | None = None) -> None:
        self._clock = clock
        self.settings = settings or GuardSettings()
        self._lock = threading.Lock()
        self._known: dict[str, InstanceRecord] = {}
        self._vanished: deque[tuple[datetime, InstanceRecord]] = deque()
        self._held: _Held | None = None
        self._note = ""

    def observe(self, listing: Mapping[str, Iterable[InstanceRecord]]) -> GuardView:
        now = self._clock.now()
        current = {r.key: r for records in listing.values() for r in records}
        with self._lock:
            window = timedelta(seconds=self.settings.window_seconds)
            while self._vanished and now - self._vanished[0][0] > window:
                self._vanished.popleft()
            if self._held is not None:
                self._follow_hold(now, current)
            else:
                gone = [r for k, r in self._known.items() if k not in current]
                self._vanished.extend((now, r) for r in gone)
                recent = {r.key: r for _, r in self._vanished if r.key not in current}
                base = len(current) + len(recent)
                if (base >= self.settings.min_instances
                        and len(recent) * 100 > self.settings.threshold_percent * base):
                    self._held = _Held({**recent, **current}, now, (
                        f"{len(recent)} of {base} instances vanished within {self.settings.window_seconds:g} s "
                        f"({', '.join(sorted(recent))}): keeping the last known list until they are back "
                        f"or {self.settings.hold_seconds:g} s have passed"), lost=set(recent))
                    self._vanished.clear()
            self._known = current
            return self._view()

    def unreachable(self, reason: str) -> GuardView:
        now = self._clock.now()
        with self._lock:
            if self._held is None:
                self._held = _Held(dict(self._known), now, f"the registry cannot be listed ({reason}): "
                                                           "keeping the last known list until it answers",
                                   unreachable=True)
            return self._view()

    def view(self) -> GuardView:
        with self._lock:
            return self._view()

    def _follow_hold(self, now: datetime, current: dict[str, InstanceRecord]) -> None:
        held = self._held
        assert held is not None
        if held.unreachable:
            # The registry answers again: believe it, unless it now lists most instances as gone.
            self._held, self._note = None, f"the registry answers again (held since {held.since.isoformat()})"
            self._vanished.clear()
            lost = [k for k in held.records if k not in current]
            if len(held.records) >= self.settings.min_instances and \
                    len(lost) * 100 > self.settings.threshold_percent * len(held.records):
                self._held = _Held(dict(held.records), now, (
                    f"the registry answers again but lists {len(lost)} of {len(held.records)} instances as gone: "
                    f"keeping the last known list until they are back or {self.settings.hold_seconds:g} s "
                    "have passed"), lost=set(lost))
                self._held.records.update(current)
            return
        back = [k for k in held.lost if k in current]
        still_lost = len(held.lost) - len(back)
        total = len(held.records)
        if still_lost * 100 <= self.settings.threshold_percent * total:
            self._held, self._note = None, f"instances are back ({len(back)} of {len(held.lost)}): the hold is over"
        elif now - held.since >= timedelta(seconds=self.settings.hold_seconds):
            self._held, self._note = None, (f"{still_lost} instances stayed away for {self.settings.hold_seconds:g} s: "
                                            "the hold is over, they are gone")
        else:
            held.records.update(current)  # newcomers join while holding

    def _view(self) -> GuardView:
        if self._held is not None:
            by_service: dict[str, list[InstanceRecord]] = {}
            for record in self._held.records.values():
                by_service.setdefault(record.service, []).append(record)
            return GuardView(_sorted(by_service), True, self._held.reason, self._held.since)
        by_service = {}
        for record in self._known.values():
            by_service.setdefault(record.service, []).append(record)
        return GuardView(_sorted(by_service), False, self._note)


def _sorted(by_service: Mapping[str, list[InstanceRecord]]) -> dict[str, tuple[InstanceRecord, ...]]:
    return {s: tuple(sorted(rs, key=lambda r: r.instance_id)) for s, rs in sorted(by_service.items())}
