"""Keeps one instance registered while its process lives: renews the lease every third of its
TTL on a thread, registers again when the lease was lost (the registry was unreachable for
longer than the TTL, or restarted), and deregisters on a clean stop. A process killed with -9
stops renewing, so its instance leaves the registry within the TTL."""

from __future__ import annotations

import logging
import threading

from core.kernel.errors import Unavailable
from ports.registry import InstanceRecord, Registration, ServiceRegistry

log = logging.getLogger("orderhex.registry")


class Heartbeat:
    def __init__(self, registry: ServiceRegistry, record: InstanceRecord, ttl_seconds: int) -> None:
        self._registry = registry
        self._record = record
        self._ttl = ttl_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._registration: Registration | None = None
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{record.key}", daemon=True)
        self.renewals = 0
        self.registrations = 0

    @property
    def registration(self) -> Registration | None:
        with self._lock:
            return self._registration

    def start(self) -> Registration:
        """Registers now (raising Unavailable if the registry cannot be reached) and keeps it."""
        registration = self._register()
        self._thread.start()
        return registration

    def stop(self, deregister: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        registration = self.registration
        if deregister and registration is not None:
            try:
                self._registry.deregister(registration)
            except Unavailable as exc:
                log.warning("could not deregister %s (its lease expires within %d s): %s",
                            self._record.key, self._ttl, exc)

    def _register(self) -> Registration:
        registration = self._registry.register(self._record, self._ttl)
        with self._lock:
            self._registration = registration
            self.registrations += 1
        log.info("registered %s at %s with a %d s lease", self._record.key, self._record.address,
                 registration.ttl_seconds, extra={"service": self._record.service,
                                                  "instance_id": self._record.instance_id})
        return registration

    def _run(self) -> None:
        # A third of the TTL: two renewals can fail (a slow registry) before the lease runs out.
        interval = max(self._ttl / 3, 0.2)
        while not self._stop.wait(interval):
            try:
                registration = self.registration
                if registration is not None and self._registry.keep_alive(registration):
                    self.renewals += 1
                    continue
                log.warning("the lease of %s was lost; registering again", self._record.key)
                self._register()
            except Unavailable as exc:
                log.warning("could not renew the lease of %s: %s", self._record.key, exc)
