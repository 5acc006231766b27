"""The inventory, payments and shipping routes: what they answer, and bad input named field by field."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_stock_is_restocked_reserved_all_or_none_and_released(client: httpx.AsyncClient) -> None:
    restocked = await client.post("/inventory/stock/SKU-1/restock", json={"quantity": 5})
    assert restocked.status_code == 200 and restocked.json()["available"] == 5
    short = await client.post("/inventory/reservations", json={"order_id": "o-1", "lines": [
        {"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-X", "quantity": 1}]})
    assert short.status_code == 201 and short.json()["status"] == "FAILED"
    assert short.json()["shortages"] == [{"sku": "SKU-X", "wanted": 1, "available": 0}]
    taken = await client.post("/inventory/reservations", json={"order_id": "o-2", "lines": [
        {"sku": "SKU-1", "quantity": 2}]})
    again = await client.post("/inventory/reservations", json={"order_id": "o-2", "lines": [
        {"sku": "SKU-1", "quantity": 2}]})
    assert (taken.status_code, again.status_code) == (201, 200)
    assert (await client.get("/inventory/stock/SKU-1")).json()["available"] == 3
    released = await client.post("/inventory/reservations/o-2/release")
    assert released.json()["status"] == "RELEASED"
    assert (await client.get("/inventory/stock/SKU-1")).json()["available"] == 5
    listed = (await client.get("/inventory/stock", params={"in_stock": "true"})).json()
    assert [s["sku"] for s in listed["items"]] == ["SKU-1"]


async def test_credit_is_held_declined_with_the_reason_voided_and_captured(client: httpx.AsyncClient) -> None:
    opened = await client.put("/payments/accounts/c-1", json={"credit_limit": "50.00"})
    assert opened.status_code == 201 and opened.json()["available"] == "50.00"
    assert (await client.put("/payments/accounts/c-1", json={"credit_limit": "50.00"})).status_code == 200
    held = await client.post("/payments/payments", json={"order_id": "o-1", "customer_id": "c-1",
                                                        "amount": "30.00"})
    declined = await client.post("/payments/payments", json={"order_id": "o-2", "customer_id": "c-1",
                                                            "amount": "30.00"})
    assert held.json()["status"] == "AUTHORIZED"
    assert declined.json()["status"] == "DECLINED" and "20.00 available" in declined.json()["reason"]
    assert (await client.post("/payments/payments/o-1/capture")).json()["status"] == "CAPTURED"
    refused = await client.post("/payments/payments/o-1/void")
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    account = (await client.get("/payments/accounts/c-1")).json()
    assert (account["spent"], account["held"], account["available"]) == ("30.00", "0.00", "20.00")


async def test_a_shipment_is_scheduled_once_dispatched_and_then_cannot_be_cancelled(client: httpx.AsyncClient) -> None:
    body = {"order_id": "o-1", "customer_id": "c-1", "address": "1 Main St"}
    assert (await client.post("/shipping/shipments", json=body)).status_code == 201
    assert (await client.post("/shipping/shipments", json=body)).status_code == 200
    assert (await client.post("/shipping/shipments/o-1/dispatch")).json()["status"] == "DISPATCHED"
    refused = await client.post("/shipping/shipments/o-1/cancel", json={"reason": "too late"})
    assert refused.status_code == 409 and "cannot cancel" in refused.json()["detail"]
    assert (await client.get("/shipping/shipments/never")).status_code == 404


async def test_bad_input_gets_a_422_naming_every_bad_field_on_each_service(client: httpx.AsyncClient) -> None:
    cases = [
        ("POST", "/inventory/reservations", {"order_id": "", "lines": [{"sku": "", "quantity": 0}]},
         {"order_id", "lines[0].sku", "lines[0].quantity"}),
        ("POST", "/payments/payments", {"order_id": "o", "customer_id": "", "amount": "1.999"},
         {"customer_id", "amount"}),
        ("PUT", "/payments/accounts/c-1", {"credit_limit": 12, "currency": "eur"}, {"currency", "credit_limit"}),
        ("POST", "/shipping/shipments", {"order_id": "", "customer_id": "", "colour": "red"},
         {"colour"}),
        ("POST", "/shipping/shipments", {"order_id": "", "customer_id": ""}, {"order_id", "customer_id"}),
    ]
    for method, path, body, fields in cases:
        response = await client.request(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        problem = response.json()
        named = {error["field"] for error in problem.get("errors", [])} or {problem.get("field")}
        assert fields <= named, (path, problem)
