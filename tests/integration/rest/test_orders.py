"""Placing, reading, listing and cancelling orders over HTTP, and the problem documents for errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.integration.rest.conftest import ORDER, make_api, make_application, open_client

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


async def place(client: httpx.AsyncClient, key: str | None = None, **changes: object) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/orders", json={**ORDER, **changes}, headers=headers)


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


async def test_placing_an_order_returns_201_with_its_location_and_body(client: httpx.AsyncClient) -> None:
    response = await place(client, "k-1")
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/orders/{body['order_id']}"
    assert body["status"] == "PENDING"
    assert body["total"] == "19.98"
    assert body["lines"] == [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]


async def test_a_replay_with_the_same_key_and_body_returns_200_and_the_same_body(client: httpx.AsyncClient) -> None:
    first = await place(client, "k-1")
    again = await place(client, "k-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]


async def test_the_same_key_with_a_different_body_is_409_naming_the_first_order(client: httpx.AsyncClient) -> None:
    first = (await place(client, "k-1")).json()
    problem = assert_problem(await place(client, "k-1", customer_id="c-2"), 409)
    assert problem["order_id"] == first["order_id"]
    assert "k-1" in str(problem["detail"])


async def test_without_a_key_every_post_places_a_new_order(client: httpx.AsyncClient) -> None:
    first, second = (await place(client)).json(), (await place(client)).json()
    assert first["order_id"] != second["order_id"]


async def test_a_header_key_that_contradicts_the_body_key_is_refused(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await place(client, "k-1", idempotency_key="k-2"), 422)
    assert problem["errors"] == [{"field": "idempotency_key", "message": "the Idempotency-Key header and the "
                                                                          "body's key differ"}]


async def test_an_order_can_be_read_back(client: httpx.AsyncClient) -> None:
    placed = (await place(client)).json()
    response = await client.get(f"/orders/{placed['order_id']}")
    assert response.status_code == 200
    assert response.json() == placed


async def test_an_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.get("/orders/no-such-order"), 404)
    assert problem["order_id"] == "no-such-order"
    assert problem["instance"] == "/orders/no-such-order"


async def test_listing_filters_by_customer_and_status_and_pages_by_cursor(client: httpx.AsyncClient) -> None:
    ids = [(await place(client, customer_id="alice")).json()["order_id"] for _ in range(3)]
    await place(client, customer_id="bob")
    await client.post(f"/orders/{ids[0]}/cancel", json={"reason": "no"})

    first = (await client.get("/orders", params={"customer": "alice", "limit": 2})).json()
    rest = (await client.get("/orders", params={"customer": "alice", "limit": 2,
                                                "cursor": first["next_cursor"]})).json()
    assert [o["order_id"] for o in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    cancelled = (await client.get("/orders", params={"status": "CANCELLED"})).json()
    assert [o["order_id"] for o in cancelled["items"]] == [ids[0]]


async def test_cancelling_returns_the_cancelled_order(client: httpx.AsyncClient) -> None:
    placed = (await place(client)).json()
    response = await client.post(f"/orders/{placed['order_id']}/cancel", json={"reason": "changed my mind"})
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    assert response.json()["reason"] == "changed my mind"


async def test_cancelling_twice_is_409_with_the_current_state(client: httpx.AsyncClient) -> None:
    order_id = (await place(client)).json()["order_id"]
    await client.post(f"/orders/{order_id}/cancel", json={"reason": "once"})
    problem = assert_problem(await client.post(f"/orders/{order_id}/cancel", json={"reason": "twice"}), 409)
    assert problem["state"] == "CANCELLED"
    assert problem["order_id"] == order_id


async def test_cancelling_an_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/orders/nope/cancel", json={"reason": "x"}), 404)


async def test_cancel_without_a_reason_names_the_field(client: httpx.AsyncClient) -> None:
    order_id = (await place(client)).json()["order_id"]
    problem = assert_problem(await client.post(f"/orders/{order_id}/cancel", json={}), 422)
    assert problem["errors"] == [{"field": "reason", "message": "is required and must be a non-empty string"}]


async def test_history_lists_the_orders_events_in_version_order(client: httpx.AsyncClient) -> None:
    order_id = (await place(client)).json()["order_id"]
    await client.post(f"/orders/{order_id}/cancel", json={"reason": "x"})
    events = (await client.get(f"/orders/{order_id}/history")).json()
    assert [(e["type"], e["aggregate_version"]) for e in events] == [
        ("orders.OrderPlaced", 1), ("orders.OrderCancelled", 2)]


async def test_history_of_an_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/orders/nope/history"), 404)


@pytest.mark.parametrize(("body", "field"), [
    ({"currency": "EUR", "lines": ORDER["lines"]}, "customer_id"),
    ({**ORDER, "currency": "euro"}, "currency"),
    ({**ORDER, "lines": []}, "lines"),
    ({**ORDER, "lines": [{"sku": "A", "quantity": "2", "unit_price": "1.00"}]}, "lines[0].quantity"),
    ({**ORDER, "lines": [{"sku": "A", "quantity": 2, "unit_price": 1.5}]}, "lines[0].unit_price"),
    ({**ORDER, "colour": "red"}, "colour"),
    ([1, 2], "body"),
])
async def test_invalid_input_is_422_naming_the_field(client: httpx.AsyncClient, body: object, field: str) -> None:
    problem = assert_problem(await client.post("/orders", json=body), 422)
    assert [e["field"] for e in problem["errors"]] == [field]  # type: ignore[union-attr]


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe", b"[" * 50_000 + b"]" * 50_000])
async def test_an_unreadable_body_is_422_not_500(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/orders", content=raw, headers={"content-type": "application/json"})
    problem = assert_problem(response, 413 if len(raw) > 65_536 else 422)
    if response.status_code == 422:
        assert problem["errors"][0]["field"] == "body"  # type: ignore[index]


async def test_every_bad_query_parameter_is_named(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.get("/orders", params={"status": "LOST", "limit": "0"}), 422)
    assert {e["field"] for e in problem["errors"]} == {"query.status", "query.limit"}  # type: ignore[union-attr]


async def test_a_forged_cursor_is_422(client: httpx.AsyncClient) -> None:
    problem = assert_problem(await client.get("/orders", params={"cursor": "not-a-cursor"}), 422)
    assert problem["errors"] == [{"field": "cursor", "message": "is not a cursor this service returned"}]


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(application: object) -> None:
    async for client in open_client(make_api(application, max_body_bytes=1024)):  # type: ignore[arg-type]
        declared = await client.post("/orders", content=b" " * 2048)
        assert_problem(declared, 413)

        async def chunks():  # no Content-Length: the limit must hold while streaming
            for _ in range(4):
                yield b" " * 512

        streamed = await client.post("/orders", content=chunks())
        assert_problem(streamed, 413)
        assert (await client.post("/orders", json=ORDER)).status_code == 201


async def test_unknown_routes_and_methods_get_problem_documents(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)
    assert_problem(await client.delete("/orders/x"), 405)


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
async def test_concurrent_posts_with_one_key_place_one_order(tmp_path: Path, storage: str) -> None:
    application = make_application(tmp_path, **{"storage.adapter": storage})
    try:
        async for client in open_client(make_api(application)):
            responses = await asyncio.gather(*(place(client, "race") for _ in range(8)))
    finally:
        application.close()
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["order_id"] for r in responses}) == 1


async def test_approve_then_ship_moves_the_order_along(client: httpx.AsyncClient) -> None:
    order_id = (await place(client)).json()["order_id"]
    approved = await client.post(f"/orders/{order_id}/approve")
    shipped = await client.post(f"/orders/{order_id}/ship")
    assert (approved.status_code, approved.json()["status"]) == (200, "APPROVED")
    assert (shipped.status_code, shipped.json()["status"]) == (200, "SHIPPED")


async def test_shipping_a_pending_order_is_409_with_its_state(client: httpx.AsyncClient) -> None:
    order_id = (await place(client)).json()["order_id"]
    problem = assert_problem(await client.post(f"/orders/{order_id}/ship"), 409)
    assert problem["state"] == "PENDING"


async def test_rejecting_records_the_reason(client: httpx.AsyncClient) -> None:
    order_id = (await place(client)).json()["order_id"]
    rejected = (await client.post(f"/orders/{order_id}/reject", json={"reason": "out of stock"})).json()
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "out of stock")
    assert_problem(await client.post(f"/orders/{order_id}/reject", json={"reason": "again"}), 409)
    assert_problem(await client.post(f"/orders/{order_id}/reject", json={"reason": 7}), 422)


async def test_a_misspelt_list_parameter_is_422_not_an_unfiltered_list(client: httpx.AsyncClient) -> None:
    await place(client, customer_id="alice")
    problem = assert_problem(await client.get("/orders", params={"costumer": "bob"}), 422)
    assert problem["errors"][0]["field"] == "query.costumer"  # type: ignore[index]
