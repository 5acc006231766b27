from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.kernel.envelope import OutboxRecord
from core.kernel.feed import FeedEvent


@dataclass(frozen=True, kw_only=True)
class PortInfo:
    """A port, the adapter now serving it, and the ones it can switch to."""

    name: str
    active: str
    available: tuple[str, ...]
    switchable: bool = True

    def to_json(self) -> dict[str, Any]:
        """The port as every door shows it (CLI --json, the admin API, the attach client)."""
        return {"port": self.name, "active": self.active, "available": list(self.available),
                "switchable": self.switchable}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PortInfo:
        return cls(name=data["port"], active=data["active"], available=tuple(data["available"]),
                   switchable=bool(data["switchable"]))


@dataclass(frozen=True, kw_only=True)
class OutboxStatus:
    """The outbox as an operator sees it. `lag_seconds` is the age of the oldest unpublished row."""

    pending: int
    lag_seconds: float | None
    relay_running: bool
    relay_paused: bool
    # Rows the broker refused, waiting for an operator, in every store of the process.
    parked: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"pending": self.pending, "lag_seconds": self.lag_seconds, "relay_running": self.relay_running,
                "relay_paused": self.relay_paused, "parked": self.parked}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboxStatus:
        return cls(pending=int(data["pending"]), lag_seconds=data["lag_seconds"],
                   relay_running=bool(data["relay_running"]), relay_paused=bool(data["relay_paused"]),
                   parked=int(data.get("parked", 0)))


@dataclass(frozen=True, kw_only=True)
class ParkedOutboxRow:
    """An outbox row the broker refused for good, as an operator sees it: the store it waits in
    (named by the first `service` of that store), its `seq` there, the message, why it was
    refused and when. The payload is only measured (`payload_bytes`): it may be what was too large."""

    service: str
    seq: int
    event_id: str
    key: str
    type: str
    topic: str
    reason: str
    parked_at: datetime
    created_at: datetime
    payload_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "seq": self.seq, "event_id": self.event_id, "key": self.key,
                "type": self.type, "topic": self.topic, "reason": self.reason,
                "parked_at": self.parked_at.isoformat(), "created_at": self.created_at.isoformat(),
                "payload_bytes": self.payload_bytes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParkedOutboxRow:
        return cls(service=data["service"], seq=int(data["seq"]), event_id=data["event_id"], key=data["key"],
                   type=data["type"], topic=data["topic"], reason=data["reason"],
                   parked_at=datetime.fromisoformat(data["parked_at"]),
                   created_at=datetime.fromisoformat(data["created_at"]), payload_bytes=int(data["payload_bytes"]))


@dataclass(frozen=True, kw_only=True)
class ServiceStatus:
    """One service of the application as an operator sees it.

    `pid` is the process it runs in; `slot` the switchboard port of its store (its own, or the one
    `storage` every service shares) and `adapter` what serves that slot now; `health` is "ok" or
    what is wrong with the store. `outbox_pending` and `outbox_lag_seconds` (the age of the oldest
    unpublished row, None when none is pending) are its store's outbox: services sharing a store
    share its outbox, and each shows all of it; both are None when the store does not answer.
    `consumer_lag`, the messages its consumer has yet to read, is not measured yet: always None."""

    name: str
    pid: int
    slot: str
    adapter: str
    health: str
    outbox_pending: int | None
    outbox_lag_seconds: float | None
    consumer_lag: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The service as every door shows it (the admin API, the attach client)."""
        return {"service": self.name, "pid": self.pid, "slot": self.slot, "adapter": self.adapter,
                "health": self.health, "outbox_pending": self.outbox_pending,
                "outbox_lag_seconds": self.outbox_lag_seconds, "consumer_lag": self.consumer_lag}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceStatus:
        pending, consumer_lag = data["outbox_pending"], data["consumer_lag"]
        return cls(name=data["service"], pid=int(data["pid"]), slot=data["slot"], adapter=data["adapter"],
                   health=data["health"], outbox_pending=None if pending is None else int(pending),
                   outbox_lag_seconds=data["outbox_lag_seconds"],
                   consumer_lag=None if consumer_lag is None else int(consumer_lag))


class Control(Protocol):
    """Operating the running application: adapters and the feed (breakers and sagas come later).

    Contract:
    - `ports()` lists every port with its active and available adapters, sorted by name.
    - `switch(port, adapter)` makes `adapter` serve `port` from the next command on, closes
      what the old one held, and publishes ADAPTER_SWITCHED on the feed. An unknown port or
      adapter raises ValidationError naming the allowed values; a failing start raises
      Unavailable and leaves the old adapter active.
    - `recent_events` / `subscribe` read the EventFeed.
    - `outbox_status()` and `recent_outbox(limit)` (newest first) show the active store's outbox;
      `pause_relay()` / `resume_relay()` stop and restart publishing without losing rows.
    - `check_health()` maps each component (storage, messaging) to "ok" or what is wrong.
    - `services()` lists the services this application runs, in the order it runs them (orders,
      inventory, payments, shipping), each a ServiceStatus: the process, the store's slot, adapter
      and health, and its outbox's backlog. A store that does not answer is reported in its
      service's `health` (outbox figures None), never raised. Consumer lag is not measured yet.
    - `parked_rows()` lists the outbox rows the broker refused for good, in every store of the
      process (by service, then seq). `retry_parked(seq, service)` makes one claimable again (the
      relay sends it, then the rows of its key that waited behind it); `drop_parked(seq, service)`
      deletes it for good (the rows behind it go on). Both return the row and report it on the
      feed (OUTBOX_PARKED). `service` names the store, and may be None while only one store has
      that seq parked; a seq not parked raises NotFound, an ambiguous one ValidationError.
    - `rebuild_projections()` recomputes the read model from the event store (event-sourced
      orders) or from the orders (state storage) and returns how many items it replayed.
    """

    def ports(self) -> list[PortInfo]: ...

    def switch(self, port: str, adapter: str) -> PortInfo: ...

    def recent_events(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]: ...

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]: ...

    def outbox_status(self) -> OutboxStatus: ...

    def recent_outbox(self, limit: int = 50) -> list[OutboxRecord]: ...

    def pause_relay(self) -> None: ...

    def resume_relay(self) -> None: ...

    def check_health(self) -> dict[str, str]: ...

    def services(self) -> list[ServiceStatus]: ...

    def parked_rows(self) -> list[ParkedOutboxRow]: ...

    def retry_parked(self, seq: int, service: str | None = None) -> ParkedOutboxRow: ...

    def drop_parked(self, seq: int, service: str | None = None) -> ParkedOutboxRow: ...

    def rebuild_projections(self) -> int: ...
