"""Requests through `orderhex sidecar` (API key checked, access log written, metrics counted)
against the same requests straight to the service, in the same run.

One `orderhex serve` (memory stores, demo stock) and one `orderhex sidecar --for inventory` in
front of it (sidecar.api_key set, so every request is authenticated; the in-memory registry,
which the data path never touches), both on free loopback ports. Each round measures both paths,
in alternating order so a drift of the machine's load does not favour one of them:
- saturated: C concurrent aiohttp clients GET /inventory/stock/SKU-1 as fast as they can
  (closed loop): requests/s, and the ratio through / direct;
- paced: the same GET due at a fixed rate on each path, below both paths' saturation, the two
  paths taking turns request by request so that both meet the same moments of the machine's
  load (open loop, each request timed from when it was due): p50/p90/p99, and what the hop adds. This is the figure to
  hold against the published ones, which were also measured at a fixed rate (1,000 req/s):
  Dapr v1.0 "adds ~1.40 ms to the 90th percentile latency" for its client and server sidecars
  (docs.dapr.io, operations/performance-and-scalability/perf-service-invocation), and Istio
  "The Envoy proxy adds 2.65 ms to the 90th percentile latency" (istio.io, docs/ops/deployment/
  performance-and-scalability, Istio 1.9 to 1.16). Both of those run the proxy on cores of its
  own; here the clients, the sidecar and the service share the machine's two.
Reported: the medians over the rounds, and last the headline figures. Results go to
bench/results/sidecar.json.

    .venv/bin/python bench/sidecar.py [--rounds N] [--requests N] [--concurrency C] [--rate R] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from _http_load import WARM_REQUESTS, free_port, load_average, run_load, run_paced, start, stop

RESULTS = Path(__file__).with_name("results") / "sidecar.json"
KEY = "bench-sidecar-key"
PATH = "/inventory/stock/SKU-1"
HEADERS = {"X-API-Key": KEY}
QUANTILES = ("p50", "p90", "p99")
# A rare 502 from the sidecar under load is a finding to report (the "non_200" counts), not a
# reason to lose the run's figures; more than this share of the requests is.
TOLERATED = 0.01
DAPR_P90_MS = 1.4
ISTIO_P90_MS = 2.65


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def one_round(number: int, direct_url: str, sidecar_url: str, processes: dict[str, subprocess.Popen[bytes]],
              args: argparse.Namespace) -> dict[str, Any]:
    # Even rounds measure the direct path first, odd rounds the sidecar first (paced: sends first).
    order = [("direct", direct_url), ("sidecar", sidecar_url)]
    if number % 2:
        order.reverse()
    saturated, cpu_ms = {}, {}
    for name, url in order:
        # CPU time per request does not depend on how the cores are shared, as latency does: what
        # each process spent on the run's requests (and its warm-up) over their number.
        spent = {role: cpu_seconds(process) for role, process in processes.items()}
        saturated[name] = run_load(url, PATH, HEADERS, args.requests, args.concurrency, TOLERATED)
        cpu_ms[name] = {role: round((cpu_seconds(process) - spent[role]) * 1000 / (args.requests + WARM_REQUESTS), 3)
                        for role, process in processes.items()}
    paced = dict(zip((name for name, _ in order),
                     run_paced([url for _, url in order], PATH, HEADERS, args.rate, args.seconds, TOLERATED),
                     strict=True))
    return {"saturated": saturated, "paced": paced, "cpu_ms_per_request": cpu_ms,
            "vs_direct": round(saturated["sidecar"]["per_s"] / saturated["direct"]["per_s"], 3),
            "added_ms": {q: round(paced["sidecar"][f"{q}_ms"] - paced["direct"][f"{q}_ms"], 3) for q in QUANTILES},
            "added_ms_saturated": {q: round(saturated["sidecar"][f"{q}_ms"] - saturated["direct"][f"{q}_ms"], 3)
                                   for q in QUANTILES}}


def median_of(rounds: list[dict[str, Any]], *path: str) -> float:
    values = []
    for r in rounds:
        value: Any = r
        for key in path:
            value = value[key]
        values.append(value)
    return round(statistics.median(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000, help="per saturated run")
    parser.add_argument("--concurrency", type=int, default=16, help="clients of a saturated run")
    # 100/s: about a quarter of what the sidecar sustains here with the machine shared (at 200/s
    # its p90 already grew by hundreds of ms: the figure becomes its queue, not its hop).
    parser.add_argument("--rate", type=float, default=100, help="requests/s of a paced run")
    parser.add_argument("--seconds", type=float, default=10, help="length of a paced run")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    data = Path(tempfile.mkdtemp(prefix="orderhex-bench-sidecar-"))
    service_port, sidecar_port = free_port(), free_port()
    service_url, sidecar_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{sidecar_port}"
    service: subprocess.Popen[bytes] | None = None
    sidecar: subprocess.Popen[bytes] | None = None
    try:
        service = start(["serve"], {"data_dir": data, "api.port": service_port, "storage.adapter": "memory",
                                    "messaging.adapter": "memory", "log.level": "warning"}, service_url,
                        data / "serve.log")
        # The sidecar's /health answers 200 once the service's probes passed and it registered.
        # log.level stays at its default (info): the access log is part of what a sidecar does.
        sidecar = start(["sidecar", "--for", "inventory", "--upstream", service_url, "--port", str(sidecar_port)],
                        {"data_dir": data, "sidecar.api_key": KEY, "registry.adapter": "memory"}, sidecar_url,
                        data / "sidecar.log")
        before = load_average()
        processes = {"service": service, "sidecar": sidecar}
        rounds = [one_round(n, service_url, sidecar_url, processes, args) for n in range(args.rounds)]
        after = load_average()
    finally:
        stop(sidecar, service)
    shutil.rmtree(data, ignore_errors=True)  # kept only when a run fails, for its logs
    medians = {
        "saturated": {name: {f: median_of(rounds, "saturated", name, f) for f in ("per_s", "p50_ms", "p90_ms",
                                                                                    "p99_ms")}
                      for name in ("direct", "sidecar")},
        "paced": {name: {f: median_of(rounds, "paced", name, f) for f in ("per_s", "p50_ms", "p90_ms", "p99_ms")}
                  for name in ("direct", "sidecar")},
        "cpu_ms_per_request": {path: {role: median_of(rounds, "cpu_ms_per_request", path, role)
                                      for role in ("service", "sidecar")} for path in ("direct", "sidecar")},
        "vs_direct": median_of(rounds, "vs_direct"),
        "added_ms": {q: median_of(rounds, "added_ms", q) for q in QUANTILES},
        "added_ms_saturated": {q: median_of(rounds, "added_ms_saturated", q) for q in QUANTILES}}
    result = {"benchmark": "sidecar", "path": PATH, "auth": "X-API-Key", "rounds": args.rounds,
              "requests": args.requests, "concurrency": args.concurrency, "rate": args.rate, "seconds": args.seconds,
              "python": platform.python_version(), "cpus": os.cpu_count(), "load_average_before": before,
              "load_average_after": after, "medians": medians, "per_round": rounds,
              "published_p90_ms": {"dapr": DAPR_P90_MS, "istio": ISTIO_P90_MS},
              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"GET {PATH} with an API key, {args.rounds} rounds (medians), {os.cpu_count()} cpus, "
          f"load average {before} before, {after} after (1, 5, 15 min)")
    print(f"  saturated, {args.requests} requests from {args.concurrency} clients:")
    for name in ("direct", "sidecar"):
        r = medians["saturated"][name]
        print(f"    {name:<8} {r['per_s']:>8.1f} req/s   p50 {r['p50_ms']:>7.2f} ms   p90 {r['p90_ms']:>7.2f} ms   "
              f"p99 {r['p99_ms']:>7.2f} ms")
    cpu = medians["cpu_ms_per_request"]
    print(f"    CPU per request: direct: service {cpu['direct']['service']:.2f} ms; through the sidecar: service "
          f"{cpu['sidecar']['service']:.2f} ms + sidecar {cpu['sidecar']['sidecar']:.2f} ms")
    sat = medians["added_ms_saturated"]
    print(f"    added at saturation (mostly queueing for the shared cores): p50 {sat['p50']:+.2f} ms, "
          f"p90 {sat['p90']:+.2f} ms, p99 {sat['p99']:+.2f} ms")
    print(f"  paced, {args.rate:g} req/s for {args.seconds:g} s:")
    for name in ("direct", "sidecar"):
        r = medians["paced"][name]
        print(f"    {name:<8} {r['per_s']:>8.1f} req/s   p50 {r['p50_ms']:>7.2f} ms   p90 {r['p90_ms']:>7.2f} ms   "
              f"p99 {r['p99_ms']:>7.2f} ms")
    added = medians["added_ms"]
    print(f"    added by the sidecar: p50 {added['p50']:+.2f} ms, p90 {added['p90']:+.2f} ms, "
          f"p99 {added['p99']:+.2f} ms (published p90: Dapr +{DAPR_P90_MS} ms, Istio +{ISTIO_P90_MS} ms)")
    failed = sum(r[kind][name]["non_200"] for r in rounds for kind in ("saturated", "paced")
                 for name in ("direct", "sidecar"))
    if failed:
        print(f"  {failed} requests answered other than 200 (see non_200 in {RESULTS.name})")
    print(f"  per round: vs_direct {[r['vs_direct'] for r in rounds]}, added p90 ms "
          f"{[r['added_ms']['p90'] for r in rounds]}")
    print(f"sidecar.vs_direct = {medians['vs_direct']} (target 0.5)")
    print(f"sidecar.added_p90_ms = {added['p90']} (target {ISTIO_P90_MS})")


if __name__ == "__main__":
    main()
