"""The issue's test: `orderhex up --instances payments=2 --instances orders=2` (the embedded etcd and
broker, every service behind its sidecar, the gateway), load through the gateway, and one payments
instance and one orders instance killed with SIGKILL (the sidecar the registry lists and the service
behind it, as when their machine dies).

Measured and printed: the seconds until the gateway stops routing to each killed instance (health
checks or passive ejection take it out of rotation) and until it leaves the gateway's pool (its
lease runs out), and the requests that failed meanwhile. Asserted: out of rotation within the lease
TTL plus one health interval; no GET fails (the gateway retries safe requests elsewhere); no POST
reached an instance twice through the gateway (a write that may have arrived is never resent; the
client gets the failure), and the client's own retries with the same Idempotency-Key never make a
second order: every customer, one per key, has exactly one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_up_instances import registry_list
from tests.served import ORDERHEX, free_port

pytestmark = [pytest.mark.slow, pytest.mark.etcd, pytest.mark.kafka, pytest.mark.timeout(400)]
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("orders", "inventory", "payments", "shipping")
TTL = 3
HEALTH_MS = 300
KEY = "load-key-k9"
CLIENT_RETRIES = 20
ORDER_LINE = {"sku": "SKU-1", "quantity": 1, "unit_price": "1.00"}


@dataclass
class Load:
    """Requests through the gateway from a few threads until `stop` is set."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    served: Counter[str] = field(default_factory=Counter)
    get_failures: list[tuple[float, str]] = field(default_factory=list)
    post_failures: list[tuple[float, str]] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)  # customers, one order each intended
    unplaced: list[str] = field(default_factory=list)

    def gets(self, path: str) -> None:
        with httpx.Client(base_url=self.url, headers={"X-API-Key": KEY}, timeout=15) as client:
            while not self.stop.is_set():
                try:
                    answer = client.get(path)
                    failed = f"{answer.status_code} {answer.text[:200]}" if answer.status_code != 200 else ""
                except httpx.TransportError as exc:
                    answer, failed = None, f"{type(exc).__name__}: {exc}"
                with self.lock:
                    if failed:
                        self.get_failures.append((time.monotonic(), f"GET {path}: {failed}"))
                    elif answer is not None:
                        self.served[answer.headers["x-served-by"]] += 1

    def posts(self, worker: int) -> None:
        """Each order once, by its own customer and key; a failure is retried by this client, the
        same key each time, as the gateway's answer tells it to."""
        with httpx.Client(base_url=self.url, headers={"X-API-Key": KEY}, timeout=15) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                customer = f"k9-{worker}-{n}"
                body = {"customer_id": customer, "currency": "EUR", "lines": [ORDER_LINE]}
                for _ in range(CLIENT_RETRIES):
                    try:
                        answer = client.post("/orders", json=body, headers={
                            "Idempotency-Key": f"key-{customer}", "X-Request-Id": f"post-{customer}"})
                        failed = "" if answer.status_code in (200, 201) else f"{answer.status_code} {answer.text[:200]}"
                    except httpx.TransportError as exc:
                        answer, failed = None, f"{type(exc).__name__}: {exc}"
                    if not failed:
                        with self.lock:
                            self.placed.append(customer)
                            if answer is not None:
                                self.served[answer.headers["x-served-by"]] += 1
                        break
                    with self.lock:
                        self.post_failures.append((time.monotonic(), f"POST {customer}: {failed}"))
                    time.sleep(0.2)
                else:
                    with self.lock:
                        self.unplaced.append(customer)


def _environment(tmp_path: Path) -> tuple[dict[str, str], dict[str, int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    ports = {f"{s.upper()}_PORT": free_port() for s in SERVICES}
    ports |= {f"{s.upper()}_SIDECAR_PORT": free_port() for s in SERVICES}
    ports["GATEWAY_PORT"] = free_port()
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_REGISTRY__TTL_SECONDS": str(TTL),
                "ORDERHEX_HEALTH__INTERVAL_MS": str(HEALTH_MS), "ORDERHEX_HEALTH__FALL": "2",
                "ORDERHEX_MESSAGING__SESSION_TIMEOUT_MS": "6000", "ORDERHEX_MESSAGING__HEARTBEAT_INTERVAL_MS": "500",
                "ORDERHEX_API__ADMIN_TOKEN": "t-k9", "ORDERHEX_LOG__FORMAT": "json",
                "ORDERHEX_GATEWAY__API_KEY": f"load={KEY}=admin", "ORDERHEX_GATEWAY__RATE_LIMIT": "100000/second",
                "ORDERHEX_GATEWAY__REFRESH_MS": "200", "ORDERHEX_DEMO__SEED": "false"})
    return env, ports


def _pids(log_path: Path) -> dict[str, int]:
    """Each process's pid as `orderhex up` reported it ("started NAME (pid N)")."""
    found = {}
    for line in log_path.read_text(errors="replace").splitlines():
        head, _, text = line.partition(" | ")
        if head.strip() == "up" and text.startswith("started "):
            name, pid = text.split()[1], text.split("(pid ")[1].split(")")[0]
            found[name] = int(pid)
    return found


def _pool(gateway: str) -> dict[str, dict[str, Any]]:
    """The gateway's instances by instance key (service/instance_id)."""
    body = httpx.get(f"{gateway}/gateway/upstreams", headers={"X-API-Key": KEY}, timeout=5).json()
    return {f"{service}/{i['instance_id']}": i for service, instances in body["services"].items()
            for i in instances}


def _routable(instance: dict[str, Any] | None) -> bool:
    return instance is not None and instance["health"] != "down" and not instance["ejected"] \
        and instance["breaker"] != "open"


def _wait_ready(up: subprocess.Popen[bytes], env: dict[str, str], gateway: str, log_path: Path,
                expected: set[str]) -> None:
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert up.poll() is None, log_path.read_text()[-4000:]
        if "embedded etcd runs" in log_path.read_text(errors="replace"):
            listed = registry_list({**env, "ORDERHEX_REGISTRY__ADAPTER": "etcd"})
            if len(listed.get("payments", [])) == 2 and len(listed.get("orders", [])) == 2 \
                    and all(listed.get(s) for s in SERVICES):
                try:
                    pool = _pool(gateway)
                    if expected <= {k for k, i in pool.items() if i["health"] == "up"}:
                        return
                except (httpx.TransportError, json.JSONDecodeError, KeyError):
                    pass
        time.sleep(0.5)
    raise AssertionError(f"the topology did not come up\n{log_path.read_text()[-4000:]}")


def _gateway_posts(log_path: Path) -> list[dict[str, Any]]:
    """The gateway's access-log lines of POST /orders (JSON after `gateway | `)."""
    lines = []
    for line in log_path.read_text(errors="replace").splitlines():
        head, _, text = line.partition(" | ")
        if head.strip() != "gateway" or not text.startswith("{"):
            continue
        entry = json.loads(text)
        if entry.get("logger") == "orderhex.gateway.access" and entry.get("method") == "POST":
            lines.append(entry)
    return lines


def _orders_per_customer(gateway: str, customers: list[str]) -> dict[str, int]:
    """How many orders each customer has, read through the gateway (both orders instances share
    the orders store, so either one answers for both)."""
    with httpx.Client(base_url=gateway, headers={"X-API-Key": KEY}, timeout=15) as client:
        counts = {}
        for customer in customers:
            answer = client.get("/orders", params={"customer": customer, "limit": 10})
            assert answer.status_code == 200, answer.text
            counts[customer] = len(answer.json()["items"])
        return counts


def test_kill9_of_one_payments_and_one_orders_instance_under_load(tmp_path: Path) -> None:
    env, ports = _environment(tmp_path)
    gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    sidecar = {s: ports[f"{s.upper()}_SIDECAR_PORT"] for s in ("orders", "payments")}
    # The second copy of each (ports + 100) is the one killed; the first keeps serving.
    dead = {s: f"{s}/127.0.0.1:{port + 100}" for s, port in sidecar.items()}
    alive = {s: f"{s}/127.0.0.1:{port}" for s, port in sidecar.items()}
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen([str(ORDERHEX), "up", "--procfile", str(ROOT / "Procfile"), "--instances", "payments=2",
                               "--instances", "orders=2"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    load = Load(gateway)
    threads = [threading.Thread(target=load.gets, args=("/payments/accounts",)),
               threading.Thread(target=load.gets, args=("/orders?limit=5",)),
               *(threading.Thread(target=load.posts, args=(n,)) for n in range(2))]
    try:
        _wait_ready(up, env, gateway, log_path, set(dead.values()) | set(alive.values()))
        for thread in threads:
            thread.start()
        warm = time.monotonic() + 30
        while not all(load.served[k] >= 5 for k in (*dead.values(), *alive.values())):
            assert time.monotonic() < warm, f"not every instance took traffic: {load.served}"
            time.sleep(0.1)
        pids = _pids(log_path)
        victims = [pids["payments.2"], pids["payments-sidecar.2"], pids["orders.2"], pids["orders-sidecar.2"]]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        out_of_rotation: dict[str, float] = {}
        out_of_pool: dict[str, float] = {}
        deadline = killed + TTL + 15
        while time.monotonic() < deadline and len(out_of_pool) < len(dead):
            pool = _pool(gateway)
            at = time.monotonic() - killed
            for service, key in dead.items():
                if service not in out_of_rotation and not _routable(pool.get(key)):
                    out_of_rotation[service] = at
                if service not in out_of_pool and key not in pool:
                    out_of_pool[service] = at
            time.sleep(0.05)
        time.sleep(1)  # load on the survivors alone for a moment
        load.stop.set()
        for thread in threads:
            thread.join(60)
        counts = _orders_per_customer(gateway, load.placed)
    finally:
        load.stop.set()
        up.send_signal(signal.SIGTERM)
        code = up.wait(90)

    bound = TTL + HEALTH_MS / 1000
    window = [f for f in load.get_failures + load.post_failures if f[0] >= killed]
    print(f"\ngateway.kill9: out of rotation (s) {out_of_rotation}, out of the pool (s) {out_of_pool}; "
          f"bound {bound:g} s (lease {TTL} s + health interval {HEALTH_MS} ms)")
    print(f"gateway.kill9: {sum(load.served.values())} answered, {len(load.placed)} orders placed; failed after the "
          f"kill: {len([f for f in window if f[1].startswith('GET')])} GET, "
          f"{len([f for f in window if f[1].startswith('POST')])} POST (each retried by the client, same key)")
    for _, failure in window[:10]:
        print(f"  {failure}")
    assert set(out_of_rotation) == set(dead), f"still routed to: {set(dead) - set(out_of_rotation)}"
    assert all(seconds <= bound for seconds in out_of_rotation.values()), out_of_rotation
    assert set(out_of_pool) == set(dead), f"still in the gateway's pool: {set(dead) - set(out_of_pool)}"
    assert load.get_failures == [], load.get_failures[:10]
    assert load.unplaced == [], f"orders the client could not place in {CLIENT_RETRIES} tries: {load.unplaced}"

    posts = _gateway_posts(log_path)
    assert len(posts) >= len(load.placed), "the gateway logged fewer POSTs than the client placed"
    resent = [p for p in posts if p["delivered"] > 1]
    assert resent == [], f"the gateway sent a POST to more than one instance: {resent[:5]}"
    doubled = {c: n for c, n in counts.items() if n != 1}
    assert doubled == {}, f"customers with other than one order: {doubled}"
    # `orderhex up` reports each killed process and does not restart it; so it ends with 1.
    text = log_path.read_text(errors="replace")
    for name in ("payments.2", "payments-sidecar.2", "orders.2", "orders-sidecar.2"):
        assert f"{name} exited with code -9" in text, text[-3000:]
    assert code == 1 and "stopped: registry (0)" in text, text[-3000:]
