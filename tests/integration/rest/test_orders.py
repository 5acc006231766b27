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
        json_type = {"content-type": "application/json"}
        declared = await client.post("/orders", content=b" " * 2048, headers=json_type)
        assert_problem(declared, 413)

        async def chunks():  # no Content-Length: the limit must hold while streaming
            for _ in range(4):
                yield b" " * 512

        streamed = await client.post("/orders", content=chunks(), headers=json_type)
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


# -- every bad field (issue 14, item 10) -----------------------------------------------------------

async def test_a_422_names_every_bad_field_of_the_body(client: httpx.AsyncClient) -> None:
    body = {"customer_id": "", "currency": "euro", "colour": "red",
            "lines": [{"sku": "", "quantity": 0, "unit_price": "9.99"},
                      {"sku": "B", "quantity": "2", "unit_price": 1.5, "size": "L"}]}
    problem = assert_problem(await client.post("/orders", json=body), 422)
    errors = problem["errors"]
    assert isinstance(errors, list) and all(set(e) == {"field", "message"} for e in errors)
    assert [e["field"] for e in errors] == [
        "colour", "customer_id", "currency", "lines[0].sku", "lines[0].quantity",
        "lines[1].size", "lines[1].quantity", "lines[1].unit_price"]
    assert problem["detail"] == "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    assert problem["type"] == "urn:orderhex:problem:validation" and problem["instance"] == "/orders"


async def test_a_rule_of_the_whole_order_is_named_with_the_other_bad_fields(client: httpx.AsyncClient) -> None:
    body = {"customer_id": "", "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"},
                                         {"sku": "A", "quantity": 1, "unit_price": "2.00"}]}
    problem = assert_problem(await client.post("/orders", json=body), 422)
    assert [e["field"] for e in problem["errors"]] == ["customer_id", "unit_price"]  # type: ignore[union-attr]
    assert "A appears twice" in str(problem["detail"])


# -- money precision (item 9) ---------------------------------------------------------------------

@pytest.mark.parametrize(("currency", "price", "message"), [
    ("EUR", "9.999", "EUR has at most 2 decimals, got 9.999"),
    ("EUR", "0.0000001", "EUR has at most 2 decimals, got 0.0000001"),
    ("EUR", "1e3", "without an exponent"),
    ("EUR", "1E+3", "without an exponent"),
    ("JPY", "500.5", "JPY has no decimals, got 500.5"),
    ("KWD", "1.2345", "KWD has at most 3 decimals, got 1.2345"),
    ("EUR", "0.00", "must be greater than 0"),
    ("EUR", "1000000000000", "at most 12 digits before the point"),
])
async def test_a_price_finer_than_its_currency_or_in_exponent_notation_is_refused(
        client: httpx.AsyncClient, currency: str, price: str, message: str) -> None:
    body = {**ORDER, "currency": currency, "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": price}]}
    problem = assert_problem(await client.post("/orders", json=body), 422)
    [error] = problem["errors"]  # type: ignore[misc]
    assert error["field"] == "lines[0].unit_price" and message in error["message"]


@pytest.mark.parametrize(("currency", "price", "quantity", "unit_price", "total"), [
    ("EUR", "1000", 2, "1000.00", "2000.00"),
    ("EUR", "0.5", 3, "0.50", "1.50"),
    ("EUR", "0.01", 1000, "0.01", "10.00"),
    ("JPY", "500", 3, "500", "1500"),
    ("KWD", "1.25", 2, "1.250", "2.500"),
])
async def test_money_is_rendered_in_fixed_point_with_the_currencys_decimals(
        client: httpx.AsyncClient, currency: str, price: str, quantity: int, unit_price: str, total: str) -> None:
    body = {**ORDER, "currency": currency, "lines": [{"sku": "SKU-1", "quantity": quantity, "unit_price": price}]}
    placed = await client.post("/orders", json=body)
    assert placed.status_code == 201, placed.text
    for shown in (placed.json(), (await client.get(placed.headers["location"])).json()):
        assert (shown["lines"][0]["unit_price"], shown["total"]) == (unit_price, total)
    history = (await client.get(placed.headers["location"] + "/history")).json()
    assert history[0]["payload"]["lines"][0]["unit_price"] == unit_price


# -- HTTP details (item 13) -----------------------------------------------------------------------

async def test_a_405_lists_the_allowed_methods(client: httpx.AsyncClient) -> None:
    assert assert_problem(await client.delete("/orders/x"), 405)["instance"] == "/orders/x"
    assert (await client.delete("/orders/x")).headers["allow"] == "GET, HEAD"
    assert (await client.put("/orders")).headers["allow"] == "GET, HEAD, POST"
    assert (await client.get("/orders/x/cancel")).headers["allow"] == "POST"
    assert (await client.post("/health")).headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/orders", "/health", "/openapi.json", "/docs"])
async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    get, head = await client.get(path), await client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))


async def test_head_on_a_missing_order_is_a_bodyless_404(client: httpx.AsyncClient) -> None:
    head = await client.head("/orders/nope")
    assert head.status_code == 404 and head.content == b""
    assert head.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(("pending", "approved"), [("pending", "approved"), ("Pending", "aPPROVED"),
                                                  ("PENDING", "APPROVED")])
async def test_the_status_filter_is_case_insensitive_like_the_cli(
        client: httpx.AsyncClient, pending: str, approved: str) -> None:
    placed = (await place(client)).json()
    listed = await client.get("/orders", params={"status": pending})
    assert listed.status_code == 200, listed.text
    assert [o["order_id"] for o in listed.json()["items"]] == [placed["order_id"]]
    assert (await client.get("/orders", params={"status": approved})).json()["items"] == []
    assert_problem(await client.get("/orders", params={"status": "lost"}), 422)
