"""The Instances port over a ServiceRegistry: every registered instance, with what its agent (the
sidecar holding its lease) says of its health and lease, and its requests per second from the
gateway's cumulative counts, taken between two reads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from core.kernel.errors import Unavailable, ValidationError
from ports.instances import InstanceAgent, InstanceView
from ports.registry import InstanceRecord, ServiceRegistry

# Cumulative requests per instance key (service/instance_id) through the gateway, or None when
# no gateway answers.
Traffic = Callable[[], Mapping[str, float] | None]


class RegistryInstances:
    def __init__(self, registry: ServiceRegistry, agent: InstanceAgent | None = None, *,
                 traffic: Traffic | None = None, monotonic: Callable[[], float]) -> None:
        self._registry = registry
        self._agent = agent
        self._traffic = traffic
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: tuple[float, Mapping[str, float]] | None = None
        self._rates: dict[str, float] | None = None

    def list(self) -> tuple[InstanceView, ...]:
        records = [r for service in self._registry.services() for r in self._registry.instances(service)]
        rates = self._read_rates()
        return tuple(self._view(r, None if rates is None else rates.get(r.key, 0.0)) for r in records)

    def drain(self, key: str) -> None:
        agent, record = self._agent_for(key)
        agent.drain(record)

    def stop(self, key: str) -> None:
        agent, record = self._agent_for(key)
        agent.stop(record)

    def _view(self, record: InstanceRecord, rate: float | None) -> InstanceView:
        if self._agent is None:
            return InstanceView(record, requests_per_second=rate)
        try:
            status = self._agent.status(record)
        except Unavailable:
            return InstanceView(record, "unknown", requests_per_second=rate)
        return InstanceView(record, status.health, status.lease_remaining, status.transitions, rate)

    def _agent_for(self, key: str) -> tuple[InstanceAgent, InstanceRecord]:
        service, _, instance_id = key.partition("/")
        record = next((r for r in self._registry.instances(service) if r.instance_id == instance_id), None) \
            if service and instance_id else None
        if record is None:
            raise ValidationError("instance", f"{key!r} is not registered (it may have left meanwhile)")
        if self._agent is None:
            raise ValidationError("instance", f"{key}: no agent here can act on an instance")
        return self._agent, record

    def _read_rates(self) -> dict[str, float] | None:
        if self._traffic is None:
            return None
        counts = self._traffic()
        now = self._monotonic()
        with self._lock:
            if counts is None:
                self._last, self._rates = None, None
                return None
            last, self._last = self._last, (now, counts)
            if last is not None and now > last[0]:
                elapsed = now - last[0]
                self._rates = {k: max(0.0, (v - last[1].get(k, 0.0)) / elapsed) for k, v in counts.items()}
            return dict(self._rates or {})
