"""Breakers guarding the calls between services, in one process, through the admin API: a failing
service trips its breaker, the overview then shows the part as open_circuit and fails fast; a
forced-open breaker stays open through a healthy service until reset, and is kept across restarts;
metrics-only never rejects. Virtual time for the breaker, real HTTP for the admin routes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.inbound.cli.contexts import seed
from adapters.inbound.rest.app import RestSettings, create_app
from adapters.outbound.file.forced import FileForcedStates
from adapters.outbound.inprocess import queries as local
from core.kernel.errors import Unavailable
from core.orders.overview import OrderOverviews
from core.runtime.breaker import BreakerBoard, BreakerConfig
from core.runtime.fanout import FanOut, LastKnown
from core.runtime.resilience import Breakers, ResilienceService, classify, counts
from tests.integration.rest.conftest import ADMIN, ADMIN_TOKEN, ORDER, make_application, open_client

pytestmark = pytest.mark.anyio
CONFIG = BreakerConfig(window="count", window_size=10, minimum_calls=4, failure_rate_threshold=0.5,
                       wait_in_open=30.0, max_wait_in_open=60.0)


class World:
    def __init__(self, data_dir: Path) -> None:
        self.now = 0.0
        self.down: set[str] = set()
        self.app = make_application(data_dir)
        seed(self.app.inventory, self.app.payments)
        self.board = BreakerBoard(monotonic=lambda: self.now, now=self.app.clock.now, counts=counts)
        self.resilience = ResilienceService(self.board, None, FileForcedStates(data_dir / "breakers.json"),
                                            services=("payments",), config=CONFIG)
        self.resilience.restore()
        breakers = Breakers(self.board, CONFIG)
        self.fanout = FanOut(monotonic=time.monotonic, classify=classify)
        self.overviews = OrderOverviews(
            self.app.ordering, local.LocalStockLevels(self.app.inventory, self.door),
            local.LocalCredit(self.app.payments, self.door, breakers.guard("local:payments")),
            local.LocalShipmentStatus(self.app.shipping, self.door), fanout=self.fanout,
            last_known=LastKnown(time.monotonic), monotonic=time.monotonic, part_timeout=2, deadline=2)

    def door(self, service: str, within: float | None) -> None:
        if service in self.down:
            raise Unavailable(service, "down for this test")

    def api(self) -> Any:
        return create_app(self.app.ordering, self.app.control, RestSettings(admin_token=ADMIN_TOKEN),
                          overviews=self.overviews, resilience=self.resilience, board=self.board)

    def close(self) -> None:
        self.fanout.close()
        self.app.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[World, httpx.AsyncClient]]:
    w = World(tmp_path)
    async for client in open_client(w.api()):
        yield w, client
    w.close()


async def _state(client: httpx.AsyncClient, name: str = "local:payments") -> dict[str, Any]:
    breakers = (await client.get("/admin/breakers", headers=ADMIN)).json()
    return next(b for b in breakers if b["name"] == name)


async def test_failures_open_the_breaker_and_the_overview_shows_open_circuit(
        world: tuple[World, httpx.AsyncClient]) -> None:
    w, client = world
    order_id = (await client.post("/orders", json=ORDER)).json()["order_id"]
    w.down.add("payments")
    for _ in range(4):
        assert (await client.get(f"/orders/{order_id}/overview")).json()["parts"]["payment"]["status"] == "error"
    assert (await _state(client))["state"] == "open"
    part = (await client.get(f"/orders/{order_id}/overview")).json()["parts"]["payment"]
    assert part["status"] == "open_circuit"
    w.down.clear()
    w.now += 31  # past the wait: one probe, it succeeds, closed
    assert (await client.get(f"/orders/{order_id}/overview")).json()["parts"]["payment"]["status"] == "ok"
    assert (await _state(client))["state"] == "closed"
    metrics = (await client.get("/metrics")).text
    assert 'orderhex_breaker_state{breaker="local:payments",state="closed"} 1.0' in metrics


async def test_forced_open_holds_through_a_healthy_service_until_reset_and_survives_a_restart(
        world: tuple[World, httpx.AsyncClient], tmp_path: Path) -> None:
    w, client = world
    order_id = (await client.post("/orders", json=ORDER)).json()["order_id"]
    await client.get(f"/orders/{order_id}/overview")  # the breaker exists from the first call
    forced = await client.post("/admin/breakers/local:payments/force-open", headers=ADMIN,
                               json={"reason": "migration"})
    assert forced.status_code == 200 and forced.json()["state"] == "forced-open"
    w.now += 3600
    for _ in range(3):
        part = (await client.get(f"/orders/{order_id}/overview")).json()["parts"]["payment"]
        assert part["status"] == "open_circuit"
    restarted = World(tmp_path)  # a new process over the same data directory
    try:
        assert restarted.board.get("local:payments").snapshot().state == "forced-open"
    finally:
        restarted.close()
    reset = await client.post("/admin/breakers/local:payments/reset", headers=ADMIN, json={"reason": "done"})
    assert reset.json()["state"] == "closed"
    assert (await client.get(f"/orders/{order_id}/overview")).json()["parts"]["payment"]["status"] == "ok"


async def test_metrics_only_never_rejects(world: tuple[World, httpx.AsyncClient]) -> None:
    w, client = world
    order_id = (await client.post("/orders", json=ORDER)).json()["order_id"]
    await client.get(f"/orders/{order_id}/overview")
    await client.post("/admin/breakers/local:payments/metrics-only", headers=ADMIN, json={"reason": "observe"})
    w.down.add("payments")
    for _ in range(8):
        assert (await client.get(f"/orders/{order_id}/overview")).json()["parts"]["payment"]["status"] == "error"
    state = await _state(client)
    assert state["state"] == "metrics-only" and state["would_be"] == "open"


async def test_admin_breaker_routes_need_the_token_a_reason_and_a_known_name(
        world: tuple[World, httpx.AsyncClient]) -> None:
    _, client = world
    assert (await client.get("/admin/breakers")).status_code == 401
    missing = await client.post("/admin/breakers/http:nowhere/force-open", headers=ADMIN, json={"reason": "x"})
    assert missing.status_code == 404 and "http:nowhere" in missing.text
    no_reason = await client.post("/admin/breakers/http:nowhere/force-open", headers=ADMIN, json={})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
