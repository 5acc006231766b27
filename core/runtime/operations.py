"""The Control port, implemented: operating a running process's services from any door (CLI,
admin API, dashboard). Reads the switchboard, the feed, the services and the relay it is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.kernel.envelope import OutboxRecord
from core.kernel.errors import ValidationError
from core.kernel.feed import FeedEvent
from core.runtime.service import Service
from core.runtime.switchboard import Switchboard
from ports.control import OutboxStatus, PortInfo, ServiceStatus
from ports.system import EventFeed


class Checked(Protocol):
    """A component whose `check()` returns if it answers, else raises saying what is wrong."""

    def check(self) -> None: ...


class RelayHandle(Protocol):
    """What operations need of a running relay worker."""

    running: bool
    paused: bool

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Operations:
    """Control over the services of one process. `health_checks` maps each component to the
    object whose `check()` says whether it answers (the live storage and messaging ports);
    `slot_of` names the switchboard slot of a service's store; `pid` is this process's id."""

    def __init__(self, *, switchboard: Switchboard, feed: EventFeed, services: list[Service],
                 health_checks: dict[str, Checked], slot_of: Callable[[str], str], pid: int) -> None:
        self._switchboard = switchboard
        self._feed = feed
        self._services = services
        self._health = health_checks
        self._slot_of = slot_of
        self._pid = pid
        self._relay: RelayHandle | None = None

    def attach_relay(self, relay: RelayHandle | None) -> None:
        """The relay this process runs (serve, dashboard), so operators see and steer it."""
        self._relay = relay

    @property
    def relay(self) -> RelayHandle | None:
        return self._relay

    def ports(self) -> list[PortInfo]:
        return self._switchboard.ports()

    def switch(self, port: str, adapter: str) -> PortInfo:
        return self._switchboard.switch(port, adapter)

    def recent_events(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]:
        return self._feed.recent(after_seq, limit)

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        return self._feed.subscribe(callback)

    def outbox_status(self) -> OutboxStatus:
        pending, lag = _backlog(self._services[0])
        relay = self._relay
        return OutboxStatus(pending=pending, lag_seconds=lag,
                            relay_running=relay is not None and relay.running,
                            relay_paused=relay is not None and relay.paused)

    def recent_outbox(self, limit: int = 50) -> list[OutboxRecord]:
        return self._services[0].storage.outbox.recent(limit)

    def pause_relay(self) -> None:
        self._relay_or_refuse().pause()

    def resume_relay(self) -> None:
        self._relay_or_refuse().resume()

    def rebuild_projections(self) -> int:
        return sum(service.rebuild_views() for service in self._services)

    def check_health(self) -> dict[str, str]:
        health: dict[str, str] = {}
        for name, component in self._health.items():
            try:
                component.check()
                health[name] = "ok"
            except Exception as exc:  # health reports every failure, whatever its type
                health[name] = str(exc)
        return health

    def services(self) -> list[ServiceStatus]:
        return [self._status(service) for service in self._services]

    def _status(self, service: Service) -> ServiceStatus:
        slot = self._slot_of(service.name)
        health, pending, lag = "ok", None, None
        try:
            service.storage.check()
            pending, lag = _backlog(service)
        except Exception as exc:  # a store that does not answer is reported, whatever its type
            health = str(exc) or type(exc).__name__
        return ServiceStatus(name=service.name, pid=self._pid, slot=slot, adapter=self._switchboard.active(slot),
                             health=health, outbox_pending=pending, outbox_lag_seconds=lag)

    def _relay_or_refuse(self) -> RelayHandle:
        if self._relay is None:
            raise ValidationError("relay", "no relay runs in this process")
        return self._relay


def _backlog(service: Service) -> tuple[int, float | None]:
    """The service's outbox: rows pending, and the age in seconds of the oldest (None if none)."""
    outbox = service.storage.outbox
    oldest = outbox.oldest_pending_at()
    return outbox.pending_count(), (service.clock.now() - oldest).total_seconds() if oldest else None
