"""The gateway's view of the upstream instances: what the registry lists (through the partition
guard, core/runtime/health.py), kept current by a watch plus a periodic re-list, and which of
them may take traffic (active health from the HealthBoard a prober feeds).

A watch callback only wakes the refresher thread: the registry contract forbids a callback that
waits on the registry, and one listing after a burst of changes is enough.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from core.kernel.errors import Unavailable
from core.runtime.health import DOWN, GuardView, HealthBoard, PartitionGuard
from ports.registry import InstanceRecord, RegistryChange, ServiceRegistry

log = logging.getLogger("orderhex.gateway")


class Upstreams:
    def __init__(self, registry: ServiceRegistry, guard: PartitionGuard, health: HealthBoard,
                 services: Iterable[str], *, refresh_seconds: float = 1.0) -> None:
        self.registry = registry
        self.guard = guard
        self.health = health
        self._services = tuple(services)
        self._refresh = refresh_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._view: GuardView = guard.view()
        self._listeners: list[Callable[[GuardView], None]] = []
        self._unwatch: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="gateway-upstreams", daemon=True)

    def start(self) -> None:
        self._unwatch = self.registry.watch(self._changed)
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unwatch is not None:
            self._unwatch()
        if self._thread.is_alive():
            self._thread.join(5)

    def on_change(self, listener: Callable[[GuardView], None]) -> None:
        """`listener(view)` after every refresh, on the refresher thread."""
        self._listeners.append(listener)

    def refresh(self) -> GuardView:
        """List every routed service's instances now and pass them through the guard."""
        try:
            services = sorted(set(self._services) | set(self.registry.services()))
            listing = {service: self.registry.instances(service) for service in services}
        except Unavailable as exc:
            view = self.guard.unreachable(str(exc))
        else:
            view = self.guard.observe(listing)
        if view.holding and not self._view.holding:
            log.warning("partition guard holds the last known instances: %s", view.reason)
        elif self._view.holding and not view.holding:
            log.info("partition guard released: %s", view.reason)
        self._view = view
        for listener in self._listeners:
            listener(view)
        return view

    def view(self) -> GuardView:
        return self._view

    def instances(self, service: str) -> tuple[InstanceRecord, ...]:
        return self._view.of(service)

    def all(self) -> list[InstanceRecord]:
        """Every instance of the view: what the prober probes."""
        return [r for records in self._view.instances.values() for r in records]

    def routable(self, service: str) -> list[InstanceRecord]:
        """Instances not marked down by the health checker (unknown ones are tried: the checker
        may not have probed a new instance yet, and passive ejection catches a bad one)."""
        return [r for r in self._view.of(service) if self.health.health(r.key).state != DOWN]

    def _changed(self, change: RegistryChange) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._refresh)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception:
                log.exception("refreshing the gateway's upstream instances failed")
