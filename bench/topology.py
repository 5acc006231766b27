"""The cost of splitting the services into processes: the same workload in the monolith and as four
processes over Kafka, side by side in one run.

Workload: a client places N orders over HTTP (one line each); inventory reserves the stock and
payments authorizes the total by reacting to `orders.OrderPlaced` (outbox -> relay -> broker ->
consumer inbox). An order is done when both its reservation and its payment answer over HTTP; its
end-to-end latency runs from its POST to the moment a poller first sees both. Topologies:
- monolith, in-memory broker: one `orderhex serve` with all four services;
- monolith, Kafka: the same process on the embedded Tansu broker;
- services, Kafka: four `orderhex serve --service X` processes on that broker.
Every process runs on SQLite in a fresh data directory, on this machine's 2 cores with the client.
Results go to bench/results/topology.json; the last lines are the headline figures.

    .venv/bin/python bench/topology.py [--orders N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.outbound.kafka.embedded import TansuBroker

ORDERHEX = Path(sys.executable).with_name("orderhex")
RESULTS = Path(__file__).parent / "results" / "topology.json"
SERVICES = ("orders", "inventory", "payments", "shipping")
LINE = {"sku": "SKU-B", "quantity": 1, "unit_price": "1.00"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data_dir: Path, settings: dict[str, Any], services: tuple[str, ...]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in
                {"data_dir": data_dir, "storage.adapter": "sqlite", "demo.seed": False, "relay.idle_ms": 5,
                 "log.level": "warning", **settings}.items()})
    args = [arg for name in services for arg in ("--service", name)] if services != SERVICES else []
    process = subprocess.Popen([str(ORDERHEX), "serve", "--port", str(port), *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"serve {services} did not start")


def run(urls: dict[str, str], orders: int) -> dict[str, float]:
    client = httpx.Client(timeout=10)
    assert client.post(f"{urls['inventory']}/inventory/stock/SKU-B/restock", json={"quantity": orders * 2}).is_success
    opened = client.put(f"{urls['payments']}/payments/accounts/c-b", json={"credit_limit": f"{orders * 2}.00"})
    assert opened.status_code == 201, opened.text
    placed: list[tuple[str, float]] = []
    done: dict[str, float] = {}
    finished = threading.Event()

    def poll() -> None:
        poller = httpx.Client(timeout=10)
        index = 0
        while not finished.is_set():
            if index >= len(placed):
                time.sleep(0.002)
                continue
            order_id, _ = placed[index]
            if poller.get(f"{urls['inventory']}/inventory/reservations/{order_id}").status_code == 200 and \
                    poller.get(f"{urls['payments']}/payments/payments/{order_id}").status_code == 200:
                done[order_id] = time.perf_counter()
                index += 1
                if index == orders:
                    finished.set()
            else:
                time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    for _ in range(orders):
        at = time.perf_counter()
        response = client.post(f"{urls['orders']}/orders", json={"customer_id": "c-b", "lines": [LINE]})
        placed.append((response.json()["order_id"], at))
    finished.wait(300)
    elapsed = max(done.values()) - started
    latencies = sorted((done[o] - at) * 1000 for o, at in placed)
    return {"orders_per_s": round(orders / elapsed, 1), "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "topology", "orders": args.orders, "python": platform.python_version(),
                               "load_average": os.getloadavg()[0],
                               "at": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="orderhex-bench-topology-") as tmp:
        broker = TansuBroker(Path(tmp) / "tansu")
        broker.start()
        kafka = {"messaging.adapter": "kafka", "messaging.bootstrap_servers": broker.bootstrap_servers,
                 "messaging.session_timeout_ms": 6000, "messaging.heartbeat_interval_ms": 500}
        try:
            for name, settings, split in (("monolith_memory", {"messaging.adapter": "memory"}, False),
                                          ("monolith_kafka", {**kafka, "messaging.topic_prefix": "mono"}, False),
                                          ("services_kafka", {**kafka, "messaging.topic_prefix": "split"}, True)):
                data = Path(tmp) / name
                processes = []
                try:
                    if split:
                        urls = {}
                        for service in SERVICES:
                            process, url = serve(data, settings, (service,))
                            processes.append(process)
                            urls[service] = url
                        time.sleep(8)  # the consumer groups join (about half the session timeout)
                    else:
                        process, url = serve(data, settings, SERVICES)
                        processes.append(process)
                        urls = dict.fromkeys(SERVICES, url)
                        time.sleep(8 if settings["messaging.adapter"] == "kafka" else 0.5)
                    results[name] = run(urls, args.orders)
                    print(f"{name:<16} {results[name]}")
                finally:
                    for process in processes:
                        process.send_signal(signal.SIGTERM)
                    for process in processes:
                        process.wait(30)
        finally:
            broker.stop()
    ratio = results["services_kafka"]["orders_per_s"] / results["monolith_kafka"]["orders_per_s"]
    results["split_vs_monolith_kafka"] = round(ratio, 3)
    results["split_vs_monolith_memory"] = round(
        results["services_kafka"]["orders_per_s"] / results["monolith_memory"]["orders_per_s"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"topology.split_vs_monolith_kafka = {results['split_vs_monolith_kafka']} (target none yet)")
    print(f"topology.split_vs_monolith_memory = {results['split_vs_monolith_memory']} (target none yet)")
    print(f"topology.services_kafka_p99_ms = {results['services_kafka']['p99_ms']} (target none yet)")


if __name__ == "__main__":
    main()
