from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

    def to_json(self) -> dict[str, Any]:
        return {"pending": self.pending, "lag_seconds": self.lag_seconds, "relay_running": self.relay_running,
                "relay_paused": self.relay_paused}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboxStatus:
        return cls(pending=int(data["pending"]), lag_seconds=data["lag_seconds"],
                   relay_running=bool(data["relay_running"]), relay_paused=bool(data["relay_paused"]))


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

    def rebuild_projections(self) -> int: ...
