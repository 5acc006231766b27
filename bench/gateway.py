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
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from _http_load import free_port, run_load, start, stop

RESULTS = Path(__file__).with_name("results") / "gateway.json"
KEY = "bench-key"
PATH = "/inventory/stock/SKU-1"
HEADERS = {"X-API-Key": KEY}


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
        first = run_load(service_url, PATH, HEADERS, args.requests, args.concurrency)
        through = run_load(gateway_url, PATH, HEADERS, args.requests, args.concurrency)
        second = run_load(service_url, PATH, HEADERS, args.requests, args.concurrency)
    finally:
        stop(gateway, service)
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
