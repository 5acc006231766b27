"""GET /orders/{id}/overview and POST /checkout/quote over a real Application (in-memory stores).

The other services' ports are the in-process adapters over the same application; a service is made
"down" by a door that refuses its calls, the way an injected fault or a stopped process does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

import bootstrap
from adapters.inbound.cli.contexts import seed
from adapters.inbound.rest.app import RestSettings, create_app
from adapters.outbound.inprocess import queries as local
from core.kernel.errors import Unavailable
from core.orders.checkout import Checkout
from core.orders.overview import OrderOverviews
from core.payments.commands import AuthorizePayment
from core.runtime.fanout import DeadlineExceeded, FanOut, LastKnown, TimedOut
from tests.integration.rest.conftest import ADMIN_TOKEN, ORDER, open_client

pytestmark = pytest.mark.anyio


class Doors:
    """Which services are down, and a clock the checkout's hops advance (virtual time)."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.hop_cost: dict[str, float] = {}
        self.now = 1000.0

    def __call__(self, service: str, within: float | None) -> None:
        self.now += self.hop_cost.get(service, 0.0)
        if within is not None and self.hop_cost.get(service, 0.0) >= within:
            raise DeadlineExceeded(service, (within - self.hop_cost[service]) * 1000)
        if service in self.down:
            raise Unavailable(service, "down for this test")

    def monotonic(self) -> float:
        return self.now


def _classify(error: BaseException) -> str:
    return "timeout" if isinstance(error, (TimedOut, DeadlineExceeded)) else "error"


@pytest.fixture
def doors() -> Doors:
    return Doors()


@pytest.fixture
def wiring(application: bootstrap.Application, doors: Doors) -> Iterator[dict[str, Any]]:
    seed(application.inventory, application.payments)
    fanout = FanOut(monotonic=time.monotonic, classify=_classify)
    overviews = OrderOverviews(application.ordering, local.LocalStockLevels(application.inventory, doors),
                               local.LocalCredit(application.payments, doors),
                               local.LocalShipmentStatus(application.shipping, doors), fanout=fanout,
                               last_known=LastKnown(time.monotonic), monotonic=time.monotonic, part_timeout=1.0,
                               deadline=1.5)
    checkout = Checkout(local.LocalCredit(application.payments, doors), monotonic=doors.monotonic, deadline=2.0,
                        door=doors)
    yield {"overviews": overviews, "checkout": checkout}
    fanout.close()


@pytest.fixture
async def api(application: bootstrap.Application, wiring: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(application.ordering, application.control, RestSettings(admin_token=ADMIN_TOKEN),
                     inventory=application.inventory, payments=application.payments, shipping=application.shipping,
                     **wiring)
    async for client in open_client(app):
        yield client


async def _placed(api: httpx.AsyncClient, application: bootstrap.Application) -> str:
    order_id = str((await api.post("/orders", json=ORDER)).json()["order_id"])
    application.payments.send(AuthorizePayment(order_id=order_id, customer_id="c-1", amount=Decimal("19.98"),
                                               currency="EUR"))
    return order_id


async def test_the_overview_shows_every_part_live(api: httpx.AsyncClient, application: bootstrap.Application) -> None:
    order_id = await _placed(api, application)
    body = (await api.get(f"/orders/{order_id}/overview")).json()
    assert body["order"]["order_id"] == order_id and body["payment"]["amount"] == "19.98"
    assert body["shipment"] is None  # not scheduled yet: answered, and nothing there
    assert {name: (p["status"], p["source"]) for name, p in body["parts"].items()} == {
        "order": ("ok", "live"), "stock": ("ok", "live"), "payment": ("ok", "live"), "shipment": ("ok", "live")}
    assert body["complete"] is True and all(p["latency_ms"] >= 0 for p in body["parts"].values())


async def test_a_service_down_gives_a_partial_overview_with_its_last_known_value(
        api: httpx.AsyncClient, application: bootstrap.Application, doors: Doors) -> None:
    order_id = await _placed(api, application)
    assert (await api.get(f"/orders/{order_id}/overview")).status_code == 200  # payment read live once
    doors.down.add("payments")
    response = await api.get(f"/orders/{order_id}/overview", params={"require": "stock"})
    body = response.json()
    assert response.status_code == 200 and body["complete"] is False
    payment = body["parts"]["payment"]
    assert payment["status"] == "error" and payment["source"] == "last_known" and payment["age_seconds"] >= 0
    assert body["payment"]["amount"] == "19.98"  # the last known value, marked as such
    assert body["parts"]["stock"]["status"] == "ok"


async def test_a_required_part_that_is_down_is_a_503_naming_it(api: httpx.AsyncClient,
                                                               application: bootstrap.Application,
                                                               doors: Doors) -> None:
    order_id = await _placed(api, application)
    doors.down.add("payments")
    response = await api.get(f"/orders/{order_id}/overview", params={"require": "payment,stock"})
    assert response.status_code == 503
    problem = response.json()
    assert problem["missing"] == ["payment"] and "payment (error)" in problem["detail"]
    assert problem["parts"]["stock"]["status"] == "ok"


async def test_overview_refuses_an_unknown_part_and_an_unknown_order(api: httpx.AsyncClient) -> None:
    response = await api.get("/orders/o-x/overview", params={"require": "wallet"})
    assert response.status_code == 422 and "wallet" in response.text
    assert (await api.get("/orders/no-such-order/overview")).status_code == 404


async def test_the_checkout_shows_each_hops_latency(api: httpx.AsyncClient, doors: Doors) -> None:
    doors.hop_cost = {"orders": 0.01, "payments": 0.2}
    response = await api.post("/checkout/quote", json=ORDER)
    body = response.json()
    assert response.status_code == 200, body
    assert body["decision"] == "approved" and body["total"] == "19.98"
    assert [(h["hop"], h["service"], h["status"]) for h in body["hops"]] == [
        ("validation", "orders", "ok"), ("credit-check", "payments", "ok"), ("approval", "orders", "ok")]
    assert [h["latency_ms"] for h in body["hops"]] == pytest.approx([10, 200, 10])
    assert body["left_ms"] == pytest.approx(2000 - 220)


async def test_a_hop_that_cannot_finish_in_time_is_a_504_naming_it(api: httpx.AsyncClient, doors: Doors) -> None:
    doors.hop_cost = {"orders": 0.01, "payments": 0.5}
    response = await api.post("/checkout/quote", json=ORDER, headers={"X-Deadline-Ms": "300"})
    problem = response.json()
    assert response.status_code == 504, problem
    assert problem["hop"] == "credit-check" and problem["service"] == "payments"
    assert [h["status"] for h in problem["hops"]] == ["ok", "deadline_exceeded", "not_run"]


async def test_a_failed_hop_fails_the_chain_and_bad_input_runs_no_hop(api: httpx.AsyncClient, doors: Doors) -> None:
    doors.down.add("payments")
    response = await api.post("/checkout/quote", json=ORDER)
    assert response.status_code == 503 and response.json()["hop"] == "credit-check"
    doors.down.clear()
    response = await api.post("/checkout/quote", json={"customer_id": "c-1", "lines": []})
    assert response.status_code == 422 and "lines" in response.text
