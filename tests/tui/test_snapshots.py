"""Snapshots of the main screens (pytest-textual-snapshot), over deterministic data: a stepping clock,
sequential ids, orders placed before the app starts, and no timer-driven reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

import bootstrap
from core.orders.commands import CancelOrder
from tests.tui.conftest import dashboard, make_application, place, until
from tui.app import DashboardApp
from tui.panels.feed import FeedPanel
from tui.panels.orders import OrdersPanel
from tui.panels.outbox import OutboxPanel

# Rows of the ports table: a store per service, then messaging, clock, ids and the feed.
PORTS = len(bootstrap.CONTEXTS) + len(bootstrap.REGISTRY) - 1


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[bootstrap.Application]:
    application = make_application(tmp_path)
    place(application, "c-1", ("SKU-APPLE", 2, "1.25"), ("SKU-BREAD", 1, "3.40"))
    place(application, "c-2", ("SKU-CHEESE", 1, "12.00"))
    third = place(application, "c-3", ("SKU-EGGS", 12, "0.30"))
    application.ordering.send(CancelOrder(order_id=third, reason="changed my mind"))
    yield application
    application.close()


def settled(*keys: str, then: Callable[[Pilot[Any]], Awaitable[None]] | None = None
            ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait until every view has its first data, press `keys`, and freeze what blinks."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        await until(pilot, lambda: (page := app.panel(OrdersPanel).page) is not None and len(page.items) == 3
                    and app.panel(OutboxPanel).status is not None
                    and app.query_one("#ports-table", DataTable).row_count == PORTS
                    and app.query_one(FeedPanel).received > 0)
        for field in app.query(Input).results(Input):
            field.cursor_blink = False
        await pilot.press(*keys)
        if then is not None:
            await then(pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize(("keys", "size"), [
    (("1",), (80, 24)),
    (("2",), (80, 24)),
    (("2",), (120, 36)),
    (("3",), (80, 24)),
    (("4",), (100, 30)),
    (("4", "p"), (120, 36)),
    (("5",), (80, 24)),
    (("question_mark",), (80, 24)),
], ids=["ports", "orders", "orders-wide", "outbox", "feed", "feed-paused-wide", "place", "help"])
def test_main_screens(snap_compare, seeded, keys, size):
    assert snap_compare(dashboard(seeded), terminal_size=size, run_before=settled(*keys))


def test_order_detail(snap_compare, seeded):
    async def open_detail(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: pilot.app.screen.query_one("#detail-history", DataTable).row_count == 2)

    assert snap_compare(dashboard(seeded), terminal_size=(100, 30),
                        run_before=settled("2", "enter", then=open_detail))


def test_place_order_with_an_inline_error(snap_compare, seeded):
    async def submit_bad_quantity(pilot: Pilot[Any]) -> None:
        app = pilot.app
        for widget_id, value in {"customer_id": "c-9", "sku-0": "SKU-1", "quantity-0": "0",
                                 "unit_price-0": "4.50"}.items():
            app.query_one(f"#{widget_id}", Input).value = value
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.query_one("#error-line-0").has_class("shown"))

    assert snap_compare(dashboard(seeded), terminal_size=(80, 24), run_before=settled("5", then=submit_bad_quantity))
