"""The instances of the services as an operator sees them: where each answers, how long its lease
has left, its health and recent transitions, the traffic it gets; and what an operator may do to
one: drain it (out of the registry, no new traffic) or stop it. The dashboard's Services panel
reads this port; core/runtime/instances.py implements it over the ServiceRegistry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ports.registry import InstanceRecord


@dataclass(frozen=True)
class Change:
    """One health transition of an instance: `previous` -> `state` at `at`, and why."""

    at: datetime
    previous: str
    state: str
    reason: str


@dataclass(frozen=True)
class InstanceView:
    """`lease_remaining` in seconds (None: not known); `health` is up, down, unknown or draining;
    `requests_per_second` through the gateway (None: no gateway answers)."""

    record: InstanceRecord
    health: str = "unknown"
    lease_remaining: float | None = None
    transitions: tuple[Change, ...] = ()
    requests_per_second: float | None = None

    @property
    def key(self) -> str:
        return self.record.key


@dataclass(frozen=True)
class AgentStatus:
    """What an instance's sidecar says of it."""

    health: str
    lease_remaining: float | None
    transitions: tuple[Change, ...]


class InstanceAgent(Protocol):
    """Talks to the process that holds an instance's registration (its sidecar). Each method
    raises core.kernel.errors.Unavailable when that process does not answer."""

    def status(self, record: InstanceRecord) -> AgentStatus: ...

    def drain(self, record: InstanceRecord) -> None: ...

    def stop(self, record: InstanceRecord) -> None: ...


class Instances(Protocol):
    """Thread-safe. `list()` reads the registry and each instance's agent now (an agent that does
    not answer leaves its instance's health "unknown", it is still listed); `drain(key)` and
    `stop(key)` act on the instance `service/instance_id`, raising ValidationError when no such
    instance is registered and Unavailable when its agent does not answer."""

    def list(self) -> tuple[InstanceView, ...]: ...

    def drain(self, key: str) -> None: ...

    def stop(self, key: str) -> None: ...
