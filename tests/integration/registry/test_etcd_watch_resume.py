"""An etcd watch survives its server restarting: it resumes from the last revision it saw, so a
change made while it reconnects is not missed (a server of this test's own, restarted on the
same ports with the same data)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.outbound.registry.embedded import EtcdServer
from adapters.outbound.registry.etcd import EtcdRegistry
from ports.registry import InstanceRecord, RegistryChange
from tests.fixtures_etcd import start_etcd


def record(instance_id: str) -> InstanceRecord:
    return InstanceRecord(service="payments", instance_id=instance_id, address="http://127.0.0.1:8101",
                          started_at=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.etcd
def test_a_watch_resumes_after_etcd_restarts_without_missing_a_change(tmp_path: Path) -> None:
    server = start_etcd(tmp_path)
    seen: list[tuple[str, str]] = []
    arrived = threading.Condition()

    def on_change(change: RegistryChange) -> None:
        with arrived:
            seen.append((change.kind, change.record.instance_id))
            arrived.notify_all()

    watcher = EtcdRegistry(server.url, timeout=1.0)
    stop = watcher.watch(on_change)
    try:
        writer = EtcdRegistry(server.url)
        writer.register(record("before"), 30)
        with arrived:
            assert arrived.wait_for(lambda: len(seen) == 1, 5)
        server.stop()
        time.sleep(0.3)  # the watch notices the lost connection and starts retrying
        server = EtcdServer(tmp_path, port=server.port, peer_port=server.peer_port, fast=True)
        server.start()
        writer.register(record("after"), 30)  # possibly before the watch has reconnected
        with arrived:
            assert arrived.wait_for(lambda: len(seen) == 2, 10), seen
        writer.close()
    finally:
        stop()
        watcher.close()
        server.stop()
    assert seen == [("up", "before"), ("up", "after")]
