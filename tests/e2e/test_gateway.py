"""`orderhex gateway` in front of real `orderhex serve` processes found through the static
registry, all on 127.0.0.1: routing by prefix to the owning service, balancing over two
instances, auth (API keys, JWT, scopes), rate limits with IETF headers, problem+json errors,
request ids, metrics; an instance killed with SIGKILL routed around with no failed request.
The balancer's least-outstanding choice and header propagation are shown in-process against
two small real aiohttp upstreams."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
from aiohttp import web

import bootstrap
from adapters.inbound.gateway import command
from adapters.inbound.gateway.app import make_app
from adapters.outbound.registry.static import StaticRegistry
from adapters.outbound.system.clock import SystemClock
from core.runtime.breaker import BreakerConfig
from tests.e2e.jsonlogs import parse
from tests.served import ORDERHEX, Serve, free_port

JWT_KEY = "test-jwt-key-" + "x" * 32
KEYS = {"alice": ("alice-key", "orders:read,orders:write,inventory:read"),
        "reader": ("reader-key", "orders:read"), "burst": ("burst-key", "orders:read"), "ops": ("ops-key", "admin")}
LIMIT = 10  # per second, each client


def _header(client: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[client][0]}


class Gateway:
    """A real `orderhex gateway` process; its JSON log goes to a file."""

    def __init__(self, data_dir: Path, settings: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"gateway-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
        settings = {"data_dir": data_dir, "gateway.port": self.port, "registry.adapter": "static",
                    "log.format": "json", "health.interval_ms": 200, "health.fall": 2, **settings}
        env.update({"ORDERHEX_" + k.upper().replace(".", "__"): str(v) for k, v in settings.items()})
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([str(ORDERHEX), "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gateway exited: {self.output()}"
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"the gateway did not answer /health within 30 s: {self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("urn:orderhex:problem:") and body["detail"]
    return body


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Serve, Serve]]:
    data = tmp_path_factory.mktemp("gateway")
    a, b = Serve(data), Serve(data)
    gateway = None
    try:
        # orders on both; inventory only on a, payments only on b; shipping on none.
        gateway = Gateway(data, {
            "registry.static": f"orders={a.url},{b.url};inventory={a.url};payments={b.url}",
            "gateway.api_key": ";".join(f"{c}={k}={s}" for c, (k, s) in KEYS.items()),
            "gateway.jwt_key": JWT_KEY, "gateway.rate_limit": f"{LIMIT}/second",
            "gateway.rate_limit_strategy": "moving-window"})
        yield gateway, a, b
    finally:
        if gateway is not None:
            assert gateway.stop() == 0, gateway.output()
        a.stop()
        b.stop()


def test_each_prefix_goes_to_the_service_that_owns_it(topology: tuple[Gateway, Serve, Serve]) -> None:
    gateway, a, b = topology
    with httpx.Client(base_url=gateway.url, headers=_header("ops")) as client:
        served = {path: client.get(path).headers.get("x-served-by") for path in (
            "/orders", "/orders/o-1/overview", "/inventory/stock", "/payments/accounts")}
        quote = client.post("/checkout/quote", json={})
    assert served["/orders"].startswith("orders/")
    assert served["/orders/o-1/overview"].startswith("orders/")
    assert served["/inventory/stock"] == f"inventory/127.0.0.1:{a.port}"
    assert served["/payments/accounts"] == f"payments/127.0.0.1:{b.port}"
    assert quote.headers["x-served-by"].startswith("orders/")


def test_both_instances_of_a_service_take_traffic(topology: tuple[Gateway, Serve, Serve]) -> None:
    gateway, a, b = topology
    with httpx.Client(base_url=gateway.url, headers=_header("alice")) as client:
        seen = Counter(client.get("/orders").headers["x-served-by"] for _ in range(8))
    assert set(seen) == {f"orders/127.0.0.1:{a.port}", f"orders/127.0.0.1:{b.port}"}


def test_an_unknown_route_is_a_404_problem(topology: tuple[Gateway, Serve, Serve]) -> None:
    body = _problem(httpx.get(f"{topology[0].url}/nowhere/ports", headers=_header("ops")), 404)
    assert "/nowhere/ports" in body["detail"] and "/orders" in body["detail"]


def test_no_credential_is_401_and_a_wrong_key_is_401(topology: tuple[Gateway, Serve, Serve]) -> None:
    url = f"{topology[0].url}/orders"
    missing = httpx.get(url)
    _problem(missing, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = _problem(httpx.get(url, headers={"X-API-Key": "not-a-key"}), 401)
    assert "not-a-key" not in json.dumps(wrong)


def test_a_key_without_the_route_scope_is_403(topology: tuple[Gateway, Serve, Serve]) -> None:
    gateway = topology[0]
    assert httpx.get(f"{gateway.url}/orders", headers=_header("reader")).status_code == 200
    body = _problem(httpx.post(f"{gateway.url}/orders", json={}, headers=_header("reader")), 403)
    assert "orders:write" in body["detail"]
    _problem(httpx.get(f"{gateway.url}/payments/accounts", headers=_header("alice")), 403)


def test_a_jwt_is_accepted_and_an_expired_one_refused(topology: tuple[Gateway, Serve, Serve]) -> None:
    gateway = topology[0]
    now = int(time.time())
    good = jwt.encode({"sub": "jwt-user", "scope": "inventory:read", "exp": now + 60}, JWT_KEY, algorithm="HS256")
    expired = jwt.encode({"sub": "jwt-user", "scope": "inventory:read", "exp": now - 60}, JWT_KEY, algorithm="HS256")
    forged = jwt.encode({"sub": "jwt-user", "scope": "admin", "exp": now + 60}, "another-key" * 4, algorithm="HS256")
    url = f"{gateway.url}/inventory/stock"
    assert httpx.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    assert "expired" in _problem(httpx.get(url, headers={"Authorization": f"Bearer {expired}"}), 401)["detail"]
    _problem(httpx.get(url, headers={"Authorization": f"Bearer {forged}"}), 401)
    _problem(httpx.get(f"{gateway.url}/orders", headers={"Authorization": f"Bearer {good}"}), 403)


def test_over_the_limit_is_429_with_ratelimit_headers_and_retry_after(topology: tuple[Gateway, Serve, Serve]) -> None:
    with httpx.Client(base_url=topology[0].url, headers=_header("burst")) as client:
        answers = [client.get("/orders") for _ in range(LIMIT + 3)]
    first, refused = answers[0], answers[-1]
    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == f'"default";q={LIMIT};w=1'
    assert first.headers["ratelimit"].startswith(f'"default";r={LIMIT - 1};t=')
    body = _problem(refused, 429)
    assert "burst" in body["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit"].startswith('"default";r=0;')


def test_a_service_without_instances_is_a_503_naming_it(topology: tuple[Gateway, Serve, Serve]) -> None:
    body = _problem(httpx.get(f"{topology[0].url}/shipping/shipments", headers=_header("ops")), 503)
    assert "shipping" in body["detail"] and body["service"] == "shipping"
    ready = httpx.get(f"{topology[0].url}/ready")
    assert ready.status_code == 503 and "shipping" in ready.json()["detail"]


def test_the_request_id_is_kept_echoed_and_logged(topology: tuple[Gateway, Serve, Serve]) -> None:
    gateway = topology[0]
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = httpx.get(f"{gateway.url}/orders", headers={
        **_header("alice"), "X-Request-Id": "req-123", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert response.headers["x-request-id"] == "req-123"
    assert response.headers["traceparent"].startswith(f"00-{trace}-")
    fresh = httpx.get(f"{gateway.url}/orders", headers=_header("alice")).headers["x-request-id"]
    assert len(fresh) == 32
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in parse(gateway.output()) if line.get("request_id") == "req-123"]
        if lines:
            break
        time.sleep(0.05)
    assert lines and lines[0]["correlation_id"] == trace and lines[0]["status"] == 200
    assert lines[0]["logger"] == "orderhex.gateway.access" and lines[0]["upstream"] == "orders"


def test_metrics_count_requests_by_route_status_and_upstream(topology: tuple[Gateway, Serve, Serve]) -> None:
    gateway = topology[0]

    def count(text: str, name: str, labels: str) -> float:
        return next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith(f"{name}{{") and labels in line), 0.0)

    labels = 'method="GET",route="/payments",status="200",upstream="payments"'
    before = count(httpx.get(f"{gateway.url}/metrics").text, "orderhex_gateway_requests_total", labels)
    for _ in range(3):
        assert httpx.get(f"{gateway.url}/payments/accounts", headers=_header("ops")).status_code == 200
    text = httpx.get(f"{gateway.url}/metrics").text
    assert count(text, "orderhex_gateway_requests_total", labels) == before + 3
    assert "orderhex_gateway_request_seconds_bucket" in text
    assert count(text, "orderhex_gateway_upstream_health", 'service="payments"') == 1.0
    assert 'orderhex_gateway_breaker_state{breaker="gateway:payments/' in text


def test_an_instance_killed_with_sigkill_is_routed_away_with_no_failed_request(tmp_path: Path) -> None:
    a, b = Serve(tmp_path), Serve(tmp_path)
    gateway = Gateway(tmp_path, {"registry.static": f"orders={a.url},{b.url}", "gateway.rate_limit": "10000/second",
                                 "gateway.retry_min_per_second": 5})
    dead = f"orders/127.0.0.1:{a.port}"
    try:
        failures: list[str] = []
        served_after_kill: list[tuple[float, str]] = []
        killed_at = 0.0
        body = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 1,
                                                                    "unit_price": "1.00"}]}
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            for i in range(300):
                if i == 40:
                    a.process.send_signal(signal.SIGKILL)
                    a.process.wait(5)
                    killed_at = time.monotonic()
                # Idempotent requests only: GETs, and order placements with an Idempotency-Key.
                response = client.post("/orders", json=body, headers={"Idempotency-Key": f"k-{i}"}) if i % 3 == 0 \
                    else client.get("/orders")
                if response.status_code >= 500:
                    failures.append(f"{i}: {response.status_code} {response.text}")
                if killed_at:
                    served_after_kill.append((time.monotonic() - killed_at, response.headers.get("x-served-by", "")))
                time.sleep(0.01)
        assert failures == []
        last_to_dead = max((at for at, by in served_after_kill if by == dead), default=0.0)
        assert last_to_dead == 0.0  # a dead instance answers nothing: every request after the kill went to b
        recent = [by for at, by in served_after_kill if at > 2.0]
        assert recent and set(recent) == {f"orders/127.0.0.1:{b.port}"}
        ejected_or_down = [line for line in parse(gateway.output())
                           if dead.partition("/")[2] in line["message"] and line["level"] == "warning"]
        assert ejected_or_down, "neither the health checker nor passive ejection reported the dead instance"
    finally:
        assert gateway.stop() == 0
        a.stop()
        b.stop()


# ---------------------------------------------------------------------------------------------
# In-process: the gateway's app against two small real upstreams.


class Upstream:
    """An aiohttp server on 127.0.0.1 answering every request with the headers it received; when
    `hold` is set it keeps each request waiting until `release` is set."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.release = asyncio.Event()
        self.held = 0
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def answer(self, request: web.Request) -> web.Response:
        self.arrived.set()
        if self.hold:
            self.held += 1
            await self.release.wait()
        return web.json_response({"headers": dict(request.headers)})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.answer)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.release.set()
        assert self.runner is not None
        await self.runner.cleanup()


def _config(**overrides: Any) -> dict[str, Any]:
    config = {key: setting.default for key, setting in bootstrap.SETTINGS.items()}
    config.update({"gateway.access_log": False, "gateway.api_key": "tester=tester-key=admin", **overrides})
    return config


async def _through_gateway(balance: str, requests: int) -> tuple[int, dict[str, Any]]:
    """Sends `requests` GETs one after another through a gateway over a slow and a fast upstream,
    each sent once the previous one finished or is held by the slow one. Returns how many the
    slow one holds, and the headers the fast one received for the last request."""
    slow, fast = Upstream(hold=True), Upstream()
    await slow.start()
    await fast.start()
    registry = StaticRegistry(f"orders={slow.url},{fast.url}")
    proxy = command.build(_config(**{"gateway.balance": balance}), registry, SystemClock(), BreakerConfig())
    proxy.upstreams.refresh()
    runner = web.AppRunner(make_app(proxy))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    pending = []
    last: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
            for i in range(requests):
                slow.arrived.clear()
                task = asyncio.create_task(client.get("/orders", headers={"X-Request-Id": f"r-{i}",
                                                                 "X-API-Key": "tester-key"}))
                arrival = asyncio.create_task(slow.arrived.wait())
                done, _ = await asyncio.wait({task, arrival}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
                assert done, "a request neither finished nor reached the slow upstream"
                if task in done:
                    response = task.result()
                    last = (await response.json())["headers"]
                    arrival.cancel()
                else:
                    pending.append(task)
            held = slow.held
            slow.release.set()
            for task in pending:
                (await task).release()
    finally:
        await runner.cleanup()
        await slow.stop()
        await fast.stop()
    return held, last


def test_least_outstanding_sends_to_the_idle_instance_while_the_other_is_busy() -> None:
    held, _ = asyncio.run(_through_gateway("least-outstanding", 10))
    assert held == 1  # the first request it got; every later one went to the idle instance


def test_round_robin_keeps_sending_to_the_busy_instance() -> None:
    held, _ = asyncio.run(_through_gateway("round-robin", 10))
    assert held >= 4


def test_the_upstream_gets_the_request_id_and_the_trace_not_the_client_credential() -> None:
    _, received = asyncio.run(_through_gateway("least-outstanding", 3))
    headers = {k.lower(): v for k, v in received.items()}
    assert headers["x-request-id"] == "r-2"
    assert headers["traceparent"].startswith("00-") and len(headers["traceparent"]) == 55
    assert headers["x-orderhex-client"] == "tester"
    assert "x-api-key" not in headers  # the client's credential stays at the gateway
    assert headers["x-forwarded-for"] == "127.0.0.1"
