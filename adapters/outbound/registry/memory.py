"""The in-memory registry: instances of one process, leases timed by the Clock port.

Expiry is decided by the clock: an instance whose lease has run out is left out of every
listing at once. Watchers hear of an expiry when the registry next sweeps: on every call, and
every `sweep_every` seconds on a thread of its own when that is given (the system clock); tests
on virtual time call `sweep()` after moving their clock.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.outbound.registry.watchers import Watchers
from core.kernel.errors import ValidationError
from ports.registry import InstanceRecord, Registration, RegistryChange
from ports.system import Clock


@dataclass
class _Entry:
    record: InstanceRecord
    lease: str
    ttl: timedelta
    expires: datetime


class MemoryRegistry:
    def __init__(self, clock: Clock, sweep_every: float | None = None) -> None:
        self._clock = clock
        # Reentrant: a watch callback runs under it (so changes arrive in order) and may list.
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        self._leases = itertools.count(1)
        self._watchers = Watchers()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        if sweep_every is not None:
            self._sweeper = threading.Thread(target=self._sweep_forever, args=(sweep_every,),
                                             name="registry-sweeper", daemon=True)
            self._sweeper.start()

    def register(self, record: InstanceRecord, ttl_seconds: int) -> Registration:
        if ttl_seconds < 1:
            raise ValidationError("ttl_seconds", f"{ttl_seconds}: a lease lasts at least 1 second")
        with self._lock:
            self.sweep()
            lease = f"memory-{next(self._leases)}"
            ttl = timedelta(seconds=ttl_seconds)
            self._entries[record.key] = _Entry(record, lease, ttl, self._clock.now() + ttl)
            self._watchers.notify([RegistryChange("up", record)])
            return Registration(record, ttl_seconds, lease)

    def keep_alive(self, registration: Registration) -> bool:
        with self._lock:
            self.sweep()
            entry = self._entries.get(registration.record.key)
            if entry is None or entry.lease != registration.lease:
                return False
            entry.expires = self._clock.now() + entry.ttl
            return True

    def deregister(self, registration: Registration) -> None:
        with self._lock:
            self.sweep()
            entry = self._entries.get(registration.record.key)
            if entry is not None and entry.lease == registration.lease:
                del self._entries[registration.record.key]
                self._watchers.notify([RegistryChange("down", entry.record)])

    def instances(self, service: str) -> list[InstanceRecord]:
        with self._lock:
            self.sweep()
            found = [e.record for e in self._entries.values() if e.record.service == service]
        return sorted(found, key=lambda r: r.instance_id)

    def services(self) -> list[str]:
        with self._lock:
            self.sweep()
            return sorted({e.record.service for e in self._entries.values()})

    def watch(self, callback: Callable[[RegistryChange], None]) -> Callable[[], None]:
        return self._watchers.add(callback)

    def sweep(self) -> None:
        """Forget the instances whose lease has run out, and tell the watchers."""
        with self._lock:
            now = self._clock.now()
            expired = [key for key, entry in self._entries.items() if entry.expires <= now]
            gone = [self._entries.pop(key).record for key in expired]
            if gone:
                self._watchers.notify([RegistryChange("down", record) for record in gone])

    def describe(self) -> str:
        return "in-memory registry (this process only)"

    def check(self) -> None:
        return None

    def close(self) -> None:
        self._stop.set()
        self._watchers.clear()
        if self._sweeper is not None and self._sweeper is not threading.current_thread():
            self._sweeper.join(5)

    def _sweep_forever(self, every: float) -> None:
        while not self._stop.wait(every):
            self.sweep()
