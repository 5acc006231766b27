"""Placing orders over HTTP through a real `orderhex serve`, against the same use case in-process.

The server is one `orderhex serve` process (one uvicorn worker, the outbox relay running beside
it) on a fresh SQLite store (memory when no "sqlite" adapter is registered), on a free loopback
port. Concurrent httpx clients in this process POST /orders, each request timed on its own. The
baseline, in this same process, does what the endpoint does without HTTP: the wire-format
parser, `Application.ordering.send`, then `get` for the response body, on its own fresh store
of the same kind, one order after another. Reported, for each number of concurrent clients:
requests/s and p50/p99 latency for both, and the ratio HTTP / in-process.
The clients share the machine's cores with the server, so the ratio is a floor, not the cost of
HTTP alone. Results go to bench/results/rest.json.

    .venv/bin/python bench/rest.py [--requests N] [--concurrency C [C ...]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

import bootstrap
from core.orders.queries import GetOrder
from core.orders.wire import place_order_from_json

RESULTS = Path(__file__).parent / "results" / "rest.json"
TOKEN = "bench-admin-token"
WARM_UP = 200


def body(number: int) -> dict[str, Any]:
    return {"customer_id": f"c-{number % 97}", "currency": "EUR",
            "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"},
                      {"sku": "SKU-2", "quantity": 1, "unit_price": "4.50"}]}


def percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3)}


def in_process(storage: str, requests: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="orderhex-bench-inproc-"))
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "storage.adapter": storage, "messaging.adapter": "memory", "data_dir": str(data_dir)}))
    try:
        def place(number: int) -> None:
            result = app.ordering.send(place_order_from_json(body(number)))
            app.ordering.get(GetOrder(order_id=result.order_id))

        for number in range(WARM_UP):
            place(number)
        latencies = []
        started = time.perf_counter()
        for number in range(requests):
            t0 = time.perf_counter()
            place(number)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
    finally:
        app.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"per_s": round(requests / elapsed, 1), **percentiles(latencies)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_serve(storage: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update({"ORDERHEX_DATA_DIR": str(data_dir), "ORDERHEX_API__PORT": str(port),
                "ORDERHEX_API__ADMIN_TOKEN": TOKEN, "ORDERHEX_STORAGE__ADAPTER": storage,
                "ORDERHEX_MESSAGING__ADAPTER": "memory"})
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).with_name("orderhex")), "serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"orderhex serve exited: {(data_dir / 'serve.log').read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("orderhex serve did not answer /health within 30 s")


async def over_http(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        async def place(number: int) -> float:
            t0 = time.perf_counter()
            response = await client.post("/orders", json=body(number))
            if response.status_code != 201:
                raise SystemExit(f"POST /orders answered {response.status_code}: {response.text}")
            return time.perf_counter() - t0

        async def worker(numbers: range) -> list[float]:
            return [await place(n) for n in numbers]

        await asyncio.gather(*(worker(range(i, WARM_UP, concurrency)) for i in range(concurrency)))
        started = time.perf_counter()
        batches = await asyncio.gather(*(worker(range(i, requests, concurrency)) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies = [t for batch in batches for t in batch]
    return {"per_s": round(requests / elapsed, 1), **percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="orders per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    storage = "sqlite" if "sqlite" in bootstrap.STORAGE_ADAPTERS else "memory"
    load = round(os.getloadavg()[0], 2)  # other work on the machine skews both sides; recorded with them

    baseline = in_process(storage, args.requests)
    data_dir = Path(tempfile.mkdtemp(prefix="orderhex-bench-serve-"))
    process, url = start_serve(storage, data_dir)
    try:
        http = {c: asyncio.run(over_http(url, args.requests, c)) for c in args.concurrency}
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    if code != 0:
        raise SystemExit(f"orderhex serve exited {code} on SIGTERM")

    levels = [{"concurrency": c, **figures, "ratio_to_in_process": round(figures["per_s"] / baseline["per_s"], 3)}
              for c, figures in http.items()]
    result = {
        "benchmark": "rest", "storage": storage, "requests_per_level": args.requests, "uvicorn_workers": 1,
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average_at_start": load,
        "in_process": baseline, "http": levels,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"place order on {storage}, {args.requests} orders per row, load average {load} on {os.cpu_count()} cpus")
    print(f"  in-process            {baseline['per_s']:>8.1f} orders/s   p50 {baseline['p50_ms']:>7.2f} ms   "
          f"p99 {baseline['p99_ms']:>7.2f} ms")
    for level in levels:
        print(f"  HTTP, {level['concurrency']:>2} clients       {level['per_s']:>8.1f} orders/s   "
              f"p50 {level['p50_ms']:>7.2f} ms   p99 {level['p99_ms']:>7.2f} ms   "
              f"ratio {level['ratio_to_in_process']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
