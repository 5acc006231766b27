"""The Sagas panel (the flight board), driven headless through the real app over a real in-process
application running the place-order saga. The relay, the participants' consumers and the saga's
timers are moved by hand (`Shop.pump`, as tests/integration/saga_harness.py does), so a saga is
exactly where the test left it: completed, compensated or waiting for its participants."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

import bootstrap
from adapters.inbound.workers import roles
from core.inventory.commands import Restock
from core.kernel.errors import Unavailable
from core.orders.model import OrderStatus
from core.orders.queries import GetOrder
from tests.tui.conftest import dashboard, make_application, place, until
from tui.app import PANELS, DashboardApp
from tui.panels.order_detail import ReasonPrompt
from tui.panels.outbox import OutboxPanel
from tui.panels.sagas import FaultsDialog, SagasPanel, SagaTimelineScreen

pytestmark = pytest.mark.anyio

ORDER, MODE, STATE, STEPS, AGE, NEXT = range(6)
KEY = str(next(n for n, spec in enumerate(PANELS, start=1) if spec.id == "sagas"))
PARTICIPANTS = ("inventory", "payments", "shipping")


class Shop:
    """The application's relay, consumers and saga timers, moved by the test."""

    def __init__(self, application: bootstrap.Application) -> None:
        self.application = application
        self.relays = [worker.loop.relay for worker in roles.relay_group(application).workers]
        consumers = {name: roles.context_consumer(application, name) for name in PARTICIPANTS}
        consumers["orders"] = roles.saga_consumer(application)
        self.consumers = []
        for consumer in consumers.values():
            consumer.settings = dataclasses.replace(consumer.settings, poll_timeout=0.0)
            self.consumers.append((consumer, application.messaging.subscriber(consumer.settings.topics,
                                                                               consumer.settings.group)))
        self.timers = roles.saga_timer_worker(application)

    def pump(self) -> None:
        """Move every message and due timer until nothing moves."""
        for _ in range(200):
            moved = sum(relay.publish_batch() for relay in self.relays)
            moved += sum(consumer.consume_batch(subscriber) for consumer, subscriber in self.consumers)
            moved += self.timers.tick()
            if not moved:
                return
        raise AssertionError("the shop never settled")

    def close(self) -> None:
        for _, subscriber in self.consumers:
            subscriber.close()


@pytest.fixture
def saga_app(tmp_path: Path) -> Iterator[bootstrap.Application]:
    """Orchestrated (the place-order saga runs), faults allowed, SKU-1 in stock."""
    application = make_application(tmp_path, **{"saga.mode": "orchestration", "faults.enabled": True})
    application.inventory.send(Restock(sku="SKU-1", quantity=100))
    yield application
    application.close()


@pytest.fixture
def shop(saga_app: bootstrap.Application) -> Iterator[Shop]:
    moved = Shop(saga_app)
    yield moved
    moved.close()


def board(application: bootstrap.Application) -> DashboardApp:
    return dashboard(application, sagas=application.saga_operations, resilience=application.resilience)


def row(table: DataTable[Any], key: str) -> list[str]:
    return [str(cell.value) for cell in table.get_row(key)]


def status(app: DashboardApp) -> str:
    return str(app.query_one("#sagas-status", Static).content)


async def show_board(pilot: Pilot[Any], app: DashboardApp, saga_ids: Iterable[str]) -> DataTable[Any]:
    """Show the Sagas panel and wait until each of `saga_ids` has its row."""
    await pilot.press(KEY)
    table = app.query_one("#sagas-table", DataTable)
    wanted = set(saga_ids)
    await until(pilot, lambda: wanted <= {key.value for key in table.rows})
    return table


async def select(pilot: Pilot[Any], table: DataTable[Any], saga_id: str) -> None:
    table.move_cursor(row=table.get_row_index(saga_id))
    await pilot.pause()


def history_texts(application: bootstrap.Application, saga_id: str) -> list[str]:
    return [item.text for item in application.saga_operations.saga(saga_id).history]


async def test_rows_show_each_placed_orders_saga_with_its_state_and_step_strip(saga_app, shop):
    completed = place(saga_app, "c-1")
    shop.pump()
    compensated = place(saga_app, "c-2", ("SKU-404", 1, "5.00"))  # no such stock: reserving fails
    shop.pump()
    waiting = place(saga_app, "c-3")  # its commands wait in the outbox: nothing is pumped
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (completed, compensated, waiting))
        assert row(table, completed)[:STEPS + 1] == [completed, "orch", "completed", "✓✓✓✓"]
        # reserve failed, the authorized payment was voided, approve and ship never ran
        assert row(table, compensated)[:STEPS + 1] == [compensated, "orch", "compensated", "✗↺··"]
        assert row(table, waiting)[:STEPS + 1] == [waiting, "orch", "waiting", "……··"]
        count = str(app.query_one("#sagas-count", Static).content)
        assert "3 shown" in count and "completed 1" in count and "waiting 1" in count, count


async def test_a_saga_moving_on_updates_its_row_through_the_feed(saga_app, shop):
    order = place(saga_app, "c-1")
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (order,))
        assert row(table, order)[STATE] == "waiting"
        shop.pump()
        await until(pilot, lambda: row(table, order)[STATE] == "completed")
        assert row(table, order)[STEPS] == "✓✓✓✓"


async def test_filtering_by_state_keeps_only_that_states_sagas(saga_app, shop):
    completed = place(saga_app, "c-1")
    shop.pump()
    waiting = place(saga_app, "c-2")
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (completed, waiting))
        chooser = app.query_one("#saga-state-filter", Select)
        chooser.value = "waiting"
        await until(pilot, lambda: [key.value for key in table.rows] == [waiting])
        chooser.value = "completed"
        await until(pilot, lambda: [key.value for key in table.rows] == [completed])
        chooser.clear()
        await until(pilot, lambda: {key.value for key in table.rows} == {completed, waiting})


async def test_enter_opens_the_timeline_with_every_history_entry_and_its_message_ids(saga_app, shop):
    order = place(saga_app, "c-1")
    shop.pump()
    app = board(saga_app)
    async with app.run_test(size=(130, 40)) as pilot:
        table = await show_board(pilot, app, (order,))
        await select(pilot, table, order)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SagaTimelineScreen))
        history = app.screen.query_one("#saga-history", DataTable)
        expected = history_texts(saga_app, order)
        await until(pilot, lambda: history.row_count == len(expected))
        rows = [history.values(key.value) for key in history.rows]
        assert [r[4] for r in rows] == expected
        reserve = f"saga:{order}:reserve-stock:command:1"
        assert [r[5] for r in rows if r[4] == "sent inventory.ReserveStock (try 1)"] == [reserve]
        assert reserve in {record.event_id for record in saga_app.control.recent_outbox(50)}, \
            "a command's message id is its outbox row's"
        assert "completed" in str(app.screen.query_one("#saga-summary", Static).content)
        assert str(app.screen.query_one("#saga-remaining", Static).content) == "still to run: nothing"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SagaTimelineScreen))


async def test_the_timeline_opens_on_t_and_g_reads_it_again(saga_app, shop):
    order = place(saga_app, "c-1")
    app = board(saga_app)
    async with app.run_test(size=(130, 40)) as pilot:
        table = await show_board(pilot, app, (order,))
        await select(pilot, table, order)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, SagaTimelineScreen))
        history = app.screen.query_one("#saga-history", DataTable)
        await until(pilot, lambda: history.row_count == 3)  # started, and the two commands sent
        shop.pump()
        await pilot.press("g")
        await until(pilot, lambda: history.row_count == len(history_texts(saga_app, order)) > 3)


async def test_pause_then_resume_from_the_keys_changes_the_saga_and_its_history(saga_app, shop):
    order = place(saga_app, "c-1")
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (order,))
        await select(pilot, table, order)
        await pilot.press("p")
        await until(pilot, lambda: row(table, order)[STATE] == "paused")
        assert saga_app.saga_operations.saga(order).paused
        assert history_texts(saga_app, order)[-1] == "operator: paused"
        assert f"pause {order}: now paused" in status(app)

        await pilot.press("u")
        await until(pilot, lambda: row(table, order)[STATE] == "waiting")
        assert history_texts(saga_app, order)[-1].startswith("operator: resumed")
        shop.pump()
        await until(pilot, lambda: row(table, order)[STATE] == "completed")


async def test_an_action_the_saga_refuses_is_shown_and_changes_nothing(saga_app, shop):
    order = place(saga_app, "c-1")
    shop.pump()
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (order,))
        await select(pilot, table, order)
        before = history_texts(saga_app, order)
        await pilot.press("p")
        await until(pilot, lambda: "refused" in status(app))
        assert f"saga {order} is completed: cannot pause" in status(app)
        assert history_texts(saga_app, order) == before and row(table, order)[STATE] == "completed"


async def test_skip_asks_why_refuses_an_empty_reason_and_records_a_given_one(saga_app, shop):
    order = place(saga_app, "c-1")
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (order,))
        await select(pilot, table, order)
        before = history_texts(saga_app, order)

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ReasonPrompt))
        await pilot.press("enter")
        await until(pilot, lambda: "a reason is needed" in status(app))
        assert history_texts(saga_app, order) == before

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ReasonPrompt))
        app.screen.query_one("#reason", Input).value = "stock counted by hand"
        await pilot.press("enter")
        await until(pilot, lambda: row(table, order)[STEPS] == "⤼…··")
        assert history_texts(saga_app, order)[-1] == "operator: skip reserve-stock: stock counted by hand"


async def open_faults(pilot, app) -> Static:
    """Open the board's faults dialog; returns its line about the chosen participant's faults,
    once it says the first one (inventory) has none."""
    await pilot.press(KEY, "f")
    await until(pilot, lambda: isinstance(app.screen, FaultsDialog))
    current = app.screen.query_one("#faults-now", Static)
    await until(pilot, lambda: str(current.content) == "inventory: no faults")
    return current


async def test_the_faults_dialog_sets_a_participants_fault_that_its_calls_then_get(saga_app, shop):
    credit = saga_app.resilience_kit.query_port("payments")  # how orders reads a customer's credit
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        current = await open_faults(pilot, app)
        dialog = app.screen
        dialog.query_one("#fault-participant", Select).value = "payments"
        await until(pilot, lambda: str(current.content) == "payments: no faults")
        field = dialog.query_one("#fault-error_rate", Input)
        field.focus()
        field.value = "1"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: str(current.content) == "payments: error_rate 1")
        assert saga_app.resilience.faults()["payments"]["error_rate"] == 1.0
        with pytest.raises(Unavailable, match="injected fault"):
            credit.account("c-1")

        await pilot.press("ctrl+d")  # in a field too: the dialog's key, not the field's delete
        await until(pilot, lambda: str(current.content) == "payments: no faults")
        assert "payments" not in saga_app.resilience.faults() and field.value == "0"
        credit.account("c-1")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FaultsDialog))


async def test_a_fault_the_port_refuses_is_shown_in_the_dialog(saga_app):
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        current = await open_faults(pilot, app)
        app.screen.query_one("#fault-latency", Input).value = "-2"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: str(current.content).startswith("refused: "))
        assert "latency" in str(current.content) and current.has_class("error")
        assert saga_app.resilience.faults() == {}


@pytest.fixture
def choreographed(tmp_path: Path) -> Iterator[bootstrap.Application]:
    application = make_application(tmp_path, **{"saga.mode": "choreography"})
    yield application
    application.close()


async def test_a_choreographed_flow_shows_its_mode_and_operator_actions_on_it_are_refused(choreographed):
    application = choreographed
    order = place(application, "c-1")  # tracked, not coordinated
    app = board(application)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (order,))
        assert row(table, order)[MODE] == "chor"
        await select(pilot, table, order)
        before = history_texts(application, order)
        await pilot.press("p")
        await until(pilot, lambda: "refused" in status(app))
        assert "choreography" in status(app), status(app)
        assert history_texts(application, order) == before
        assert application.saga_operations.saga(order).saga.state == row(table, order)[STATE] != "paused"


async def test_without_a_sagas_port_the_panel_says_so_and_offers_no_keys(application):
    app = dashboard(application)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press(KEY)
        panel = app.query_one(SagasPanel)
        assert str(app.query_one("#sagas-count", Static).content) == "sagas are not shown here"
        assert panel.check_action("act", ("pause",)) is None and panel.check_action("faults", ()) is None


async def test_the_app_closes_promptly_with_a_dialog_open_and_its_workers_running(saga_app, shop):
    order = place(saga_app, "c-1")
    app = board(saga_app)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await show_board(pilot, app, (order,))
        await select(pilot, table, order)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SagaTimelineScreen))
        await pilot.press("escape", "f")
        await until(pilot, lambda: isinstance(app.screen, FaultsDialog))
        await pilot.press("ctrl+s")  # a worker setting faults while the app closes
        closing = time.monotonic()
    assert time.monotonic() - closing < 5, "closing waited on a worker"


# -- the README's tour ("Watch a saga"), with the workers `orderhex dashboard` runs -------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[bootstrap.Application]:
    """As `orderhex dashboard` opens in-process: demo stock and accounts, the relay, the services'
    consumers and the saga workers running in threads, on the system clock."""
    application = make_application(tmp_path, **{"saga.mode": "orchestration", "clock": "system"})
    bootstrap.seed_if_empty(application)
    relay = bootstrap.start_relay(application)
    workers = [role(application) for role in (roles.serve_consumers, roles.serve_sagas)]
    for worker in workers:
        worker.start()
    yield application
    for worker in reversed(workers):
        worker.stop(5.0)
    relay.stop()
    application.close()


async def place_from_the_form(pilot: Pilot[Any], app: DashboardApp, customer: str, sku: str, quantity: str,
                              price: str) -> str:
    await pilot.press("5")
    for widget_id, value in (("customer_id", customer), ("sku-0", sku), ("quantity-0", quantity),
                             ("unit_price-0", price)):
        app.query_one(f"#{widget_id}", Input).value = value
    await pilot.press("ctrl+s")
    result = app.query_one("#place-result", Static)
    await until(pilot, lambda: str(result.content).startswith("placed "))
    return str(result.content).split()[1]


async def test_tour_an_order_placed_in_the_dashboard_completes_and_one_over_credit_is_compensated(live):
    app = board(live)
    async with app.run_test(size=(120, 34)) as pilot:
        completed = await place_from_the_form(pilot, app, "c-1", "SKU-1", "2", "9.99")
        declined = await place_from_the_form(pilot, app, "c-3", "SKU-1", "10", "9.99")  # 99.90 over c-3's 50.00
        table = await show_board(pilot, app, (completed, declined))
        await until(pilot, lambda: row(table, completed)[STEPS] == "✓✓✓✓", timeout=20)
        await until(pilot, lambda: row(table, declined)[STATE] == "compensated", timeout=20)
        assert row(table, completed)[STATE] == "completed"
        assert row(table, declined)[STEPS] == "↺✗··"  # the reserved stock released, the payment declined


async def test_tour_random_orders_end_compensated(live):
    app = board(live)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.press("5")
        app.query_one("#load-count", Input).value = "5"
        await pilot.press("ctrl+l")
        table = await show_board(pilot, app, ())
        await until(pilot, lambda: live.saga_operations.counts() == {"compensated": 5}, timeout=30)
        await until(pilot, lambda: table.row_count == 5 and {row(table, key.value)[STATE] for key in table.rows}
                    == {"compensated"})


async def test_tour_with_the_relay_paused_a_saga_waits_and_is_paused_resumed_retried_and_compensated(live):
    app = board(live)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.press("3")
        await until(pilot, lambda: app.query_one(OutboxPanel).status is not None)
        await pilot.press("p")
        await until(pilot, lambda: live.control.outbox_status().relay_paused)
        order = await place_from_the_form(pilot, app, "c-1", "SKU-1", "1", "9.99")
        table = await show_board(pilot, app, (order,))
        await select(pilot, table, order)
        assert row(table, order)[STATE:STEPS + 1] == ["waiting", "……··"]
        for key, state in (("p", "paused"), ("u", "waiting")):
            await pilot.press(key)
            await until(pilot, lambda state=state: row(table, order)[STATE] == state)
        await pilot.press("r")
        await until(pilot, lambda: "sent inventory.ReserveStock (try 2)" in history_texts(live, order))
        await pilot.press("c")
        await until(pilot, lambda: row(table, order)[STATE] == "compensating")
        await pilot.press("3", "r")
        await until(pilot, lambda: not live.control.outbox_status().relay_paused)
        await pilot.press(KEY)
        await until(pilot, lambda: row(table, order)[STATE] == "compensated", timeout=20)
        assert history_texts(live, order)[-1] == "place-order compensated: compensated by an operator"
        assert live.ordering.get(GetOrder(order_id=order)).status is OrderStatus.REJECTED


async def test_tour_without_faults_enabled_the_dialog_says_how_to_enable_them(live):
    app = board(live)
    async with app.run_test(size=(120, 34)) as pilot:
        current = await open_faults(pilot, app)
        app.screen.query_one("#fault-error_rate", Input).value = "1"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: str(current.content).startswith("refused: "))
        assert str(current.content).startswith("refused: fault injection is off; set faults.enabled = true")
