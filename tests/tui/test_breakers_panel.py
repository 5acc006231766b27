"""The Breakers panel, driven headless through the real app and application: a breaker tripped by
real failing calls (an injected fault behind the real in-process door and breaker) changes its row
through the feed; an operator forces and resets it from the keys, saying why; attached, the same
panel reads and acts over a served application's admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from adapters.inbound.rest.app import RestSettings, create_app
from adapters.outbound.http.api import ServedApi
from adapters.outbound.http.resilience import HttpResilience
from core.kernel.errors import Unavailable
from tests.integration.rest.conftest import ADMIN_TOKEN, LiveServer
from tests.tui.conftest import dashboard, make_application, until
from tui.app import PANELS, DashboardApp
from tui.panels.breakers import NO_PORT, BreakersPanel, sparkline
from tui.panels.order_detail import ReasonPrompt

pytestmark = pytest.mark.anyio

NAME, STATE, WOULD_BE, FAILURES, SLOW, WINDOW, IN_FLIGHT, PROBE = range(8)
KEY = str(next(n for n, spec in enumerate(PANELS, start=1) if spec.id == "breakers"))
PAYMENTS = "local:payments"


@pytest.fixture
def application(tmp_path: Path) -> Any:
    app = make_application(tmp_path, **{"faults.enabled": True, "breaker.minimum_calls": 4,
                                        "breaker.wait_in_open_ms": 60_000})
    yield app
    app.close()


def cells(table: DataTable[Any], key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


async def breakers_table(pilot: Pilot[Any], app: DashboardApp) -> DataTable[Any]:
    """Show the Breakers panel, wait for its first read and put the cursor on local:payments."""
    await pilot.press(KEY)
    table = app.query_one("#breakers-table", DataTable)
    await until(pilot, lambda: table.row_count == 3)
    table.move_cursor(row=table.get_row_index(PAYMENTS))
    await pilot.pause()
    return table


async def answer(pilot: Pilot[Any], app: DashboardApp, key: str, reason: str) -> None:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, ReasonPrompt))
    app.screen.query_one("#reason", Input).value = reason
    await pilot.press("enter")


async def test_real_failing_calls_trip_the_breaker_and_its_row_shows_it_open(application):
    credit = application.resilience_kit.query_port("payments")  # the overview's and checkout's payments port
    app = dashboard(application, resilience=application.resilience)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await breakers_table(pilot, app)
        assert cells(table, PAYMENTS)[:WINDOW + 1] == [PAYMENTS, "closed", "—", "0%", "0%", ""]
        credit.account("c-1")  # one good call
        application.resilience.set_fault("payments", {"error_rate": 1.0})
        for _ in range(3):
            with pytest.raises(Unavailable, match="injected fault"):
                credit.account("c-1")
        # No timer here (poll_interval None): the breaker's feed event alone re-reads the row.
        await until(pilot, lambda: cells(table, PAYMENTS)[STATE] == "open")
        row = cells(table, PAYMENTS)
        assert row[FAILURES] == "75%" and row[WINDOW] == sparkline(["ok", "fail", "fail", "fail"]), row
        assert row[PROBE] != "—", "an open breaker says when it will probe"
        detail = str(app.query_one("#breakers-detail", Static).content)
        assert "75% failures in the last 4 calls" in detail and "3 failed" in detail, detail


async def test_force_open_from_the_keys_asks_why_and_reset_closes_it(application):
    app = dashboard(application, resilience=application.resilience)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await breakers_table(pilot, app)
        await answer(pilot, app, "o", "payments is being migrated")
        await until(pilot, lambda: cells(table, PAYMENTS)[STATE] == "forced-open")
        assert cells(table, PAYMENTS)[WOULD_BE] == "closed"
        forced = {b["name"]: b for b in application.resilience.breakers()}[PAYMENTS]
        assert forced["state"] == "forced-open" and forced["reason"] == "payments is being migrated"
        with pytest.raises(Unavailable, match="circuit breaker forced-open"):
            application.resilience_kit.query_port("payments").account("c-1")

        await answer(pilot, app, "r", "migration done")
        await until(pilot, lambda: cells(table, PAYMENTS)[STATE] == "closed")
        assert "local:payments is now closed" in str(app.query_one("#breakers-status", Static).content)


@pytest.mark.parametrize(("key", "state"), [("c", "forced-closed"), ("m", "metrics-only")])
async def test_force_closed_and_metrics_only_from_the_keys(application, key, state):
    app = dashboard(application, resilience=application.resilience)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await breakers_table(pilot, app)
        await answer(pilot, app, key, "measuring, not enforcing")
        await until(pilot, lambda: cells(table, PAYMENTS)[STATE] == state)
        assert {b["name"]: b["state"] for b in application.resilience.breakers()}[PAYMENTS] == state


async def test_an_empty_reason_is_refused_and_nothing_changes(application):
    app = dashboard(application, resilience=application.resilience)
    async with app.run_test(size=(110, 30)) as pilot:
        table = await breakers_table(pilot, app)
        await answer(pilot, app, "o", "   ")
        await until(pilot, lambda: "a reason is needed" in str(app.query_one("#breakers-status", Static).content))
        assert cells(table, PAYMENTS)[STATE] == "closed"


async def test_without_a_resilience_port_the_panel_says_so_and_offers_no_keys(application):
    app = dashboard(application)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press(KEY)
        assert str(app.query_one("#breakers-status", Static).content) == NO_PORT
        assert app.query_one(BreakersPanel).check_action("act", ("force_open",)) is None


async def test_attached_the_panel_reads_and_forces_a_served_applications_breakers(application):
    api_app = create_app(application.ordering, application.control, RestSettings(admin_token=ADMIN_TOKEN),
                         resilience=application.resilience)
    with LiveServer(api_app) as server:
        api = ServedApi(server.url, ADMIN_TOKEN)
        try:
            app = dashboard(application, resilience=HttpResilience(api))
            async with app.run_test(size=(110, 30)) as pilot:
                table = await breakers_table(pilot, app)
                await answer(pilot, app, "o", "over the admin API")
                await until(pilot, lambda: cells(table, PAYMENTS)[STATE] == "forced-open", timeout=15)
                assert {b["name"]: b["reason"] for b in application.resilience.breakers()}[PAYMENTS] == \
                    "over the admin API"
        finally:
            api.close()
