"""The Services panel, driven headless through the real app and application: each service's process,
store and outbox backlog, switching a service's store, and the selected service's documents."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import bootstrap
from core.inventory.commands import Restock
from core.payments.commands import OpenAccount
from core.shipping.commands import ScheduleShipment
from tests.tui.conftest import dashboard, place, until
from tui.app import DashboardApp
from tui.panels.ports import AdapterChooser
from tui.panels.services import IN_PROCESS_ONLY, ServicesPanel

pytestmark = pytest.mark.anyio

SLOT, ADAPTER, HEALTH, BACKLOG, LAG, CONSUMER_LAG = 2, 3, 4, 5, 6, 7


def cells(table: DataTable[Any], key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


async def services_table(pilot: Pilot[Any], app: DashboardApp) -> DataTable[Any]:
    """Show the Services panel and wait for its first read."""
    await pilot.press("6")
    table = app.query_one("#services-table", DataTable)
    await until(pilot, lambda: table.row_count == len(bootstrap.CONTEXTS))
    return table


async def select(pilot: Pilot[Any], table: DataTable[Any], service: str) -> None:
    table.move_cursor(row=table.get_row_index(service))
    await pilot.pause()


async def test_the_panel_lists_every_service_with_its_process_store_adapter_and_health(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await services_table(pilot, app)
        assert [row.key.value for row in table.ordered_rows] == list(bootstrap.CONTEXTS)
        for name in bootstrap.CONTEXTS:
            assert cells(table, name)[:HEALTH + 1] == [name, str(os.getpid()), f"{name}.storage", "memory", "ok"]
            assert cells(table, name)[CONSUMER_LAG] == "—"  # not measured yet, and not made up


async def test_a_placed_orders_outbox_row_shows_as_backlog_on_the_orders_row(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await services_table(pilot, app)
        assert cells(table, "orders")[BACKLOG:LAG + 1] == ["0", "—"]
        place(application)
        await until(pilot, lambda: cells(table, "orders")[BACKLOG] == "1")
        assert cells(table, "orders")[LAG].endswith(" s")
        assert cells(table, "inventory")[BACKLOG] == "0"


async def test_s_on_a_service_switches_its_store_and_its_row_shows_the_new_adapter(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await services_table(pilot, app)
        await select(pilot, table, "inventory")
        panel = app.query_one(ServicesPanel)
        await until(pilot, lambda: panel.check_action("switch", ()) is True)  # once the ports are read
        await pilot.press("s")
        assert isinstance(app.screen, AdapterChooser)
        options = app.screen.query_one("#chooser-options")
        options.highlighted = options.get_option_index("file")
        await pilot.press("enter")
        await until(pilot, lambda: cells(table, "inventory")[ADAPTER] == "file")
        assert "inventory.storage is now served by file" in str(app.query_one("#services-status", Static).content)
        assert {p.name: p.active for p in application.control.ports()}["inventory.storage"] == "file"
        assert cells(table, "orders")[ADAPTER] == "memory"


async def test_the_switch_key_is_disabled_while_a_switch_runs(application):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        await services_table(pilot, app)
        panel = app.query_one(ServicesPanel)
        await until(pilot, lambda: panel.check_action("switch", ()) is True)
        app.switch_adapter("payments.storage", "file")
        assert panel.check_action("switch", ()) is None
        await until(pilot, lambda: panel.check_action("switch", ()) is True)


@pytest.mark.parametrize(("service", "send", "key", "shown"), [
    ("inventory", lambda app: app.inventory.send(Restock(sku="SKU-9", quantity=12)), "SKU-9",
     ["SKU-9", "12", "0", "12"]),
    ("payments", lambda app: app.payments.send(OpenAccount(customer_id="c-7", credit_limit=Decimal("250"),
                                                           currency="EUR")), "c-7",
     ["c-7", "EUR", "250.00", "0.00", "0.00", "250.00"]),
    ("shipping", lambda app: app.shipping.send(ScheduleShipment(order_id="o-1", customer_id="c-7",
                                                                address="1 Quay St")), "o-1",
     ["o-1", "c-7", "SCHEDULED"]),
], ids=["stock", "accounts", "shipments"])
async def test_the_selected_services_documents_follow_its_commands(application, service, send, key, shown):
    app = dashboard(application)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await services_table(pilot, app)
        await select(pilot, table, service)
        documents = app.query_one(f"#documents-{service}", DataTable)
        await until(pilot, lambda: documents.display)
        assert documents.row_count == 0
        send(application)
        await until(pilot, lambda: documents.row_count == 1)
        assert cells(documents, key)[:len(shown)] == shown


async def test_without_the_services_ports_the_panel_says_documents_are_shown_in_process_only(application):
    app = dashboard(application, inventory=None, payments=None, shipping=None)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await services_table(pilot, app)
        await select(pilot, table, "inventory")
        note = app.query_one("#documents-note", Static)
        await until(pilot, lambda: str(note.content) == IN_PROCESS_ONLY)
        assert note.display
