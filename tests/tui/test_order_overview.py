"""The order detail's Parts table: the overview of an order, in-process and attached to a served orderhex.

A part is made to fail for real: its breaker is forced open through the Resilience port, so the
overview's call to it is refused the way a tripped breaker refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import bootstrap
from adapters.outbound.http.overview import HttpOverviews
from adapters.outbound.http.remote import RemoteService
from core.kernel.errors import NotFound
from core.orders.wire import place_order_from_json
from tests.served import Serve
from tests.tui.conftest import dashboard, place, until
from tui.app import DashboardApp
from tui.panels.order_detail import OrderDetailScreen

pytestmark = pytest.mark.anyio

PARTS = ("order", "stock", "payment", "shipment")
TOKEN = "overview-admin-token-0123456789"
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


def parts(app: DashboardApp) -> dict[str, list[str]]:
    """Part name -> Status, Latency, Source, Age, Why."""
    table = app.screen.query_one("#detail-parts", DataTable)
    return {str(row[0]): [str(cell) for cell in row[1:]] for row in (table.get_row_at(n)
                                                                     for n in range(table.row_count))}


async def open_detail(pilot: Pilot[Any], app: DashboardApp) -> None:
    """Opens the first order's detail and waits for its overview to be read."""
    await pilot.press("2")
    await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count >= 1)
    await pilot.press("d")
    assert isinstance(app.screen, OrderDetailScreen)
    await until(pilot, lambda: set(parts(app)) == set(PARTS))


async def reread(pilot: Pilot[Any], app: DashboardApp, part: str, status: str) -> None:
    await pilot.press("v")
    await until(pilot, lambda: parts(app).get(part, [""])[0] == status)


# -- in-process -----------------------------------------------------------------------------------


async def test_the_detail_shows_every_part_live_when_every_service_answers(application: bootstrap.Application):
    place(application)
    app = dashboard(application, overviews=bootstrap.local_overviews(application))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_detail(pilot, app)
        shown = parts(app)
        assert {name: (row[0], row[2]) for name, row in shown.items()} == {name: ("ok", "live") for name in PARTS}
        assert all(row[1].endswith(" ms") and row[3] == "" for row in shown.values())
        assert "all live" in str(app.screen.query_one("#detail-parts-title", Static).content)


async def test_a_part_behind_an_open_breaker_shows_open_circuit_and_its_last_known_value_with_age(
        application: bootstrap.Application):
    place(application)
    app = dashboard(application, overviews=bootstrap.local_overviews(application))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_detail(pilot, app)
        application.resilience.force_open("local:payments", "payments down for this test")
        await reread(pilot, app, "payment", "open_circuit")
        status, _, source, age, why = parts(app)["payment"]
        assert (status, source) == ("open_circuit", "last_known")
        assert age.endswith(" s") and float(age.removesuffix(" s")) >= 0
        assert why, "the part says why it is not live"
        assert [parts(app)[name][0] for name in ("order", "stock", "shipment")] == ["ok", "ok", "ok"]
        assert "partial" in str(app.screen.query_one("#detail-parts-title", Static).content)
        application.resilience.reset("local:payments", "payments back")
        await reread(pilot, app, "payment", "ok")
        assert parts(app)["payment"][2] == "live"


async def test_a_part_that_fails_before_it_was_ever_read_has_no_last_known_value(
        application: bootstrap.Application):
    place(application)
    application.resilience.force_open("local:inventory", "inventory down for this test")
    app = dashboard(application, overviews=bootstrap.local_overviews(application))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_detail(pilot, app)
        status, _, source, age, _ = parts(app)["stock"]
        assert (status, source, age) == ("open_circuit", "none", "")


async def test_without_an_overviews_port_the_detail_says_there_is_no_overview_and_offers_no_v(
        application: bootstrap.Application):
    place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count == 1)
        await pilot.press("d")
        assert isinstance(app.screen, OrderDetailScreen)
        assert "no overview here" in str(app.screen.query_one("#detail-parts-title", Static).content)
        assert not app.screen.query("#detail-parts")
        assert "v" not in app.active_bindings


# -- attached to a served orderhex -------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    # Choreography: no saga holds the order, so its parts are only what the services answer.
    server = Serve(tmp_path_factory.mktemp("served"), {"api.admin_token": TOKEN, "saga.mode": "manual"})
    yield server
    server.stop()


@pytest.fixture
def remote(served: Serve) -> Iterator[RemoteService]:
    service = RemoteService(served.url, TOKEN)
    yield service
    service.close()


def test_the_http_adapter_reads_the_served_overview_and_refuses_an_unknown_order(remote: RemoteService):
    order_id = remote.ordering.send(place_order_from_json(ORDER)).order_id
    overview = HttpOverviews(remote.api).overview(order_id, require=("payment", "stock"))
    assert overview.order_id == order_id and overview.complete
    assert [(p.name, p.status, p.source) for p in overview.parts] == [(name, "ok", "live") for name in PARTS]
    with pytest.raises(NotFound):
        HttpOverviews(remote.api).overview("no-such-order")


async def test_the_attached_detail_shows_the_served_overviews_parts_and_a_tripped_breaker(
        remote: RemoteService, served: Serve):
    remote.ordering.send(place_order_from_json({**ORDER, "customer_id": "c-attached"}))
    app = DashboardApp(remote.ordering, remote.control, source=f"attached to {served.url}", poll_interval=None,
                       resilience=remote.resilience, overviews=HttpOverviews(remote.api))
    async with app.run_test(size=(100, 40)) as pilot:
        await open_detail(pilot, app)
        assert {name: (row[0], row[2]) for name, row in parts(app).items()} == {name: ("ok", "live")
                                                                                 for name in PARTS}
        remote.resilience.force_open("local:payments", "payments down for this test")
        try:
            await reread(pilot, app, "payment", "open_circuit")
            status, _, source, age, _ = parts(app)["payment"]
            assert (status, source) == ("open_circuit", "last_known") and age.endswith(" s")
        finally:
            remote.resilience.reset("local:payments", "payments back")


async def test_the_parts_table_is_in_view_at_80_by_24(application: bootstrap.Application):
    place(application)
    app = dashboard(application, overviews=bootstrap.local_overviews(application))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_detail(pilot, app)
        await pilot.pause()
        assert app.screen.query_one("#detail-parts", DataTable).max_scroll_x == 0
