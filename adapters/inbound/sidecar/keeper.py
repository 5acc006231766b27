"""Keeps one instance in the registry exactly while it is healthy: probes the service's `/ready`
every interval, feeds a HealthBoard (hysteresis: `fall` failures take it out, `rise` passes bring
it back), registers it with a lease kept alive by a heartbeat while it is up, and deregisters it
when it goes down, is drained, or the sidecar stops. A sidecar killed with -9 stops renewing, so
the instance leaves the registry within the lease's TTL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from core.kernel.errors import Unavailable
from core.runtime.health import HealthBoard, InstanceHealth, ProbeResult
from ports.registry import InstanceRecord, Registration

log = logging.getLogger("orderhex.sidecar")


class Lease(Protocol):
    """A registration kept alive on a thread: adapters/outbound/registry/heartbeat.Heartbeat."""

    renewals: int

    def start(self) -> Registration: ...

    def stop(self, deregister: bool = True) -> None: ...


LeaseFactory = Callable[[InstanceRecord, int], Lease]


def probe_ready(client: httpx.Client, upstream: str) -> ProbeResult:
    """GET `<upstream>/ready`: passes on a 2xx."""
    started = time.perf_counter()
    try:
        response = client.get(upstream.rstrip("/") + "/ready")
    except httpx.TimeoutException:
        return ProbeResult(False, "timeout")
    except httpx.ConnectError as exc:
        return ProbeResult(False, "connection refused" if "refused" in str(exc).lower() else f"cannot connect: {exc}")
    except httpx.TransportError as exc:
        return ProbeResult(False, f"{type(exc).__name__}: {exc}")
    return ProbeResult(response.is_success, f"HTTP {response.status_code}", (time.perf_counter() - started) * 1000)


class Keeper:
    def __init__(self, record: InstanceRecord, ttl_seconds: int, lease_factory: LeaseFactory,
                 probe: Callable[[], ProbeResult], board: HealthBoard, *, interval: float) -> None:
        self.record = record
        self.ttl_seconds = ttl_seconds
        self._lease_factory = lease_factory
        self._probe = probe
        self.board = board
        self.interval = interval
        self._lock = threading.Lock()
        self._lease: Lease | None = None
        self._renewals_seen = 0
        self._renewed_at: float | None = None
        self.draining = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sidecar-keeper", daemon=True)

    @property
    def registered(self) -> bool:
        with self._lock:
            return self._lease is not None

    @property
    def health(self) -> InstanceHealth:
        return self.board.health(self.record.key)

    def lease_remaining(self) -> float | None:
        """Seconds left on the lease since its last renewal seen here (within one interval), or None
        when not registered."""
        with self._lock:
            if self._lease is None or self._renewed_at is None:
                return None
            return max(0.0, self.ttl_seconds - (time.monotonic() - self._renewed_at))

    def start(self) -> None:
        self._thread.start()

    def drain(self) -> None:
        """Leave the registry now and stay out (requests in flight, and new ones sent here directly,
        are still served): the gateway stops sending traffic within one watch."""
        self.draining = True
        log.info("draining %s: deregistered, no longer offered to clients", self.record.key,
                 extra={"service": self.record.service, "instance_id": self.record.instance_id})
        self._leave()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.interval + 5)
        self._leave()

    def check_once(self) -> None:
        """One probe and what follows from it (the thread calls it every interval)."""
        result = self._probe()
        transition = self.board.record(self.record.key, result)
        if transition is not None:
            log.log(logging.WARNING if transition.state == "down" else logging.INFO,
                    "%s at %s is %s: %s", self.record.service, self.record.address, transition.state,
                    transition.reason, extra={"service": self.record.service, "instance_id": self.record.instance_id,
                                              "health": transition.state, "previous": transition.previous})
        if self.board.is_up(self.record.key) and not self.draining:
            self._join()
        elif self.registered:
            self._leave()
        self._note_renewals()

    def _join(self) -> None:
        with self._lock:
            if self._lease is not None:
                return
        lease = self._lease_factory(self.record, self.ttl_seconds)
        try:
            lease.start()
        except Unavailable as exc:
            log.warning("could not register %s (retried every %g s): %s", self.record.key, self.interval, exc)
            return
        with self._lock:
            self._lease, self._renewals_seen, self._renewed_at = lease, 0, time.monotonic()

    def _leave(self) -> None:
        with self._lock:
            lease, self._lease, self._renewed_at = self._lease, None, None
        if lease is not None:
            lease.stop(deregister=True)
            log.info("deregistered %s", self.record.key,
                     extra={"service": self.record.service, "instance_id": self.record.instance_id})

    def _note_renewals(self) -> None:
        with self._lock:
            if self._lease is not None and self._lease.renewals != self._renewals_seen:
                self._renewals_seen, self._renewed_at = self._lease.renewals, time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.check_once()
            except Exception:
                log.exception("a health check of %s failed", self.record.key)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))
