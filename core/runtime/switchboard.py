"""Live adapter slots: which adapter serves each port now, and switching it between commands.

A slot holds the factories of its adapters and the name of the active one. `live(slot)` hands
out an object that forwards every attribute to whichever adapter is active when it is used, so
the bus, the relay and the queries follow a switch from their next call on, without any of
them taking a callable. A switch starts the new adapter first (a failure leaves the old one
active), then closes the old one and reports AdapterSwitched on the feed. A closed adapter is
kept: switching back reopens it, with its data (a memory store's too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.kernel.errors import Unavailable, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from ports.control import PortInfo
from ports.system import Clock, EventFeed


@dataclass(frozen=True, eq=False)
class Slot:
    """A port's adapters by name (each factory opens one), the one to start with, and whether a
    person may switch it while the service runs."""

    name: str
    factories: Mapping[str, Callable[[], Any]]
    active: str
    switchable: bool = True


class Switchboard:
    def __init__(self, slots: list[Slot], *, feed: EventFeed, clock: Clock,
                 on_switch: Callable[[str, str], None] | None = None) -> None:
        self._slots = {slot.name: slot for slot in slots}
        self._active = {slot.name: slot.active for slot in slots}
        self._opened: dict[tuple[str, str], Any] = {}
        self._in_use: set[tuple[str, str]] = set()
        self._feed = feed
        self._clock = clock
        self._on_switch = on_switch
        self._lock = threading.RLock()

    def active(self, slot: str) -> str:
        return self._active[self._slot(slot).name]

    def get(self, slot: str) -> Any:
        """The active adapter of `slot`, opened on first use and kept until switched away."""
        with self._lock:
            return self._open(slot, self._active[self._slot(slot).name])

    def live(self, slot: str) -> Any:
        """An object that is always the active adapter of `slot` (see the module docstring)."""
        self._slot(slot)
        return _Live(self, slot)

    def ports(self) -> list[PortInfo]:
        return [PortInfo(name=name, active=self._active[name], available=tuple(slot.factories),
                         switchable=slot.switchable)
                for name, slot in sorted(self._slots.items())]

    def switch(self, slot: str, adapter: str) -> PortInfo:
        board = self._slots.get(slot)
        switchable = sorted(name for name, s in self._slots.items() if s.switchable)
        if board is None or not board.switchable:
            raise ValidationError("port", f"{slot!r} cannot be switched; switchable: {', '.join(switchable)}")
        if adapter not in board.factories:
            raise ValidationError("adapter", f"{adapter!r} is not an adapter of {slot}; "
                                             f"available: {', '.join(board.factories)}")
        with self._lock:
            old = self._active[slot]
            if old != adapter:
                try:
                    self._open(slot, adapter)  # start it now so a failure is reported here
                except Exception as exc:
                    raise Unavailable(f"{slot} adapter {adapter}", str(exc),
                                      f"{old} stays active; check its settings") from exc
                self._active[slot] = adapter
                if (slot, old) in self._in_use:
                    self._in_use.discard((slot, old))
                    self._opened[(slot, old)].close()
                if self._on_switch is not None:
                    self._on_switch(slot, adapter)
            self._feed.publish(FeedEvent(
                kind=FeedKind.ADAPTER_SWITCHED, text=f"{slot}: {old} -> {adapter}", at=self._clock.now(),
                data={"port": slot, "from": old, "to": adapter},
            ))
        return next(p for p in self.ports() if p.name == slot)

    def in_use(self) -> list[tuple[str, str]]:
        """(slot, adapter) of every adapter opened and not closed since."""
        with self._lock:
            return sorted(self._in_use)

    def close(self) -> None:
        """Close every adapter this switchboard opened (and only those)."""
        with self._lock:
            in_use, self._in_use = self._in_use, set()
            adapters = [self._opened[key] for key in sorted(in_use)]
        for adapter in adapters:
            adapter.close()

    def _open(self, slot: str, adapter: str) -> Any:
        key = (slot, adapter)
        if key not in self._opened:
            self._opened[key] = self._slots[slot].factories[adapter]()
        self._in_use.add(key)
        return self._opened[key]

    def _slot(self, name: str) -> Slot:
        try:
            return self._slots[name]
        except KeyError:
            raise ValidationError("port", f"no port {name!r}; ports: {', '.join(sorted(self._slots))}") from None


class _Live:
    __slots__ = ("_board", "_slot")

    def __init__(self, board: Switchboard, slot: str) -> None:
        self._board = board
        self._slot = slot

    def __getattr__(self, name: str) -> Any:
        return getattr(self._board.get(self._slot), name)

    def __repr__(self) -> str:
        return f"<live {self._slot}: {self._board.active(self._slot)}>"
