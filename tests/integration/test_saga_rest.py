"""The semantic lock over HTTP: while an order's place-order saga runs, cancelling or shipping it
is a 409 problem naming the saga, and the order's representation says where its saga is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.rest.conftest import ORDER, make_api, make_application, open_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    application = make_application(tmp_path, **{"saga.mode": "orchestration"})
    try:
        async for opened in open_client(make_api(application)):
            yield opened
    finally:
        application.close()


async def test_an_order_shows_its_saga_and_cancel_or_ship_while_it_runs_is_409_naming_it(
        client: httpx.AsyncClient) -> None:
    placed = await client.post("/orders", json=ORDER)
    assert placed.status_code == 201
    order = placed.json()
    order_id = order["order_id"]
    assert order["saga"] == {"id": order_id, "definition": "place-order", "state": "waiting",
                             "summary": "pending: waiting for inventory and payments"}
    cancel, ship = f"/orders/{order_id}/cancel", f"/orders/{order_id}/ship"
    for path, body in ((cancel, {"reason": "changed my mind"}), (ship, None)):
        refused = await client.post(path, json=body)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert problem["type"] == "urn:orderhex:problem:saga-locked"
        assert (problem["saga_id"], problem["saga"], problem["order_id"]) == (order_id, "place-order", order_id)
        assert f"held by saga {order_id}" in problem["detail"]
    assert (await client.get(f"/orders/{order_id}")).json()["status"] == "PENDING"
