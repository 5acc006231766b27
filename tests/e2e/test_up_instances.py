"""`orderhex up --instances payments=2` with the repository's Procfile: the embedded etcd and broker,
four services each behind its sidecar, a second payments instance with its own sidecar, and the
gateway. The registry lists two payments instances (the sidecars' addresses); when the gateway
runs, requests through it reach both; SIGTERM stops every process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.inbound.up.procfile import PORT_STEP
from tests.served import ORDERHEX, free_port

pytestmark = [pytest.mark.slow, pytest.mark.etcd, pytest.mark.kafka, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("orders", "inventory", "payments", "shipping")


def free_port_and_copy() -> int:
    """A free port whose copy's port (PORT_STEP above) is free as well."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + PORT_STEP))
            except OSError:
                continue
        return port
    raise AssertionError(f"no free port with a free port {PORT_STEP} above it in 50 tries")


def registry_list(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([str(ORDERHEX), "registry", "list", "--json"], env=env, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    listed: dict[str, Any] = json.loads(done.stdout)
    return listed


def test_two_payments_instances_come_up_registered_and_stop_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    # The second payments instance and its sidecar listen PORT_STEP above the first: free too.
    pick = {s: free_port_and_copy if s == "payments" else free_port for s in SERVICES}
    ports = {f"{s.upper()}_PORT": pick[s]() for s in SERVICES}
    ports |= {f"{s.upper()}_SIDECAR_PORT": pick[s]() for s in SERVICES}
    ports["GATEWAY_PORT"] = free_port()
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_REGISTRY__TTL_SECONDS": "3",
                "ORDERHEX_HEALTH__INTERVAL_MS": "300", "ORDERHEX_MESSAGING__SESSION_TIMEOUT_MS": "6000",
                "ORDERHEX_MESSAGING__HEARTBEAT_INTERVAL_MS": "500", "ORDERHEX_API__ADMIN_TOKEN": "t-1"})
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen([str(ORDERHEX), "up", "--procfile", str(ROOT / "Procfile"), "--instances", "payments=2"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    query_env = {**env, "ORDERHEX_REGISTRY__ADAPTER": "etcd"}
    try:
        deadline = time.monotonic() + 120
        listed: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert up.poll() is None, log_path.read_text()
            if (tmp_path / "etcd").exists() or "embedded etcd runs" in log_path.read_text():
                listed = registry_list(query_env)
                if len(listed.get("payments", [])) == 2 and all(listed.get(s) for s in SERVICES):
                    break
            time.sleep(1)
        else:
            text = log_path.read_text()
            copies = [line for line in text.splitlines() if line.startswith("payments") and ".2 " in line[:24]]
            raise AssertionError(f"not every instance registered: {listed}\nthe second payments copy said:\n"
                                 + "\n".join(copies[-20:]) + f"\n...\n{text[-4000:]}")
        addresses = sorted(r["address"] for r in listed["payments"])
        sidecar = ports["PAYMENTS_SIDECAR_PORT"]
        assert addresses == sorted([f"http://127.0.0.1:{sidecar}", f"http://127.0.0.1:{sidecar + 100}"])
        # Both instances work on the payments service's one store (database per service).
        assert (tmp_path / "orderhex-payments.sqlite3").exists() and not (tmp_path / "instances").exists()
        _through_the_gateway(ports["GATEWAY_PORT"], addresses, log_path)
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(60)
    text = log_path.read_text()
    assert "stopped: registry" in text, text[-3000:]
    assert code == 0, text[-3000:]


def _through_the_gateway(port: int, addresses: list[str], log_path: Path) -> None:
    """GETs through the gateway land on both payments sidecars (their own counts)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the gateway never got ready\n{log_path.read_text()[-3000:]}"
        time.sleep(0.5)
    for _ in range(20):
        httpx.get(f"http://127.0.0.1:{port}/payments/accounts", timeout=10)
    for address in addresses:
        metrics = httpx.get(f"{address}/metrics", timeout=5).text
        served = [line for line in metrics.splitlines() if line.startswith("orderhex_sidecar_requests_total")]
        assert served, f"{address} got no request through the gateway"
