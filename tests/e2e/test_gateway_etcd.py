"""The topology as users run it, over a real etcd: two `orderhex serve --service payments`
instances, each with its `orderhex sidecar` registering it, and an `orderhex gateway` that finds
them through the registry. Requests reach both instances; a sidecar killed with SIGKILL leaves the
gateway's pool within its lease's TTL and no idempotent request fails meanwhile."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.outbound.registry.embedded import EtcdServer
from tests.e2e.test_gateway import Gateway
from tests.e2e.test_sidecar import Sidecar, wait_until
from tests.served import Serve

pytestmark = pytest.mark.etcd

TTL = 2
MARGIN = 2.0  # etcd checks expiry every 500 ms, then the gateway's watch and one re-list
SIDECAR_KEY = "sidecar-key-gw"
SERVICE_KEY = "service-key-gw"


@pytest.fixture
def topology(tmp_path: Path, etcd_server: EtcdServer, etcd_prefix: str) -> Iterator[dict[str, Any]]:
    registry = {"registry.adapter": "etcd", "registry.url": etcd_server.url, "registry.prefix": etcd_prefix,
                "registry.ttl_seconds": TTL, "health.interval_ms": 200, "health.fall": 2, "health.rise": 1}
    started: list[Any] = []
    try:
        sidecars = []
        for _ in range(2):
            serve = Serve(tmp_path, {"api.api_key": SERVICE_KEY}, args=("--service", "payments"))
            started.append(serve)
            sidecar = Sidecar(tmp_path, serve.url, {"data_dir": tmp_path, **registry, "api.api_key": SERVICE_KEY,
                                                    "sidecar.api_key": SIDECAR_KEY})
            started.append(sidecar)
            sidecars.append(sidecar)
        gateway = Gateway(tmp_path, {**registry, "gateway.upstream_api_key": SIDECAR_KEY,
                                     "gateway.rate_limit": "10000/second", "gateway.retry_min_per_second": 20,
                                     "gateway.refresh_ms": 200})
        started.append(gateway)
        yield {"gateway": gateway, "sidecars": sidecars}
    finally:
        for process in reversed(started):
            process.stop()


def pool(gateway: Gateway) -> set[str]:
    """The payments instances the gateway would route to (listed and not marked down)."""
    body = httpx.get(f"{gateway.url}/gateway/upstreams", timeout=5).json()
    return {i["instance_id"] for i in body["services"].get("payments", []) if i["health"] != "down"}


def listed(gateway: Gateway) -> set[str]:
    body = httpx.get(f"{gateway.url}/gateway/upstreams", timeout=5).json()
    return {i["instance_id"] for i in body["services"].get("payments", [])}


def test_requests_reach_both_instances_through_their_sidecars(topology: dict[str, Any]) -> None:
    gateway, sidecars = topology["gateway"], topology["sidecars"]
    ids = {f"127.0.0.1:{s.port}" for s in sidecars}
    wait_until(lambda: listed(gateway) == ids, 15, "the gateway did not find both sidecars in etcd")
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        answers = [client.get("/payments/accounts") for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20, answers[-1].text
    served = Counter(a.headers["x-served-by"] for a in answers)
    assert set(served) == {f"payments/{i}" for i in ids}
    # Through the sidecars: each one counted the requests the gateway sent it.
    for sidecar in sidecars:
        metrics = httpx.get(f"{sidecar.url}/metrics", timeout=5).text
        assert 'orderhex_sidecar_requests_total{method="GET",status="200"}' in metrics


def test_a_killed_sidecar_leaves_the_pool_within_the_ttl_and_no_idempotent_request_fails(
        topology: dict[str, Any]) -> None:
    gateway, (dead, alive) = topology["gateway"], topology["sidecars"]
    dead_id, alive_id = f"127.0.0.1:{dead.port}", f"127.0.0.1:{alive.port}"
    wait_until(lambda: listed(gateway) == {dead_id, alive_id}, 15, "the gateway did not find both sidecars")
    failures: list[str] = []
    out_of_pool = removed = 0.0
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        for _ in range(20):  # warm: both take traffic before the kill
            assert client.get("/payments/accounts").status_code == 200
        dead.process.kill()
        dead.process.wait(10)
        killed = time.monotonic()
        deadline = killed + TTL + MARGIN + 5
        while time.monotonic() < deadline and not (removed and time.monotonic() - killed > removed + 0.5):
            answer = client.get("/payments/accounts")
            if answer.status_code != 200:
                failures.append(f"{answer.status_code} {answer.text}")
            elapsed = time.monotonic() - killed
            if not out_of_pool and dead_id not in pool(gateway):
                out_of_pool = elapsed
            if not removed and dead_id not in listed(gateway):
                removed = elapsed
        after = [client.get("/payments/accounts") for _ in range(10)]
    assert failures == []
    assert removed, f"the killed sidecar's instance was still in the gateway's pool {deadline - killed:.1f} s on"
    assert out_of_pool <= removed <= TTL + MARGIN
    assert {a.headers["x-served-by"] for a in after} == {f"payments/{alive_id}"}
    print(f"kill -9 of a sidecar: out of the gateway's routing in {out_of_pool:.2f} s (health checks), "
          f"out of its pool in {removed:.2f} s (lease TTL {TTL} s)")
