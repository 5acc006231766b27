"""A real `orderhex serve --service payments` and a real `orderhex sidecar --for payments` in front
of it, registering in a real etcd: the instance is listed with the sidecar's address while the
service is healthy; requests go through the sidecar with the API key or a JWT signed with its
secret (401 problem+json without one, or with an expired or wrongly signed JWT), are written
to its access log and counted in its /metrics; /config shows the service's settings without
secrets; stopping the service takes the instance out of the registry and starting it brings it
back; a SIGKILLed sidecar leaves the registry within its lease."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from adapters.outbound.registry.embedded import EtcdServer
from adapters.outbound.registry.etcd import EtcdRegistry
from ports.registry import InstanceRecord
from tests.served import ORDERHEX, Serve, free_port

pytestmark = pytest.mark.etcd

TTL = 2
MARGIN = 2.0  # etcd checks expiry every 500 ms; a loaded machine adds a little
KEY = "sidecar-key-1"
SERVICE_KEY = "service-key-1"
ADMIN = "admin-token-1"
PASSWORD = "pw-do-not-show"
JWT_KEY = "sidecar-jwt-secret-0123456789abcdef"


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


class Sidecar:
    def __init__(self, data_dir: Path, upstream: str, settings: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"sidecar-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
        env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in settings.items()})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(ORDERHEX), "sidecar", "--for", "payments", "--upstream", upstream, "--port", str(self.port),
                 "--log-format", "json"], env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, 30, f"the sidecar did not answer: {self.output()}")

    def _answers(self) -> bool:
        assert self.process.poll() is None, f"the sidecar exited: {self.output()}"
        try:
            httpx.get(f"{self.url}/health", timeout=1)
        except httpx.TransportError:
            return False
        return True

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output().splitlines() if line.startswith("{")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def topology(tmp_path: Path, etcd_server: EtcdServer, etcd_prefix: str) -> Iterator[dict[str, Any]]:
    settings = {"data_dir": tmp_path, "registry.adapter": "etcd", "registry.url": etcd_server.url,
                "registry.prefix": etcd_prefix, "registry.ttl_seconds": TTL, "health.interval_ms": 200,
                "health.fall": 2, "health.rise": 1, "api.api_key": SERVICE_KEY, "sidecar.api_key": KEY,
                "api.admin_token": ADMIN, "sidecar.jwt_key": JWT_KEY, "storage.url": f"postgresql://shop:{PASSWORD}@127.0.0.1:1/shop"}
    service_settings = {"api.api_key": SERVICE_KEY, "api.admin_token": ADMIN}
    serve = Serve(tmp_path, service_settings, args=("--service", "payments"))
    sidecar = Sidecar(tmp_path, serve.url, settings)
    registry = EtcdRegistry(etcd_server.url, prefix=etcd_prefix)
    try:
        yield {"serve": serve, "sidecar": sidecar, "registry": registry, "data_dir": tmp_path,
               "service_settings": service_settings}
    finally:
        sidecar.stop()
        serve.stop()
        registry.close()


def listed(registry: EtcdRegistry) -> list[InstanceRecord]:
    return registry.instances("payments")


def test_registers_proxies_checks_the_key_logs_counts_and_hides_secrets(topology: dict[str, Any]) -> None:
    sidecar, registry = topology["sidecar"], topology["registry"]
    [record] = wait_until(lambda: listed(registry), 15, "the instance was not registered")
    assert record.address == sidecar.url
    assert record.pid == sidecar.process.pid
    assert httpx.get(f"{sidecar.url}/health", timeout=5).json()["registered"] is True

    refused = httpx.get(f"{sidecar.url}/payments/accounts", timeout=5)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{sidecar.url}/payments/accounts", headers={"X-API-Key": "wrong"}, timeout=5).status_code == 401

    # The sidecar passes the service's own key on: the service, which requires it, answers.
    opened = httpx.post(f"{sidecar.url}/payments/payments", headers={"X-API-Key": KEY, "X-Request-Id": "req-77"},
                        timeout=10, json={"order_id": "o-side-1", "customer_id": "c-side", "amount": "12.50",
                                          "currency": "EUR"})
    assert opened.status_code == 201, opened.text
    assert opened.headers["x-request-id"] == "req-77"
    read = httpx.get(f"{sidecar.url}/payments/payments/o-side-1", headers={"X-API-Key": KEY}, timeout=5)
    assert read.status_code == 200 and read.json()["order_id"] == "o-side-1"

    access = wait_until(lambda: [line for line in sidecar.lines() if line["logger"] == "orderhex.sidecar.access"],
                        5, "no access log line")
    posted = next(line for line in access if line["method"] == "POST")
    assert (posted["path"], posted["status"], posted["request_id"]) == ("/payments/payments", 201, "req-77")
    assert {line["status"] for line in access} >= {401, 201, 200}

    metrics = httpx.get(f"{sidecar.url}/metrics", timeout=5).text
    assert 'orderhex_sidecar_requests_total{method="POST",status="201"} 1.0' in metrics
    assert 'orderhex_sidecar_auth_refused_total{reason="missing"} 1.0' in metrics
    assert "orderhex_sidecar_registered 1.0" in metrics

    assert httpx.get(f"{sidecar.url}/config", timeout=5).status_code == 401
    config = httpx.get(f"{sidecar.url}/config", headers={"X-API-Key": KEY}, timeout=5)
    assert config.status_code == 200
    shown = config.json()["settings"]
    assert shown["deployment.services"]["value"] == "payments"
    assert shown["registry.ttl_seconds"] == {"value": TTL, "source": "env ORDERHEX_REGISTRY__TTL_SECONDS"}
    for secret in ("api.api_key", "sidecar.api_key", "api.admin_token"):
        assert shown[secret]["value"] == "***"
    assert shown["storage.url"]["value"] == "postgresql://shop:***@127.0.0.1:1/shop"
    for secret in (KEY, SERVICE_KEY, ADMIN, PASSWORD):
        assert secret not in config.text


def test_the_service_down_takes_it_out_and_back_in(topology: dict[str, Any]) -> None:
    serve, sidecar, registry = topology["serve"], topology["sidecar"], topology["registry"]
    wait_until(lambda: listed(registry), 15, "the instance was not registered")
    serve.stop()
    # Two failed probes 200 ms apart, then a deregistration: well under the lease's TTL.
    wait_until(lambda: not listed(registry), TTL + MARGIN, "the instance stayed registered with its service down")
    health = httpx.get(f"{sidecar.url}/health", timeout=5)
    assert health.status_code == 503
    assert health.json()["transitions"][-1]["state"] == "down"
    down = httpx.get(f"{sidecar.url}/payments/accounts", headers={"X-API-Key": KEY}, timeout=5)
    assert down.status_code == 502 and down.headers["content-type"] == "application/problem+json"

    again = Serve(topology["data_dir"], topology["service_settings"], port=serve.port, args=("--service", "payments"))
    try:
        [record] = wait_until(lambda: listed(registry), 10, "the instance did not come back")
        assert record.address == sidecar.url
        states = [t["state"] for t in httpx.get(f"{sidecar.url}/health", timeout=5).json()["transitions"]]
        assert states == ["up", "down", "up"]
    finally:
        again.stop()


def test_a_killed_sidecar_leaves_the_registry_within_its_lease(topology: dict[str, Any]) -> None:
    sidecar, registry = topology["sidecar"], topology["registry"]
    wait_until(lambda: listed(registry), 15, "the instance was not registered")
    sidecar.process.kill()
    killed = time.monotonic()
    sidecar.process.wait(10)
    wait_until(lambda: not listed(registry), TTL + MARGIN, "the killed sidecar's instance stayed registered")
    assert time.monotonic() - killed <= TTL + MARGIN


def test_drain_deregisters_and_keeps_serving(topology: dict[str, Any]) -> None:
    sidecar, registry = topology["sidecar"], topology["registry"]
    wait_until(lambda: listed(registry), 15, "the instance was not registered")
    assert httpx.post(f"{sidecar.url}/sidecar/drain", timeout=5).status_code == 401
    drained = httpx.post(f"{sidecar.url}/sidecar/drain", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
    assert drained.status_code == 202 and drained.json()["status"] == "draining"
    assert listed(registry) == []
    time.sleep(0.6)  # three health rounds: a healthy service does not bring a drained instance back
    assert listed(registry) == []
    assert httpx.get(f"{sidecar.url}/payments/accounts", headers={"X-API-Key": KEY}, timeout=5).status_code == 200


def bearer(key: str = JWT_KEY, expires_in: float = 300, sub: str = "client-1") -> dict[str, str]:
    token = jwt.encode({"sub": sub, "exp": int(time.time() + expires_in), "scope": "payments:read"}, key,
                       algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_jwt_passes_to_the_service(topology: dict[str, Any]) -> None:
    sidecar = topology["sidecar"]
    answer = httpx.get(f"{sidecar.url}/payments/accounts", headers=bearer(), timeout=5)
    assert answer.status_code == 200, answer.text
    metrics = httpx.get(f"{sidecar.url}/metrics", timeout=5).text
    assert 'orderhex_sidecar_requests_total{method="GET",status="200"} 1.0' in metrics


@pytest.mark.parametrize(("headers", "says"), [
    (bearer(expires_in=-60), "expired"),
    (bearer(key="another-secret-0123456789abcdefgh"), "Signature verification failed"),
    ({"Authorization": "Bearer not.a.jwt"}, "not valid"),
], ids=["expired", "wrong-signature", "malformed"])
def test_a_bad_jwt_is_refused_with_a_401_problem(topology: dict[str, Any], headers: dict[str, str],
                                                 says: str) -> None:
    sidecar = topology["sidecar"]
    refused = httpx.get(f"{sidecar.url}/payments/accounts", headers=headers, timeout=5)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == "ApiKey, Bearer"
    assert says in refused.json()["detail"]
    assert headers["Authorization"].split()[1] not in refused.text
    assert 'orderhex_sidecar_auth_refused_total{reason="jwt"} 1.0' in httpx.get(f"{sidecar.url}/metrics",
                                                                                 timeout=5).text
