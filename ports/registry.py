"""Service discovery: which instances of which service run now, and where.

An instance registers itself with a lease of a few seconds and keeps the lease alive while it
lives; when it stops renewing (a kill -9, a partition) the registry forgets it within the TTL.
Clients list the live instances of a service and watch instances appear and vanish. The
docstrings are the contract tests/contract/test_registry.py holds every adapter to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from core.kernel.errors import ValidationError


@dataclass(frozen=True)
class InstanceRecord:
    """One running instance of a service. `address` is its base URL (`http://127.0.0.1:8101`);
    `instance_id` is unique within the service; `pid` 0 and `version` "" mean unknown (a
    statically listed instance); `started_at` is timezone-aware (UTC)."""

    service: str
    instance_id: str
    address: str
    version: str = ""
    pid: int = 0
    started_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        for name in ("service", "instance_id"):
            value = getattr(self, name)
            if not value or "/" in value:
                raise ValidationError(name, f"{value!r}: must be non-empty and contain no '/'")
        if not self.address.startswith(("http://", "https://")):
            raise ValidationError("address", f"{self.address!r}: must be a base URL like http://127.0.0.1:8101")
        if self.started_at.tzinfo is None:
            raise ValidationError("started_at", "must be timezone-aware")

    @property
    def key(self) -> str:
        """`service/instance_id`: unique across the registry."""
        return f"{self.service}/{self.instance_id}"

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "instance_id": self.instance_id, "address": self.address,
                "version": self.version, "pid": self.pid, "started_at": self.started_at.isoformat()}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstanceRecord:
        try:
            return cls(service=str(data["service"]), instance_id=str(data["instance_id"]),
                       address=str(data["address"]), version=str(data.get("version") or ""),
                       pid=int(data.get("pid") or 0),
                       started_at=datetime.fromisoformat(str(data["started_at"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError("instance", f"not an instance record ({exc}): {data!r}") from exc

    @classmethod
    def loads(cls, text: str | bytes) -> InstanceRecord:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationError("instance", f"not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValidationError("instance", f"not a JSON object: {data!r}")
        return cls.from_json(data)


@dataclass(frozen=True)
class Registration:
    """What `register` hands back: the record, its lease's TTL and the lease's id in the registry
    (opaque to callers). Pass it to `keep_alive` and `deregister`."""

    record: InstanceRecord
    ttl_seconds: int
    lease: str


@dataclass(frozen=True)
class RegistryChange:
    """An instance appeared (`kind` "up": registered, or its record replaced) or vanished
    ("down": deregistered, or its lease expired). `record` is the instance's record; for "down"
    it is the last one the registry held."""

    kind: str
    record: InstanceRecord

    def __post_init__(self) -> None:
        if self.kind not in ("up", "down"):
            raise ValidationError("kind", f"{self.kind!r}: must be up or down")


class ServiceRegistry(Protocol):
    """Where instances of services register and clients find them. Thread-safe.

    Contract:
    - `register(record, ttl_seconds)` stores the record under a new lease of `ttl_seconds`
      (at least 1; a registry may grant more, and says so in the Registration) and returns its
      Registration. Registering the same service/instance_id again replaces the record (and its
      lease). A registry that cannot hold the record (the static one, for an instance its list
      does not name) raises ValidationError saying what to do instead.
    - `instances(service)` lists the live instances of a service (their lease not expired and
      not revoked), sorted by instance_id; `services()` the names of services with at least one
      live instance, sorted. An expired lease's instance is gone from both at the latest one
      second after its TTL has passed without a keep-alive.
    - `keep_alive(registration)` renews the lease for another TTL and returns True; it returns
      False when the lease is already gone (expired or deregistered): the caller must register
      again. adapters.outbound.registry.heartbeat.Heartbeat does both on a thread.
    - `deregister(registration)` removes the instance at once; doing it twice is not an error.
    - `watch(callback)` calls `callback(RegistryChange)` for every change made after `watch`
      returned (an expiry included), within about a second, in the order the registry made
      them, on the adapter's thread or the one that made the change (so a callback must be quick
      and must not wait for another thread that is changing the registry); it returns a function
      that stops the watch, after which the callback is not called again. A callback that raises
      is logged and the watch goes on.
    - `describe()` says in one line which registry this is (no secrets); `check()` raises
      core.kernel.errors.Unavailable naming the registry, why and what to do, when it cannot be
      reached; every other method raises the same when it cannot reach the registry.
    - `close()` stops watches and releases connections; leases it granted are left to expire
      (an instance that must leave at once deregisters first).
    """

    def register(self, record: InstanceRecord, ttl_seconds: int) -> Registration: ...

    def keep_alive(self, registration: Registration) -> bool: ...

    def deregister(self, registration: Registration) -> None: ...

    def instances(self, service: str) -> list[InstanceRecord]: ...

    def services(self) -> list[str]: ...

    def watch(self, callback: Callable[[RegistryChange], None]) -> Callable[[], None]: ...

    def describe(self) -> str: ...

    def check(self) -> None: ...

    def close(self) -> None: ...
