"""Requests through `orderhex gateway` against the same requests straight to the service, in
the same run.

One `orderhex serve` (memory stores, demo stock) and one `orderhex gateway` in front of it (the
static registry, an API key required, a per-client rate limit set high enough not to refuse but
checked on every request), both on free loopback ports. C concurrent aiohttp clients in this
process GET /inventory/stock/SKU-1, first straight to the service, then through the gateway,
then straight again (the better of the two direct runs is the baseline), each request timed.
Reported: requests/s and p50/p90/p99 for both, the latency the gateway adds at p50/p90/p99
(for scale: Dapr publishes +1.4 ms p90 for its sidecar hop, Istio +2.65 ms p90), and last the
throughput ratio. The clients, the gateway and the service share the machine's cores, so the
ratio is a floor. Results go to bench/results/gateway.json.

    .venv/bin/python bench/gateway.py [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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

import aiohttp
import httpx

ORDERHEX = Path(sys.executable).with_name("orderhex")
RESULTS = Path(__file__).with_name("results") / "gateway.json"
KEY = "bench-key"
PATH = "/inventory/stock/SKU-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(args: list[str], settings: dict[str, Any], url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in settings.items()})
    with log.open("ab") as out:
        process = subprocess.Popen([str(ORDERHEX), *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"orderhex {args[0]} exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"orderhex {args[0]} did not answer /health within 30 s")


async def load(url: str, requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    remaining = iter(range(requests))
    errors = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for _ in remaining:
            began = time.perf_counter()
            async with session.get(url + PATH, headers={"X-API-Key": KEY}) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(50):  # warm the connections and both processes
            async with session.get(url + PATH, headers={"X-API-Key": KEY}) as response:
                await response.read()
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        took = time.perf_counter() - began
    if errors:
        raise SystemExit(f"{errors} of {requests} requests to {url} did not answer 200")
    cuts = statistics.quantiles(latencies, n=100)
    return {"per_s": round(requests / took, 1), "p50_ms": round(cuts[49] * 1000, 3),
            "p90_ms": round(cuts[89] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="orderhex-bench-gateway-"))
    service_port, gateway_port = free_port(), free_port()
    service_url, gateway_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{gateway_port}"
    service = start(["serve"], {"data_dir": data, "api.port": service_port, "storage.adapter": "memory",
                                "messaging.adapter": "memory", "log.level": "warning"}, service_url,
                    data / "serve.log")
    gateway = None
    try:
        gateway = start(["gateway"], {
            "data_dir": data, "gateway.port": gateway_port, "registry.adapter": "static",
            "registry.static": f"inventory={service_url}", "gateway.api_key": f"bench={KEY}=inventory:read",
            "gateway.rate_limit": "1000000/second", "gateway.access_log": False, "log.level": "warning"},
            gateway_url, data / "gateway.log")
        load_average = round(os.getloadavg()[0], 2)
        first = asyncio.run(load(service_url, args.requests, args.concurrency))
        through = asyncio.run(load(gateway_url, args.requests, args.concurrency))
        second = asyncio.run(load(service_url, args.requests, args.concurrency))
    finally:
        for process in (gateway, service):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)
    direct = max(first, second, key=lambda r: r["per_s"])
    added = {q: round(through[f"{q}_ms"] - direct[f"{q}_ms"], 3) for q in ("p50", "p90", "p99")}
    ratio = round(through["per_s"] / direct["per_s"], 3)
    result = {"benchmark": "gateway", "requests": args.requests, "concurrency": args.concurrency, "path": PATH,
              "python": platform.python_version(), "cpus": os.cpu_count(), "load_average_at_start": load_average,
              "direct": direct, "direct_runs": [first, second], "through_gateway": through, "added_ms": added,
              "vs_direct": ratio, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    print(f"GET {PATH}, {args.requests} requests, {args.concurrency} clients, load average {load_average} on "
          f"{os.cpu_count()} cpus (auth and rate limiting on)")
    for name, r in (("direct", direct), ("through the gateway", through)):
        print(f"  {name:<20} {r['per_s']:>8.1f} req/s   p50 {r['p50_ms']:>7.2f} ms   p90 {r['p90_ms']:>7.2f} ms   "
              f"p99 {r['p99_ms']:>7.2f} ms")
    print(f"  added by the gateway: p50 {added['p50']:+.2f} ms, p90 {added['p90']:+.2f} ms, p99 {added['p99']:+.2f} ms "
          "(Dapr publishes +1.4 ms p90 for its sidecar hop, Istio +2.65 ms p90)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"gateway.vs_direct = {ratio} (target 0.5)")


if __name__ == "__main__":
    main()
