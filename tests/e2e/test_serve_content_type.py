"""A real `orderhex serve` refuses every write whose body is not JSON with 415 before it has any
effect: what a cross-site web page could send from the operator's browser without a preflight."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.served import Serve

ORDER_JSON = json.dumps({"customer_id": "c-1", "currency": "EUR",
                         "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]})


@pytest.mark.manual  # the order must stay PENDING for a refused cancel to be seen changing nothing
def test_text_plain_and_form_bodies_get_415_and_change_nothing(tmp_path: Path) -> None:
    server = Serve(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            text = http.post("/orders", content=ORDER_JSON, headers={"Content-Type": "text/plain;charset=UTF-8"})
            form = http.post("/orders", data={"customer_id": "c-1"})
            for response in (text, form):
                assert response.status_code == 415, response.text
                assert response.headers["content-type"] == "application/problem+json"
            assert http.get("/orders").json()["items"] == []
            placed = http.post("/orders", content=ORDER_JSON, headers={"Content-Type": "application/json"})
            assert placed.status_code == 201
            order_id = placed.json()["order_id"]
            cancelled = http.post(f"/orders/{order_id}/cancel", content='{"reason": "csrf"}',
                                headers={"Content-Type": "text/plain"})
            assert cancelled.status_code == 415
            assert http.get(f"/orders/{order_id}").json()["status"] == "PENDING"
    finally:
        server.stop()
