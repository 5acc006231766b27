"""Every panel and action of the dashboard, driven headless through the real app and application."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select, Static, TabbedContent

import bootstrap
from core.kernel.feed import FeedEvent, FeedKind
from core.orders.commands import ApproveOrder, CancelOrder
from core.orders.model import OrderStatus
from core.orders.queries import GetOrder, ListOrders
from tests.tui.conftest import dashboard, make_application, place, until
from tui.app import PANELS
from tui.help import HelpScreen
from tui.keybar import KeyBar
from tui.panels.feed import LOG_LINES, FeedPanel
from tui.panels.order_detail import OrderDetailScreen, ReasonPrompt
from tui.panels.orders import OrdersPanel
from tui.panels.outbox import OutboxPanel
from tui.panels.ports import AdapterChooser, PortsPanel

pytestmark = pytest.mark.anyio


def text(app: object, selector: str) -> str:
    return str(app.query_one(selector, Static).content)  # type: ignore[attr-defined]


def cells(table: DataTable[str], key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


# -- layout and keys ---------------------------------------------------------------------------


async def test_number_keys_show_each_panel_and_focus_its_main_widget(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        for n, spec in enumerate(PANELS, start=1):
            await pilot.press(str(n))
            assert app.query_one(TabbedContent).active == spec.id
            assert app.focused is not None and app.query_one(f"#{spec.id}") in app.focused.ancestors_with_self


async def test_question_mark_opens_help_and_escape_goes_back(application):
    app = dashboard(application)
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_escape_leaves_a_field_so_number_keys_switch_panels_again(application):
    app = dashboard(application)
    async with app.run_test() as pilot:
        await pilot.press("4", "slash")
        assert isinstance(app.focused, Input)
        await pilot.press("escape", "2")
        assert app.query_one(TabbedContent).active == "orders"


async def test_q_quits(application):
    app = dashboard(application)
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


def _bindings(app) -> dict[str, bool]:
    return {key: enabled for key, (_, _, enabled, _) in app.active_bindings.items()}


async def test_footer_offers_only_the_bindings_of_the_shown_panel(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#ports-table", DataTable)
        await _cursor_to(pilot, table, "orders.storage")
        assert _bindings(app)["s"] is True
        assert "ctrl+l" not in _bindings(app)
        await pilot.press("5")
        assert _bindings(app)["ctrl+l"] is True
        assert "s" not in _bindings(app)


async def test_the_app_survives_small_large_and_changing_sizes(application):
    place(application)
    app = dashboard(application)
    async with app.run_test(size=(80, 24)) as pilot:
        for n in range(1, len(PANELS) + 1):
            await pilot.press(str(n))
        for width, height in ((120, 40), (60, 15), (200, 60), (80, 24), (20, 8)):
            await pilot.resize_terminal(width, height)
            await pilot.pause()
        await pilot.press("2")
        await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count == 1)
        assert app.is_running


def key_bar(app) -> str:
    return str(app.screen.query_one(KeyBar).content)


async def test_every_column_of_every_panel_table_is_in_view_at_80_by_24(tmp_path: Path):
    application = make_application(tmp_path, ids="uuid7")  # real ids: 36 characters each
    try:
        place(application, "customer-0042")
        app = dashboard(application)
        async with app.run_test(size=(80, 24)) as pilot:
            for key, table_id in (("1", "#ports-table"), ("2", "#orders-table"), ("3", "#outbox-table"),
                                  ("6", "#services-table")):
                await pilot.press(key)
                table = app.query_one(table_id, DataTable)
                await until(pilot, lambda table=table: table.row_count > 0)
                await pilot.pause()
                assert table.max_scroll_x == 0, f"{table_id} scrolls {table.max_scroll_x} cells sideways"
    finally:
        application.close()


async def test_the_detail_screens_tables_are_in_view_at_80_by_24(application):
    place(application, "c-1", ("SKU-LONG-NAME-0001", 2, "1234.50"))
    app = dashboard(application)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count == 1)
        await pilot.press("enter")
        history = app.screen.query_one("#detail-history", DataTable)
        await until(pilot, lambda: history.row_count == 1)
        await pilot.pause()
        for table in app.screen.query(DataTable).results(DataTable):
            assert table.max_scroll_x == 0, f"#{table.id} scrolls {table.max_scroll_x} cells sideways"


async def test_a_narrow_orders_table_shows_the_tail_of_each_order_id_and_the_whole_customer(tmp_path: Path):
    application = make_application(tmp_path, ids="uuid7")
    try:
        order_id = place(application, "customer-1")
        app = dashboard(application)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            table = app.query_one("#orders-table", DataTable)
            await until(pilot, lambda: table.row_count == 1)
            shown_id, customer = (str(c) for c in table.get_row(order_id)[:2])
            assert shown_id.startswith("…") and order_id.endswith(shown_id[1:])
            assert customer == "customer-1"
    finally:
        application.close()


async def test_a_customer_id_that_looks_like_markup_is_shown_as_typed(application):
    order_id = place(application, "c-[/b]")
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        table = app.query_one("#orders-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert cells(table, order_id)[1] == "c-[/b]"
        await pilot.press("enter")
        summary = app.screen.query_one("#detail-summary", Static)
        await until(pilot, lambda: "customer c-[/b]" in str(summary.content))
        assert app.is_running


async def test_the_app_starts_on_an_empty_data_dir_with_the_default_config(tmp_path: Path):
    data_dir = tmp_path / "fresh"
    application = bootstrap.Application(bootstrap.load_config(env={"ORDERHEX_DATA_DIR": str(data_dir)}))
    relay = bootstrap.start_relay(application)
    try:
        app = dashboard(application, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.query_one("#ports-table", DataTable)
            await until(pilot, lambda: table.row_count == len(bootstrap.REGISTRY) - 1 + len(bootstrap.CONTEXTS))
            assert cells(table, "orders.storage")[1] == bootstrap.SETTINGS["storage.adapter"].default
            await until(pilot, lambda: app.query_one(OutboxPanel).status is not None)
            assert app.query_one(OutboxPanel).status.relay_running
    finally:
        relay.stop()
        application.close()


# -- ports & adapters --------------------------------------------------------------------------


async def test_ports_panel_lists_every_port_with_its_active_and_available_adapters(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#ports-table", DataTable)
        await until(pilot, lambda: table.row_count == len(bootstrap.REGISTRY) - 1 + len(bootstrap.CONTEXTS))
        row = cells(table, "orders.storage")
        assert row[1] == "memory"
        assert all(name in row[2] for name in bootstrap.STORAGE_ADAPTERS)
        assert row[3] == "ok"
        assert "fixed at start" in cells(table, "clock")[2]


async def _cursor_to(pilot, table: DataTable[str], key: str) -> None:
    await until(pilot, lambda: table.row_count > 0)
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


async def test_switching_storage_by_key_serves_the_next_order_and_shows_on_the_feed(application):
    first = place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#ports-table", DataTable)
        await _cursor_to(pilot, table, "orders.storage")
        await pilot.press("s")
        assert isinstance(app.screen, AdapterChooser)
        options = app.screen.query_one("#chooser-options")
        options.highlighted = options.get_option_index("file")
        await pilot.press("enter")
        await until(pilot, lambda: cells(table, "orders.storage")[1] == "file")
        assert "now served by file" in text(app, "#switch-status")
        await pilot.press("4")
        await until(pilot, lambda: "orders.storage: memory -> file" in _feed_text(app))
        second = place(application, "c-2")
        page = application.ordering.list(ListOrders())
        assert [s.order_id for s in page.items] == [second]
        assert first != second


async def test_a_failed_switch_is_reported_and_the_old_adapter_stays(tmp_path: Path):
    (tmp_path / "not-a-directory").write_text("a file where the store wants a directory")
    application = make_application(tmp_path, **{"storage.file_dir": str(tmp_path / "not-a-directory")})
    try:
        app = dashboard(application)
        async with app.run_test(size=(100, 30)) as pilot:
            app.switch_adapter("orders.storage", "file")
            await until(pilot, lambda: "failed" in text(app, "#switch-status"))
            assert "is unavailable" in text(app, "#switch-status")
            assert app.query_one(PortsPanel).switching is None
            table = app.query_one("#ports-table", DataTable)
            await until(pilot, lambda: table.row_count > 0 and cells(table, "orders.storage")[1] == "memory")
            place(application)
            await pilot.press("2")
            await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count == 1)
    finally:
        application.close()


async def test_the_command_palette_switches_an_adapter(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ports_snapshot is not None)
        await pilot.press("colon")
        await pilot.press(*"Switch orders.storage to file")
        await pilot.pause(0.3)
        await pilot.press("enter")
        table = app.query_one("#ports-table", DataTable)
        await until(pilot, lambda: cells(table, "orders.storage")[1] == "file")
        assert {p.name: p.active for p in application.control.ports()}["orders.storage"] == "file"


async def test_a_port_fixed_at_start_cannot_be_switched(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#ports-table", DataTable)
        await _cursor_to(pilot, table, "clock")
        assert app.query_one(PortsPanel).check_action("switch", ()) is None
        await pilot.press("s")
        assert not isinstance(app.screen, AdapterChooser)


# -- orders ------------------------------------------------------------------------------------


async def test_orders_table_shows_the_read_model_and_follows_new_orders(application):
    ids = [place(application, f"c-{n}") for n in range(3)]
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        table = app.query_one("#orders-table", DataTable)
        await until(pilot, lambda: table.row_count == 3)
        assert [row.key.value for row in table.ordered_rows] == list(reversed(ids))
        newest = place(application, "c-9")
        await until(pilot, lambda: table.row_count == 4)
        assert table.coordinate_to_cell_key((0, 0)).row_key.value == newest
        assert cells(table, newest)[1:4] == ["c-9", "PENDING", "19.98 EUR"]


async def test_orders_filter_by_status_and_customer(application):
    keep = place(application, "c-1")
    other = place(application, "c-2")
    place(application, "c-1")
    application.ordering.send(CancelOrder(order_id=other, reason="test"))
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        table = app.query_one("#orders-table", DataTable)
        await until(pilot, lambda: table.row_count == 3)
        app.query_one("#status-filter", Select).value = OrderStatus.CANCELLED
        await until(pilot, lambda: table.row_count == 1)
        assert cells(table, other)[2] == "CANCELLED"
        app.query_one("#status-filter", Select).clear()
        await pilot.press("slash", *"c-1")
        await until(pilot, lambda: table.row_count == 2)
        assert keep in {k.value for k in table.rows}
        assert all(cells(table, k.value)[1] == "c-1" for k in table.rows)


async def test_order_detail_shows_lines_totals_and_history(application):
    order_id = place(application, "c-5", ("SKU-A", 2, "1.50"), ("SKU-B", 1, "10.00"))
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        table = app.query_one("#orders-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        await pilot.press("d")
        assert isinstance(app.screen, OrderDetailScreen)
        lines = app.screen.query_one("#detail-lines", DataTable)
        await until(pilot, lambda: lines.row_count == 2)
        summary = str(app.screen.query_one("#detail-summary", Static).content)
        assert order_id in summary and "total 13.00 EUR" in summary and "PENDING" in summary
        assert [str(c) for c in lines.get_row_at(0)] == ["SKU-A", "2", "1.50 EUR", "3.00 EUR"]
        history = app.screen.query_one("#detail-history", DataTable)
        assert [str(c) for c in history.get_row_at(0)][:2] == ["1", "OrderPlaced"]
        await pilot.press("escape")
        assert not isinstance(app.screen, OrderDetailScreen)


async def test_enter_on_a_row_opens_its_detail(application):
    place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count == 1)
        await pilot.press("enter")
        assert isinstance(app.screen, OrderDetailScreen)


async def test_details_are_disabled_on_an_empty_table(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "d")
        assert app.query_one(OrdersPanel).check_action("detail", ()) is None
        assert not isinstance(app.screen, OrderDetailScreen)


async def _open_detail(pilot, app, order_id: str) -> None:
    await pilot.press("2")
    table = app.query_one("#orders-table", DataTable)
    await until(pilot, lambda: order_id in {k.value for k in table.rows})
    table.move_cursor(row=table.get_row_index(order_id))
    await pilot.press("enter")
    assert isinstance(app.screen, OrderDetailScreen)
    await until(pilot, lambda: "status" in str(app.screen.query_one("#detail-summary", Static).content))


@pytest.mark.parametrize(("keys", "status", "reason"), [
    (("a",), OrderStatus.APPROVED, None),
    (("r", *"out of stock", "enter"), OrderStatus.REJECTED, "out of stock"),
    (("c", *"changed my mind", "enter"), OrderStatus.CANCELLED, "changed my mind"),
], ids=["approve", "reject", "cancel"])
async def test_an_action_key_on_the_detail_screen_sends_its_command(application, keys, status, reason):
    order_id = place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open_detail(pilot, app, order_id)
        await pilot.press(*keys)
        summary = app.screen.query_one("#detail-summary", Static)
        await until(pilot, lambda: f"status {status.value}" in str(summary.content))
        order = application.ordering.get(GetOrder(order_id=order_id))
        assert (order.status, order.reason) == (status, reason)
        assert app.screen.query_one("#detail-history", DataTable).row_count == 2


async def test_s_on_the_detail_screen_ships_an_approved_order(application):
    order_id = place(application)
    application.ordering.send(ApproveOrder(order_id=order_id))
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open_detail(pilot, app, order_id)
        await pilot.press("s")
        summary = app.screen.query_one("#detail-summary", Static)
        await until(pilot, lambda: "status SHIPPED" in str(summary.content))
        assert application.ordering.get(GetOrder(order_id=order_id)).status is OrderStatus.SHIPPED


async def test_an_action_the_orders_state_forbids_shows_its_refusal(application):
    order_id = place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open_detail(pilot, app, order_id)
        await pilot.press("s")
        status = app.screen.query_one("#detail-status", Static)
        await until(pilot, lambda: "refused" in str(status.content))
        assert str(status.content) == f"refused: order {order_id} is PENDING: cannot ship"
        assert status.has_class("error")
        assert application.ordering.get(GetOrder(order_id=order_id)).status is OrderStatus.PENDING


async def test_escape_in_the_reason_prompt_sends_nothing(application):
    order_id = place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await _open_detail(pilot, app, order_id)
        await pilot.press("c")
        assert isinstance(app.screen, ReasonPrompt)
        await pilot.press(*"oops", "escape")
        assert isinstance(app.screen, OrderDetailScreen)
        await pilot.pause(0.2)
        assert not any(w.group == "detail-action" for w in app.screen.workers)
        assert application.ordering.get(GetOrder(order_id=order_id)).status is OrderStatus.PENDING


# -- outbox ------------------------------------------------------------------------------------


async def test_pausing_the_relay_grows_the_backlog_and_resuming_drains_it(with_relay):
    application = with_relay
    app = dashboard(application, poll_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        panel = app.query_one(OutboxPanel)
        await until(pilot, lambda: panel.status is not None and panel.status.relay_running)
        await pilot.press("p")
        await until(pilot, lambda: panel.status.relay_paused)
        assert panel.check_action("pause_relay", ()) is None
        for n in range(5):
            place(application, f"c-{n}")
        await until(pilot, lambda: panel.status.pending == 5)
        assert "pending 5" in text(app, "#outbox-counters")
        assert "PAUSED" in text(app, "#outbox-counters")
        table = app.query_one("#outbox-table", DataTable)
        await until(pilot, lambda: table.row_count == 5)
        assert all(cells(table, k.value)[1] == "pending" for k in table.rows)
        await pilot.press("r")
        await until(pilot, lambda: panel.status.pending == 0 and not panel.status.relay_paused)
        await until(pilot, lambda: all(cells(table, k.value)[1] == "published" for k in table.rows))
        await until(pilot, lambda: panel.published == 5)


async def test_the_outbox_shows_the_stores_figures_apart_from_what_this_dashboard_saw(with_relay):
    application = with_relay
    app = dashboard(application, poll_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        panel = app.query_one(OutboxPanel)
        place(application, "c-1")
        place(application, "c-2")
        await until(pilot, lambda: panel.published == 2 and panel.status is not None and panel.status.pending == 0)
        await until(pilot, lambda: text(app, "#outbox-seen") == "seen here: 2 published")
        assert "published" not in text(app, "#outbox-counters")
        assert text(app, "#outbox-counters").startswith("pending 0")


async def test_relay_actions_are_disabled_where_no_relay_runs(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        panel = app.query_one(OutboxPanel)
        await until(pilot, lambda: panel.status is not None)
        assert "not running here" in text(app, "#outbox-counters")
        assert panel.check_action("pause_relay", ()) is None
        assert panel.check_action("resume_relay", ()) is None


# -- event feed --------------------------------------------------------------------------------


def _feed_text(app) -> str:
    return "\n".join(line.text for line in app.query_one("#feed-log").lines)


async def test_the_feed_shows_every_kind_of_system_event(application):
    place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await until(pilot, lambda: "orders.OrderPlaced" in _feed_text(app))
        application.feed.publish(FeedEvent(kind=FeedKind.ERROR, text="broker down", at=datetime.now(UTC)))
        await until(pilot, lambda: "broker down" in _feed_text(app))
        assert "command" in _feed_text(app) and "domain_event" in _feed_text(app)


async def test_slash_filters_the_feed(application):
    place(application)
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await until(pilot, lambda: "PlaceOrder handled" in _feed_text(app))
        await pilot.press("slash", *"orderplaced")
        await until(pilot, lambda: "PlaceOrder handled" not in _feed_text(app))
        assert "orders.OrderPlaced" in _feed_text(app)
        await pilot.press("enter")
        place(application, "c-2")
        await until(pilot, lambda: _feed_text(app).count("orders.OrderPlaced") == 2)
        assert "PlaceOrder handled" not in _feed_text(app)


async def test_pausing_the_feed_holds_the_log_and_resuming_catches_up(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "p")
        panel = app.query_one(FeedPanel)
        assert panel.paused
        place(application, "c-77")
        await until(pilot, lambda: panel.received >= 2)
        assert "c-77" not in _feed_text(app) and "orders.OrderPlaced" not in _feed_text(app)
        assert "PAUSED" in text(app, "#feed-state")
        await pilot.press("p")
        assert "orders.OrderPlaced" in _feed_text(app)


async def test_p_in_the_feed_filter_is_text_not_pause(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "slash", *"OrderPlaced")
        assert app.query_one("#feed-filter", Input).value == "OrderPlaced"
        assert not app.query_one(FeedPanel).paused


async def test_enter_leaves_the_feed_filter_so_p_pauses_the_feed(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "slash", *"adapter", "enter", "p")
        assert app.query_one("#feed-filter", Input).value == "adapter"
        assert app.query_one(FeedPanel).paused


async def test_the_key_bar_says_how_to_leave_the_feed_filter(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "slash")
        assert "Apply filter" in key_bar(app) and "Leave filter" in key_bar(app)
        assert "Pause feed" not in key_bar(app) and "/ Filter" not in key_bar(app)


async def test_the_feed_pause_key_is_labelled_resume_while_paused(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        assert "p Pause feed" in key_bar(app)
        await pilot.press("p")
        assert "p Resume feed" in key_bar(app) and "Pause feed" not in key_bar(app)
        await pilot.press("p")
        assert "p Pause feed" in key_bar(app)


async def test_the_paused_state_is_shown_whole_at_120_columns(application):
    app = dashboard(application)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4", "p")
        state = app.query_one("#feed-state", Static)
        assert "PAUSED" in str(state.content)
        assert len(str(state.content)) <= state.content_region.width
        assert app.query_one("#feed-log").border_title == "PAUSED (p resumes)"


async def test_a_filter_typed_while_paused_shows_only_what_had_arrived_when_paused(application):
    place(application, "c-before")
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await until(pilot, lambda: "OrderPlaced" in _feed_text(app))
        await pilot.press("p")
        place(application, "c-after")
        await until(pilot, lambda: app.query_one(FeedPanel).received == 4)
        await pilot.press("slash", *"orderplaced")
        await pilot.pause()
        assert _feed_text(app).count("orders.OrderPlaced") == 1
        await pilot.press("enter", "p")
        assert _feed_text(app).count("orders.OrderPlaced") == 2


async def test_a_burst_is_folded_and_the_log_stays_capped(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        event = FeedEvent(kind=FeedKind.RELAY_LAG, text="burst", at=datetime(2026, 1, 1, tzinfo=UTC))
        for _ in range(5000):
            application.feed.publish(event)
        panel = app.query_one(FeedPanel)
        await until(pilot, lambda: panel.received == 5000)
        log = app.query_one("#feed-log")
        assert len(log.lines) <= LOG_LINES
        assert "events folded" in _feed_text(app)
        await pilot.press("2")
        assert app.query_one(TabbedContent).active == "orders"


# -- place order -------------------------------------------------------------------------------


async def _fill(pilot, app, **values: str) -> None:
    for widget_id, value in values.items():
        app.query_one(f"#{widget_id}", Input).value = value
    await pilot.pause()


async def test_placing_a_valid_order_from_the_form(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await _fill(pilot, app, customer_id="c-42", **{"sku-0": "SKU-9", "quantity-0": "3", "unit_price-0": "2.50"})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text(app, "#place-result").startswith("placed "))
        [summary] = application.ordering.list(ListOrders()).items
        assert (summary.customer_id, summary.total) == ("c-42", 7.5)
        assert summary.order_id in text(app, "#place-result")


@pytest.mark.parametrize(("values", "error_box", "message"), [
    ({"customer_id": "", "sku-0": "SKU-1", "quantity-0": "1", "unit_price-0": "1"},
     "error-customer_id", "customer_id: is required and must be a non-empty string"),
    ({"customer_id": "c-1", "currency": "euro", "sku-0": "SKU-1", "quantity-0": "1", "unit_price-0": "1"},
     "error-currency", "currency: must be a three-letter ISO 4217 code like EUR, got 'euro'"),
    ({"customer_id": "c-1", "sku-1": "SKU-1", "quantity-1": "two", "unit_price-1": "1"},
     "error-line-1", "lines[0].quantity: must be a whole number, got 'two'"),
    ({"customer_id": "c-1", "sku-0": "SKU-1", "quantity-0": "1", "unit_price-0": "abc"},
     "error-line-0", "lines[0].unit_price: SKU-1: must be a decimal number like \"9.99\", got 'abc'"),
    ({"customer_id": "c-1", "sku-0": "SKU-1", "quantity-0": "1", "unit_price-0": "1", "sku-2": "SKU-2",
      "quantity-2": "5000", "unit_price-2": "1"},
     "error-line-2", "lines[1].quantity: SKU-2: must be 1..1000, got 5000"),
    ({"customer_id": "c-1"}, "error-lines", "lines: must be a non-empty list of {sku, quantity, unit_price}"),
])
async def test_invalid_input_shows_the_domains_message_next_to_the_field(application, values, error_box, message):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await _fill(pilot, app, **values)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.query_one(f"#{error_box}", Static).has_class("shown"))
        assert text(app, f"#{error_box}") == message
        assert application.ordering.list(ListOrders()).items == ()


async def test_a_rule_of_the_aggregate_is_shown_on_the_line_it_concerns(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await _fill(pilot, app, customer_id="c-1", **{"sku-0": "SKU-1", "quantity-0": "1", "unit_price-0": "1",
                                                      "sku-1": "SKU-2", "quantity-1": "1", "unit_price-1": "1",
                                                      "sku-2": "SKU-2", "quantity-2": "1", "unit_price-2": "2"})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.query_one("#error-line-1", Static).has_class("shown"))
        assert text(app, "#error-line-1").startswith("unit_price: SKU-2 appears twice with prices")
        assert app.query_one("#unit_price-1", Input).has_class("invalid")
        await _fill(pilot, app, **{"unit_price-2": "1"})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text(app, "#place-result").startswith("placed "))
        assert not app.query_one("#error-line-1", Static).has_class("shown")


async def test_the_place_forms_placeholders_read_as_examples_not_values(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        examples = [f for f in app.query(Input).results(Input) if f.placeholder and f.id != "customer-filter"
                    and f.id != "feed-filter"]
        assert {f.id for f in examples} == {"customer_id", "sku-0", "quantity-0", "unit_price-0"}
        for field in examples:
            assert field.placeholder.startswith("e.g. "), field.placeholder
            assert field.get_component_rich_style("input--placeholder").italic


async def test_a_refusal_replaces_the_status_of_the_previous_order(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await _fill(pilot, app, customer_id="c-1", **{"sku-0": "SKU-1", "quantity-0": "1", "unit_price-0": "1"})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text(app, "#place-result").startswith("placed "))
        await _fill(pilot, app, **{"quantity-0": "0"})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.query_one("#error-line-0", Static).has_class("shown"))
        assert text(app, "#place-result") == "not placed: 1 problem, marked above"


async def test_every_bad_field_of_the_form_is_marked_at_once(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await _fill(pilot, app, customer_id="", currency="euro",
                    **{"sku-0": "SKU-1", "quantity-0": "two", "unit_price-0": "abc"})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.query_one("#error-currency", Static).has_class("shown"))
        for box in ("error-customer_id", "error-currency", "error-line-0"):
            assert app.query_one(f"#{box}", Static).has_class("shown"), box
        assert "quantity" in text(app, "#error-line-0") and "unit_price" in text(app, "#error-line-0")
        for field in ("customer_id", "currency", "quantity-0", "unit_price-0"):
            assert app.query_one(f"#{field}", Input).has_class("invalid"), field
        assert not app.query_one("#sku-0", Input).has_class("invalid")
        assert text(app, "#place-result") == "not placed: 4 problems, marked above"


async def test_load_places_n_random_orders(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await _fill(pilot, app, **{"load-count": "25"})
        await pilot.press("ctrl+l")
        await until(pilot, lambda: "load: placed 25" in text(app, "#place-result"))
        assert len(application.ordering.list(ListOrders(limit=100)).items) == 25
        await pilot.press("2")
        await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count == 25)


async def test_load_refuses_a_count_that_is_not_a_number(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await _fill(pilot, app, **{"load-count": "lots"})
        await pilot.press("ctrl+l")
        assert "must be a whole number" in text(app, "#error-load")
        assert application.ordering.list(ListOrders()).items == ()


@pytest.mark.postgres
async def test_a_switch_to_embedded_postgres_shows_progress_then_serves_the_next_order(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        app.switch_adapter("orders.storage", "postgres")
        await pilot.pause()
        panel = app.query_one(PortsPanel)
        assert panel.switching is not None
        assert app.query_one("#switch-spinner").display
        assert "switching orders.storage to postgres" in text(app, "#switch-status")
        await pilot.press("2")
        assert app.query_one(TabbedContent).active == "orders"  # the app answers while the server starts
        await until(pilot, lambda: panel.switching is None, timeout=90)
        assert "now served by postgres" in text(app, "#switch-status"), text(app, "#switch-status")
        order_id = place(application, "c-pg")
        await until(pilot, lambda: app.query_one("#orders-table", DataTable).row_count == 1)
        assert str(app.query_one("#orders-table", DataTable).get_row_at(0)[0]) == order_id
