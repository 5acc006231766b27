"""Attach mode: the HTTP client adapter and the dashboard against a real `orderhex serve` process."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

import bootstrap
from adapters.outbound.http.remote import RemoteService
from core.kernel.errors import IllegalTransition, InvalidFields, NotFound, Unavailable, ValidationError
from core.kernel.feed import FeedEvent, FeedKind
from core.orders.commands import ApproveOrder, CancelOrder, LineItem, PlaceOrder, RejectOrder, ShipOrder
from core.orders.model import OrderStatus
from core.orders.queries import GetOrder, ListOrders
from core.orders.wire import place_order_from_json
from tests.served import Serve, free_port
from tests.tui.conftest import until
from tui.app import DashboardApp
from tui.panels.outbox import OutboxPanel
from tui.panels.services import IN_PROCESS_ONLY

TOKEN = "attach-admin-token-0123456789"
# Choreography: these tests cancel and ship pending orders, which the saga's lock refuses while it runs.
SETTINGS = {"api.admin_token": TOKEN, "saga.mode": "manual"}
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    server = Serve(tmp_path_factory.mktemp("served"), SETTINGS)
    yield server
    server.stop()


@pytest.fixture
def remote(served: Serve) -> Iterator[RemoteService]:
    service = RemoteService(served.url, TOKEN)
    yield service
    service.close()


# -- the client adapter ------------------------------------------------------------------------


def test_remote_ordering_places_reads_lists_cancels_and_reads_history(remote: RemoteService):
    command = place_order_from_json({**ORDER, "customer_id": "c-remote"}, idempotency_key="attach-key-1")
    first = remote.ordering.send(command)
    assert first.created
    assert remote.ordering.send(command) == type(first)(first.order_id, created=False)
    summary = remote.ordering.get(GetOrder(order_id=first.order_id))
    assert (summary.customer_id, str(summary.total), summary.lines[0].sku) == ("c-remote", "19.98", "SKU-1")
    page = remote.ordering.list(ListOrders(customer_id="c-remote"))
    assert [s.order_id for s in page.items] == [first.order_id]
    remote.ordering.send(CancelOrder(order_id=first.order_id, reason="attach test"))
    assert [e.type for e in remote.ordering.history(first.order_id)] == ["orders.OrderPlaced", "orders.OrderCancelled"]


def _unchecked(customer_id: str = "c-1", quantity: int = 1) -> PlaceOrder:
    # Built directly, past the wire parser that would refuse it here: the server is to refuse it.
    return PlaceOrder(customer_id=customer_id, currency="EUR", lines=(LineItem("SKU-1", quantity, Decimal("1")),))


def test_remote_refusals_come_back_as_core_errors(remote: RemoteService):
    with pytest.raises(ValidationError) as refused:
        remote.ordering.send(_unchecked(quantity=0))
    assert refused.value.field == "lines[0].quantity"
    with pytest.raises(NotFound):
        remote.ordering.get(GetOrder(order_id="no-such-order"))


def test_a_refusal_naming_several_fields_comes_back_naming_each(remote: RemoteService):
    with pytest.raises(InvalidFields) as refused:
        remote.ordering.send(_unchecked(customer_id="", quantity=0))
    assert [e.field for e in refused.value.errors] == ["customer_id", "lines[0].quantity"]


def test_a_refused_transition_reads_as_it_does_in_process(remote: RemoteService):
    order_id = remote.ordering.send(place_order_from_json(ORDER)).order_id
    with pytest.raises(IllegalTransition) as refused:
        remote.ordering.send(ShipOrder(order_id=order_id))
    assert str(refused.value) == f"order {order_id} is PENDING: cannot ship"


def test_remote_control_lists_switches_and_steers_the_relay(remote: RemoteService):
    storage = {p.name: p for p in remote.control.ports()}["orders.storage"]
    assert storage.active == "memory" and "file" in storage.available
    assert remote.control.switch("orders.storage", "file").active == "file"
    assert remote.control.switch("orders.storage", "memory").active == "memory"
    with pytest.raises(ValidationError):
        remote.control.switch("orders.storage", "no-such-adapter")
    assert remote.control.outbox_status().relay_running
    remote.control.pause_relay()
    assert remote.control.outbox_status().relay_paused
    remote.control.resume_relay()
    assert not remote.control.outbox_status().relay_paused
    assert remote.control.check_health()["orders.storage"] == "ok"


def test_remote_control_lists_the_services_of_the_served_process(remote: RemoteService, served: Serve):
    services = {s.name: s for s in remote.control.services()}
    assert list(services) == list(bootstrap.CONTEXTS)
    inventory = services["inventory"]
    assert (inventory.pid, inventory.slot, inventory.adapter, inventory.health) == (
        served.process.pid, "inventory.storage", "memory", "ok")
    assert {s.consumer_lag for s in services.values()} == {None}


def test_the_remote_feed_streams_events_to_subscribers(remote: RemoteService):
    seen: list[FeedEvent] = []
    unsubscribe = remote.control.subscribe(seen.append)
    try:
        order_id = remote.ordering.send(place_order_from_json({**ORDER, "customer_id": "c-feed"})).order_id
        deadline = time.monotonic() + 10
        while not any(order_id in e.text for e in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(e.kind is FeedKind.DOMAIN_EVENT and order_id in e.text for e in seen)
        assert [e.seq for e in seen] == sorted({e.seq for e in seen})
        assert remote.control.recent_events(0, 10_000)[-1].seq >= seen[-1].seq
    finally:
        unsubscribe()


def test_a_wrong_token_is_refused_with_what_to_do(served: Serve):
    service = RemoteService(served.url, "wrong-token")
    try:
        with pytest.raises(Unavailable, match=r"refused the admin token .*--token"):
            service.control.ports()
    finally:
        service.close()


def test_the_feed_follows_again_once_a_refused_token_is_accepted(tmp_path: Path):
    server = Serve(tmp_path, {"api.admin_token": "another-token-0123456789", "saga.mode": "manual"})
    remote = RemoteService(server.url, TOKEN)
    try:
        seen: list[FeedEvent] = []
        remote.control.subscribe(seen.append)
        time.sleep(1)  # refused meanwhile: the stream must keep trying, not give up
        assert not remote.control.feed.connected
        server.stop()
        server = Serve(tmp_path, SETTINGS, port=server.port)
        order_id = remote.ordering.send(place_order_from_json(ORDER)).order_id
        _wait(lambda: any(order_id in e.text for e in seen), timeout=20)
    finally:
        remote.close()
        server.stop()


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.05)


def test_an_unreachable_server_is_unavailable_naming_it():
    service = RemoteService(f"http://127.0.0.1:{free_port()}", TOKEN)
    try:
        with pytest.raises(Unavailable, match=r"orderhex serve at http://127\.0\.0\.1"):
            service.control.outbox_status()
    finally:
        service.close()


# -- the dashboard, attached -------------------------------------------------------------------


async def test_the_attached_dashboard_shows_the_same_panels_and_places_orders(remote: RemoteService, served: Serve):
    app = DashboardApp(remote.ordering, remote.control, source=f"attached to {served.url}", poll_interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        ports = app.query_one("#ports-table", DataTable)
        await until(pilot, lambda: ports.row_count >= 2)
        assert str(ports.get_row("orders.storage")[1]) == "memory"
        await until(pilot, lambda: (s := app.query_one(OutboxPanel).status) is not None and s.relay_running)
        await pilot.press("5")
        for widget_id, value in {"customer_id": "c-attached", "sku-0": "SKU-7", "quantity-0": "1",
                                 "unit_price-0": "3.00"}.items():
            app.query_one(f"#{widget_id}", Input).value = value
        await pilot.press("ctrl+s")
        await until(pilot, lambda: str(app.query_one("#place-result", Static).content).startswith("placed "))
        await pilot.press("2")
        orders = app.query_one("#orders-table", DataTable)
        await until(pilot, lambda: any(str(orders.get_row(k.value)[1]) == "c-attached" for k in orders.rows))
        await pilot.press("4")
        log = app.query_one("#feed-log")
        await until(pilot, lambda: any("orders.OrderPlaced" in line.text for line in log.lines))


async def test_the_attached_dashboard_lists_the_services_and_reads_no_documents(remote: RemoteService,
                                                                                 served: Serve):
    app = DashboardApp(remote.ordering, remote.control, source=f"attached to {served.url}", poll_interval=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("6")
        table = app.query_one("#services-table", DataTable)
        await until(pilot, lambda: table.row_count == len(bootstrap.CONTEXTS))
        assert [str(c) for c in table.get_row("payments")][:5] == [
            "payments", str(served.process.pid), "payments.storage", "memory", "ok"]
        table.move_cursor(row=table.get_row_index("inventory"))
        note = app.query_one("#documents-note", Static)
        await until(pilot, lambda: str(note.content) == IN_PROCESS_ONLY)


async def test_a_wrong_token_says_token_refused_not_not_answering(served: Serve):
    remote = RemoteService(served.url, "wrong-token")
    try:
        app = DashboardApp(remote.ordering, remote.control, source="attached", poll_interval=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: "REFUSED" in app.sub_title or "NOT ANSWERING" in app.sub_title)
            assert app.sub_title == "attached · TOKEN REFUSED, retrying"
    finally:
        remote.close()


def _feed_text(app: DashboardApp) -> str:
    return "\n".join(line.text for line in app.query_one("#feed-log").lines)


async def test_after_a_server_restart_the_attached_feed_shows_the_new_servers_events(tmp_path: Path):
    server = Serve(tmp_path, SETTINGS)
    remote = RemoteService(server.url, TOKEN)
    try:
        app = DashboardApp(remote.ordering, remote.control, source="attached", poll_interval=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("4")
            for n in range(3):  # more events before the restart than after it
                remote.ordering.send(place_order_from_json({**ORDER, "customer_id": f"c-old-{n}"}))
            # The domain events only ("orders.OrderPlaced <id> v1"), not the other services' reactions to them.
            await until(pilot, lambda: len(re.findall(r"orders\.OrderPlaced \S+ v1", _feed_text(app))) == 3)
            server.stop()
            server = Serve(tmp_path, SETTINGS, port=server.port)
            order_id = remote.ordering.send(place_order_from_json({**ORDER, "customer_id": "c-new"})).order_id
            await until(pilot, lambda: f"orders.OrderPlaced {order_id}" in _feed_text(app), timeout=20)
            assert "restarted: its feed starts again" in _feed_text(app)
    finally:
        remote.close()
        server.stop()


async def test_after_a_server_restart_the_ports_panel_shows_the_adapters_it_started_with(tmp_path: Path):
    server = Serve(tmp_path, SETTINGS)
    remote = RemoteService(server.url, TOKEN)
    try:
        app = DashboardApp(remote.ordering, remote.control, source="attached", poll_interval=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            ports = app.query_one("#ports-table", DataTable)
            remote.control.switch("orders.storage", "file")
            await until(pilot, lambda: ports.row_count > 0 and str(ports.get_row("orders.storage")[1]) == "file")
            server.stop()
            server = Serve(tmp_path, SETTINGS, port=server.port)
            remote.ordering.send(place_order_from_json(ORDER))
            await until(pilot, lambda: str(ports.get_row("orders.storage")[1]) == "memory", timeout=20)
    finally:
        remote.close()
        server.stop()


async def test_a_lost_server_is_shown_and_the_dashboard_reconnects(tmp_path: Path):
    server = Serve(tmp_path, SETTINGS)
    remote = RemoteService(server.url, TOKEN)
    try:
        app = DashboardApp(remote.ordering, remote.control, source="attached", poll_interval=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.query_one(OutboxPanel).status is not None)
            server.stop()
            await until(pilot, lambda: "NOT ANSWERING" in app.sub_title)
            server = Serve(tmp_path, SETTINGS, port=server.port)
            await until(pilot, lambda: "NOT ANSWERING" not in app.sub_title, timeout=20)
            await until(pilot, lambda: remote.control.feed.connected, timeout=20)
    finally:
        remote.close()
        server.stop()


def test_attach_without_a_token_is_one_line_on_stderr_and_exit_2(capsys: pytest.CaptureFixture[str]):
    assert bootstrap.main(["dashboard", "--attach", "http://127.0.0.1:1", "--token", ""]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--token" in err


def test_remote_ordering_runs_the_whole_lifecycle_and_rebuilds_past_states(remote: RemoteService):
    order_id = remote.ordering.send(place_order_from_json({**ORDER, "customer_id": "c-life"})).order_id
    remote.ordering.send(ApproveOrder(order_id=order_id))
    remote.ordering.send(ShipOrder(order_id=order_id))
    assert remote.ordering.get(GetOrder(order_id=order_id)).status is OrderStatus.SHIPPED
    assert remote.ordering.as_of(order_id, version=2).status is OrderStatus.APPROVED
    other = remote.ordering.send(place_order_from_json({**ORDER, "customer_id": "c-life"})).order_id
    remote.ordering.send(RejectOrder(order_id=other, reason="no stock"))
    assert remote.ordering.get(GetOrder(order_id=other)).reason == "no stock"


def test_remote_control_shows_outbox_rows_and_rebuilds_projections(remote: RemoteService):
    order_id = remote.ordering.send(place_order_from_json({**ORDER, "customer_id": "c-rows"})).order_id
    rows = remote.control.recent_outbox(limit=200)
    [placed] = [r for r in rows if r.aggregate_id == order_id and r.type == "orders.OrderPlaced" and r.seq > 0]
    assert json.loads(placed.payload)["aggregate_id"] == order_id  # the row's JSON text, as the store holds it
    assert rows == sorted(rows, key=lambda r: r.seq, reverse=True)
    before = remote.ordering.get(GetOrder(order_id=order_id))
    assert remote.control.rebuild_projections() >= 1
    assert remote.ordering.get(GetOrder(order_id=order_id)) == before
