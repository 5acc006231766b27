"""The query ports orders uses (StockLevels, Credit, ShipmentStatus): one suite, both adapters.

In-process adapters wrap the services' inbound ports; HTTP adapters call the same application's REST
routes under a real uvicorn on 127.0.0.1. Same data behind both, so each answer must be the same.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.inbound.cli.contexts import seed
from adapters.outbound.http import queries as http
from adapters.outbound.inprocess import queries as local
from core.inventory.commands import ReserveStock
from core.inventory.events import StockLine
from core.kernel.errors import Unavailable
from core.payments.commands import AuthorizePayment
from core.runtime.fanout import DeadlineExceeded
from core.shipping.commands import ScheduleShipment
from tests.integration.rest.conftest import LiveServer, make_api, make_application

PORT = ("StockLevels", "Credit", "ShipmentStatus")


class Ports:
    def __init__(self, stock: Any, credit: Any, shipments: Any) -> None:
        self.stock, self.credit, self.shipments = stock, credit, shipments


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[bootstrap.Application, LiveServer]]:
    app = make_application(Path(tmp_path_factory.mktemp("queries")))
    seed(app.inventory, app.payments)
    app.inventory.send(ReserveStock(order_id="o-1", lines=(StockLine("SKU-1", 2),)))
    app.payments.send(AuthorizePayment(order_id="o-1", customer_id="c-1", amount=Decimal("19.98"), currency="EUR"))
    app.shipping.send(ScheduleShipment(order_id="o-1", customer_id="c-1", address="1 Main St"))
    with LiveServer(make_api(app)) as server:
        yield app, server
    app.close()


def _caller(service: str, url: str, **kwargs: Any) -> http.ServiceCaller:
    options: dict[str, Any] = {"timeout": 2.0, "retries": 0, "random": random.random, "sleep": time.sleep,
                               "monotonic": time.monotonic, **kwargs}
    return http.ServiceCaller(service, url, **options)


@pytest.fixture(params=["in-process", "http"])
def ports(request: pytest.FixtureRequest, served: tuple[bootstrap.Application, LiveServer]) -> Ports:
    app, server = served
    if request.param == "in-process":
        return Ports(local.LocalStockLevels(app.inventory), local.LocalCredit(app.payments),
                     local.LocalShipmentStatus(app.shipping))
    return Ports(http.HttpStockLevels(_caller("inventory", server.url)),
                 http.HttpCredit(_caller("payments", server.url)),
                 http.HttpShipmentStatus(_caller("shipping", server.url)))


def test_reservation_of_an_order_and_none_for_an_unknown_one(ports: Ports) -> None:
    found = ports.stock.reservation("o-1")
    assert found is not None and found.order_id == "o-1" and found.lines == (StockLine("SKU-1", 2),)
    assert ports.stock.reservation("no-such-order") is None


def test_levels_of_stocked_skus_only(ports: Ports) -> None:
    levels = ports.stock.levels(["SKU-1", "NEVER-STOCKED"], within=2.0)
    assert set(levels) == {"SKU-1"}
    assert levels["SKU-1"].reserved == 2 and levels["SKU-1"].available == levels["SKU-1"].on_hand - 2


def test_credit_account_and_payment(ports: Ports) -> None:
    account = ports.credit.account("c-1", within=2.0)
    assert account is not None and account.held == Decimal("19.98") and account.currency == "EUR"
    assert ports.credit.account("nobody") is None
    payment = ports.credit.payment("o-1")
    assert payment is not None and payment.amount == Decimal("19.98")
    assert ports.credit.payment("no-such-order") is None


def test_shipment_status(ports: Ports) -> None:
    shipment = ports.shipments.shipment("o-1")
    assert shipment is not None and shipment.address == "1 Main St"
    assert ports.shipments.shipment("no-such-order") is None


def test_no_time_left_is_refused_not_attempted(ports: Ports) -> None:
    with pytest.raises(DeadlineExceeded):
        ports.credit.account("c-1", within=0.0)
    with pytest.raises(DeadlineExceeded):
        ports.stock.levels(["SKU-1"], within=-0.5)
    with pytest.raises(DeadlineExceeded):
        ports.shipments.shipment("o-1", within=0.0)


def test_an_unreachable_service_is_unavailable_after_bounded_retries() -> None:
    from tests.served import free_port

    sleeps: list[float] = []
    caller = _caller("payments", f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01, sleep=sleeps.append,
                     random=lambda: 1.0)
    with pytest.raises(Unavailable, match=r"payments at http://127\.0\.0\.1"):
        http.HttpCredit(caller).account("c-1")
    assert sleeps == [0.01, 0.02]  # two retries, doubling, with the (here maximal) jitter
