"""The Control port, implemented: operating a running process's services from any door (CLI,
admin API, dashboard). Reads the switchboard, the feed, the services and the relay it is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.kernel.envelope import OutboxRecord
from core.kernel.errors import NotFound, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from core.runtime.service import Service
from core.runtime.switchboard import Switchboard
from ports.control import OutboxStatus, ParkedOutboxRow, PortInfo, ServiceStatus
from ports.storage import ParkedRow
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
        parked = sum(len(service.storage.outbox.parked()) for service in self._stores())
        return OutboxStatus(pending=pending, lag_seconds=lag,
                            relay_running=relay is not None and relay.running,
                            relay_paused=relay is not None and relay.paused, parked=parked)

    def recent_outbox(self, limit: int = 50) -> list[OutboxRecord]:
        return self._services[0].storage.outbox.recent(limit)

    def pause_relay(self) -> None:
        self._relay_or_refuse().pause()

    def resume_relay(self) -> None:
        self._relay_or_refuse().resume()

    def parked_rows(self) -> list[ParkedOutboxRow]:
        return [_parked(service.name, row) for service in self._stores() for row in service.storage.outbox.parked()]

    def retry_parked(self, seq: int, service: str | None = None) -> ParkedOutboxRow:
        owner, row = self._parked_row(seq, service)
        if not owner.storage.outbox.retry(seq):
            raise NotFound("parked outbox row", f"{seq} of {owner.name}")
        self._report(row, "retried", "the relay sends it again, then the rows of its key that waited behind it")
        return row

    def drop_parked(self, seq: int, service: str | None = None) -> ParkedOutboxRow:
        owner, row = self._parked_row(seq, service)
        if owner.storage.outbox.drop(seq) is None:
            raise NotFound("parked outbox row", f"{seq} of {owner.name}")
        self._report(row, "dropped", "it is never published; the rows of its key go on")
        return row

    def _parked_row(self, seq: int, service: str | None) -> tuple[Service, ParkedOutboxRow]:
        stores = self._stores()
        if service is not None:
            slot = self._slot_of(service) if any(s.name == service for s in self._services) else None
            stores = [s for s in stores if self._slot_of(s.name) == slot]
            if not stores:
                known = ", ".join(s.name for s in self._services)
                raise ValidationError("service", f"must be one of {known}, got {service!r}")
        found = [(s, row) for s in stores for row in s.storage.outbox.parked() if row.record.seq == seq]
        if not found:
            raise NotFound("parked outbox row", str(seq))
        if len(found) > 1:
            names = ", ".join(s.name for s, _ in found)
            raise ValidationError("service", f"seq {seq} is parked in the stores of {names}: name one of them")
        owner, row = found[0]
        return owner, _parked(owner.name, row)

    def _stores(self) -> list[Service]:
        """One service per store: services sharing a store share its outbox."""
        firsts: dict[str, Service] = {}
        for service in self._services:
            firsts.setdefault(self._slot_of(service.name), service)
        return list(firsts.values())

    def _report(self, row: ParkedOutboxRow, action: str, what: str) -> None:
        self._feed.publish(FeedEvent(
            kind=FeedKind.OUTBOX_PARKED, at=self._services[0].clock.now(),
            text=f"parked outbox row seq {row.seq} of {row.service} ({row.type}, key {row.key}) {action}: {what}",
            data={"action": action, "seq": row.seq, "service": row.service,
                  "event_id": row.event_id, "key": row.key, "type": row.type}))

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


def _parked(service: str, parked: ParkedRow) -> ParkedOutboxRow:
    record = parked.record
    return ParkedOutboxRow(service=service, seq=record.seq, event_id=record.event_id, key=record.aggregate_id,
                           type=record.type, topic=record.topic, reason=parked.reason, parked_at=parked.parked_at,
                           created_at=record.created_at, payload_bytes=len(record.payload.encode()))


def _backlog(service: Service) -> tuple[int, float | None]:
    """The service's outbox: rows pending, and the age in seconds of the oldest (None if none)."""
    outbox = service.storage.outbox
    oldest = outbox.oldest_pending_at()
    return outbox.pending_count(), (service.clock.now() - oldest).total_seconds() if oldest else None
