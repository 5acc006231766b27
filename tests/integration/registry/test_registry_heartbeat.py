"""The heartbeat keeps a registration alive on a thread, registers again after losing its lease,
and deregisters on a clean stop (memory registry on the system clock: real, short leases)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from adapters.outbound.registry.heartbeat import Heartbeat
from adapters.outbound.registry.memory import MemoryRegistry
from ports.registry import InstanceRecord


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


RECORD = InstanceRecord(service="payments", instance_id="p-1", address="http://127.0.0.1:8101",
                        started_at=datetime.now(UTC))


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def test_a_heartbeat_keeps_its_instance_listed_past_the_ttl_and_deregisters_on_stop() -> None:
    registry = MemoryRegistry(SystemClock(), sweep_every=0.05)
    heartbeat = Heartbeat(registry, RECORD, ttl_seconds=1)
    heartbeat.start()
    try:
        wait_for(lambda: heartbeat.renewals >= 6)  # about 2 s: twice the TTL
        assert registry.instances("payments") == [RECORD]
    finally:
        heartbeat.stop()
    assert registry.instances("payments") == []
    registry.close()


def test_a_heartbeat_registers_again_when_its_lease_was_lost() -> None:
    registry = MemoryRegistry(SystemClock(), sweep_every=0.05)
    heartbeat = Heartbeat(registry, RECORD, ttl_seconds=1)
    lost = heartbeat.start()
    registry.deregister(lost)  # as if etcd had expired it during an outage
    try:
        wait_for(lambda: heartbeat.registrations == 2)
        assert registry.instances("payments") == [RECORD]
        assert heartbeat.registration is not None and heartbeat.registration.lease != lost.lease
    finally:
        heartbeat.stop()
        registry.close()


def test_a_heartbeat_stopped_without_deregistering_leaves_the_lease_to_expire() -> None:
    registry = MemoryRegistry(SystemClock(), sweep_every=0.05)
    heartbeat = Heartbeat(registry, RECORD, ttl_seconds=1)
    heartbeat.start()
    heartbeat.stop(deregister=False)
    assert registry.instances("payments") == [RECORD]
    wait_for(lambda: registry.instances("payments") == [], timeout=2.0)
    registry.close()
