"""The dashboard attached to the gateway shows the whole system (issue 13): four services, one
`orderhex serve --service NAME` process each on the Kafka-compatible broker, behind a real
`orderhex gateway`; the real dashboard, headless, attached to the gateway's URL, places an order
and sees in one screen every service's events, the services' breakers, the order's saga and every
instance. Then the gateway's merged feed itself: a stream resumed with its Last-Event-ID gets only
what came after, and an instance that appears after the feed opened joins it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from textual.widgets import DataTable, Input, Static

from adapters.inbound.gateway.merged_feed import MergedFeed
from adapters.outbound.http.remote import RemoteService
from adapters.outbound.http.sagas import HttpSagaOperations
from core.kernel.errors import ValidationError
from ports.registry import InstanceRecord
from tests.e2e.test_gateway import Gateway
from tests.fixtures_kafka import kafka_overrides
from tests.served import Serve
from tests.tui.conftest import until
from tui.app import PANELS, DashboardApp
from tui.panels.sagas import SagasPanel

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.anyio, pytest.mark.timeout(300)]
SERVICES = ("orders", "inventory", "payments", "shipping")
TOKEN = "gateway-attach-admin-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEYS = {spec.id: str(n) for n, spec in enumerate(PANELS, start=1)}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tansu: Any) -> Iterator[dict[str, Any]]:
    """The four services (orchestrated saga, Kafka between them), payments twice on its one store,
    and the gateway in front of them."""
    root = tmp_path_factory.mktemp("attach-gateway")
    settings = {"api.admin_token": TOKEN, "saga.mode": "orchestration", "storage.adapter": "sqlite",
                **kafka_overrides(tansu)}
    started: list[Serve | Gateway] = []
    try:
        services: dict[str, Serve] = {}
        for name in (*SERVICES, "payments-2"):
            service = name.removesuffix("-2")
            (root / service).mkdir(exist_ok=True)  # one store per service, shared by its instances
            services[name] = Serve(root / service, settings, args=("--service", service))
            started.append(services[name])
        static = ";".join(f"{s}={','.join(p.url for n, p in services.items() if n.startswith(s))}" for s in SERVICES)
        gateway = Gateway(root, {"registry.static": static, "api.admin_token": TOKEN})
        started.append(gateway)
        yield {"gateway": gateway, **services}
    finally:
        for process in reversed(started):
            process.stop()


def _through(gateway: Gateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, gateway.url + path, timeout=10, **kwargs)


def _feed_text(app: DashboardApp) -> str:
    return "\n".join(line.text for line in app.query_one("#feed-log").lines)


async def test_the_dashboard_on_the_gateway_shows_every_services_events_breakers_saga_and_instance(
        system: dict[str, Any]) -> None:
    gateway = system["gateway"]
    assert _through(gateway, "POST", "/inventory/stock/SKU-G/restock", json={"quantity": 10}).is_success
    opened = _through(gateway, "PUT", "/payments/accounts/c-gw", json={"credit_limit": "500.00"})
    assert opened.status_code == 201, opened.text
    remote = RemoteService(gateway.url, TOKEN)
    try:
        app = DashboardApp(remote.ordering, remote.control, source=f"attached to {gateway.url}", poll_interval=0.2,
                           resilience=remote.resilience, sagas=HttpSagaOperations(remote.api))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press(KEYS["place"])
            for widget_id, value in {"customer_id": "c-gw", "sku-0": "SKU-G", "quantity-0": "2",
                                     "unit_price-0": "10.00"}.items():
                app.query_one(f"#{widget_id}", Input).value = value
            await pilot.press("ctrl+s")
            result = app.query_one("#place-result", Static)
            await until(pilot, lambda: str(result.content).startswith("placed "), timeout=20)
            order_id = re.search(r"[0-9a-f-]{36}", str(result.content)).group(0)  # type: ignore[union-attr]

            # The feed: each service's own events about the order, in one stream.
            await pilot.press(KEYS["feed"])
            wanted = [f"{event} {order_id}" for event in ("orders.OrderPlaced", "inventory.StockReserved",
                                                          "payments.PaymentAuthorized", "orders.OrderApproved",
                                                          "shipping.ShipmentScheduled")]
            try:
                await until(pilot, lambda: all(w in _feed_text(app) for w in wanted), timeout=60)
            except AssertionError:
                missing = [w for w in wanted if w not in _feed_text(app)]
                raise AssertionError(f"not on the feed: {missing}\n{_feed_text(app)[-3000:]}") from None
            services = {e.data.get("service") for e in remote.control.feed.recent(0, 5000)}
            assert services >= set(SERVICES)

            # The sagas: the order's saga, as orders (which runs it) reads it, through the gateway.
            await pilot.press(KEYS["sagas"])
            panel = app.query_one(SagasPanel)
            await until(pilot, lambda: any(order_id in v.subject and v.state == "completed"
                                           for v in panel.views.values()), timeout=60)
            [saga_id] = [k for k, v in panel.views.items() if order_id in v.subject]
            assert app.query_one("#sagas-table", DataTable).get_row(saga_id)

            # The breakers: orders' breakers on its calls to the others, and the gateway's own.
            await pilot.press(KEYS["breakers"])
            breakers = app.query_one("#breakers-table", DataTable)
            orders_key = f"orders/127.0.0.1:{system['orders'].port}"
            expected = {f"http:{s}@{orders_key}" for s in ("inventory", "payments", "shipping")}
            expected.add(f"gateway:{orders_key}")
            await until(pilot, lambda: expected <= {str(k.value) for k in breakers.rows}, timeout=20)

            # The services: every instance, each in its own process (payments' two by their process).
            await pilot.press(KEYS["services"])
            table = app.query_one("#services-table", DataTable)
            await until(pilot, lambda: table.row_count == len(SERVICES) + 1, timeout=20)
            for name in (*SERVICES, "payments-2"):
                service, pid = name.removesuffix("-2"), str(system[name].process.pid)
                row = [str(cell) for cell in table.get_row(f"payments {pid}" if service == "payments" else service)]
                assert row[:3] == [service, pid, f"{service}.storage"], row
    finally:
        remote.close()


def test_an_action_on_a_merged_breaker_reaches_the_instance_that_holds_it(system: dict[str, Any]) -> None:
    gateway, orders = system["gateway"], system["orders"]
    remote = RemoteService(gateway.url, TOKEN)
    try:
        name = f"http:shipping@orders/127.0.0.1:{orders.port}"
        forced = remote.resilience.force_open(name, "shipping is being moved")
        assert (forced["name"], forced["state"]) == (name, "forced-open")
        held = httpx.get(f"{orders.url}/admin/breakers", headers=AUTH, timeout=5).json()
        assert {b["name"]: b["state"] for b in held}["http:shipping"] == "forced-open"
        assert remote.resilience.reset(name, "moved")["state"] == "closed"
        unknown = _through(gateway, "POST", "/admin/breakers/no-such-breaker/reset", headers=AUTH,
                           json={"reason": "r"})
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    finally:
        remote.close()


def test_an_action_on_the_gateways_own_breaker_holds_its_upstream(system: dict[str, Any]) -> None:
    gateway, orders = system["gateway"], system["orders"]
    assert _through(gateway, "GET", "/orders").status_code == 200  # the breaker is made on the first call
    remote = RemoteService(gateway.url, TOKEN)
    name = f"gateway:orders/127.0.0.1:{orders.port}"
    try:
        assert remote.resilience.force_open(name, "orders is being moved")["state"] == "forced-open"
        held = _through(gateway, "GET", "/orders")
        assert held.status_code == 503 and held.headers["X-Gateway-Error"], held.text
        with pytest.raises(ValidationError, match="reason"):
            remote.resilience.reset(name, "  ")
        assert remote.resilience.reset(name, "moved")["state"] == "closed"
        assert _through(gateway, "GET", "/orders").status_code == 200
        assert remote.resilience.reconfigure(name, {"minimum_calls": 7})["config"]["minimum_calls"] == 7
        with pytest.raises(ValidationError, match="no_such_setting"):
            remote.resilience.reconfigure(name, {"no_such_setting": 1})
    finally:
        remote.close()


def _frames(url: str, headers: dict[str, str], until_seq: int | None = None, quiet: float = 1.5,
            longest: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
    """(id, data) of the stream's events until one with `until_seq` arrived, none came for `quiet`
    seconds or `longest` seconds passed (the services' feeds never stop for long)."""
    got: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + longest
    with httpx.stream("GET", url, headers={**AUTH, **headers}, timeout=httpx.Timeout(quiet, connect=3)) as response:
        assert response.status_code == 200, response.read()
        event_id = ""
        try:
            for line in response.iter_lines():
                if line.startswith("id:"):
                    event_id = line.removeprefix("id:").strip()
                elif line.startswith("data:"):
                    got.append((event_id, json.loads(line.removeprefix("data:"))))
                    if until_seq is not None and got[-1][1]["seq"] >= until_seq:
                        break
                if time.monotonic() > deadline:
                    break
        except httpx.ReadTimeout:
            pass  # nothing more for `quiet` seconds: what was held has been sent
    return got


def test_a_stream_resumed_with_its_last_event_id_gets_only_what_came_after(system: dict[str, Any]) -> None:
    gateway = system["gateway"]
    url = f"{gateway.url}/admin/events"
    first = _frames(url, {})
    assert first, "the merged feed held no event"
    last_id, last = first[-1][0], first[-1][1]["seq"]
    assert [data["seq"] for _, data in first] == list(range(first[0][1]["seq"], last + 1))
    placed = _through(gateway, "POST", "/orders", json={
        "customer_id": "c-gw", "lines": [{"sku": "SKU-G", "quantity": 1, "unit_price": "10.00"}]})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    deadline = time.monotonic() + 30
    resumed: list[tuple[str, dict[str, Any]]] = []
    while not any(order_id in data["text"] for _, data in resumed):
        assert time.monotonic() < deadline, "the resumed stream never carried the new order's events"
        resumed = _frames(url, {"Last-Event-ID": last_id})
    assert resumed[0][1]["seq"] == last + 1  # nothing sent twice, nothing skipped
    assert _frames(f"{url}?after={last}", {}, until_seq=last + 1)[0][1]["seq"] == last + 1
    # An id of another run of the gateway: everything held, from the oldest.
    assert _frames(url, {"Last-Event-ID": "0123456789abcdef:5"}, until_seq=1)[0][1]["seq"] == first[0][1]["seq"]
    refused = httpx.get(url, headers={**AUTH, "Last-Event-ID": "not-an-id"}, timeout=5)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"


async def test_an_instance_that_appears_after_the_feed_opened_joins_it(system: dict[str, Any]) -> None:
    """The merged feed over a registry listing that grows: payments is listed only later."""
    orders, payments = system["orders"], system["payments"]
    listed = [InstanceRecord("orders", f"127.0.0.1:{orders.port}", orders.url)]
    wakes: list[Any] = []
    feed = MergedFeed(lambda: list(listed), lambda: dict(AUTH), wakes.append)
    services_seen: set[str] = set()
    async with aiohttp.ClientSession() as session:
        feed.start(session)
        try:
            async def seen(service: str) -> None:
                last = 0
                while service not in services_seen:
                    chunk, last, _ = feed.after(last)
                    services_seen.update(json.loads(line[5:])["data"]["service"]
                                         for line in chunk.decode().splitlines() if line.startswith("data:"))
                    if service not in services_seen:
                        await asyncio.wait_for(feed.news.wait(), 10)

            await asyncio.wait_for(seen("orders"), 20)
            assert services_seen == {"orders"}
            listed.append(InstanceRecord("payments", f"127.0.0.1:{payments.port}", payments.url))
            wakes[0]()  # what the gateway's Upstreams does on a registry change
            await asyncio.wait_for(seen("payments"), 20)
            assert feed.following == tuple(sorted((orders.url, payments.url)))
            listed.pop(0)
            wakes[0]()
            await until_following(feed, (payments.url,))
        finally:
            await feed.stop()


async def until_following(feed: MergedFeed, addresses: tuple[str, ...], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while feed.following != addresses:
        assert time.monotonic() < deadline, f"still following {feed.following}"
        await asyncio.sleep(0.05)
