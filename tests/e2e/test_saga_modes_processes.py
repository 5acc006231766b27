"""The place-order saga in both modes with one process per service on the Kafka-compatible broker:
orders approved when stock and credit allow, rejected with the reason when not, and what the
rejected ones held given back; the order's API tells how its saga or flow ended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_topology import SERVICES, Topology, base_settings, until
from tests.fixtures_kafka import kafka_overrides
from tests.served import Serve

pytestmark = [pytest.mark.slow, pytest.mark.kafka]


@pytest.fixture(params=["orchestration", "choreography"])
def topology(request: pytest.FixtureRequest, tmp_path: Path, tansu: Any) -> Iterator[Topology]:
    settings = {**base_settings(tmp_path), **kafka_overrides(tansu), "saga.mode": request.param}
    running = Topology()
    try:
        for service in SERVICES:
            running.add(service, Serve(tmp_path, settings, args=("--service", service)), (service,))
        yield running
    finally:
        running.stop()


def place(topology: Topology, customer: str, sku: str, quantity: int) -> str:
    placed = topology.call("orders", "POST", "/orders", json={
        "customer_id": customer, "lines": [{"sku": sku, "quantity": quantity, "unit_price": "10.00"}]})
    assert placed.status_code == 201, placed.text
    return str(placed.json()["order_id"])


def test_orders_are_decided_across_processes_and_what_rejected_ones_held_is_given_back(topology: Topology) -> None:
    assert topology.call("inventory", "POST", "/inventory/stock/SKU-A/restock", json={"quantity": 5}).is_success
    for customer, limit in (("c-rich", "1000.00"), ("c-poor", "15.00")):
        opened = topology.call("payments", "PUT", f"/payments/accounts/{customer}", json={"credit_limit": limit})
        assert opened.status_code == 201, opened.text
    approved = [place(topology, "c-rich", "SKU-A", 2), place(topology, "c-rich", "SKU-A", 1)]
    short = place(topology, "c-rich", "SKU-A", 9)      # 2 left: stock short
    declined = place(topology, "c-poor", "SKU-A", 2)   # 20.00 against 15.00: payment declined
    orders = [*approved, short, declined]

    def decided() -> bool:
        states = [topology.call("orders", "GET", f"/orders/{o}").json().get("saga", {}).get("state")
                  for o in orders]
        return all(state in ("completed", "compensated") for state in states)

    until(decided, timeout=90, what="every order's saga ended")
    bodies = {o: topology.call("orders", "GET", f"/orders/{o}").json() for o in orders}
    assert [bodies[o]["status"] for o in orders] == ["APPROVED", "APPROVED", "REJECTED", "REJECTED"]
    assert "stock short" in bodies[short]["reason"] and "payment declined" in bodies[declined]["reason"]
    assert [bodies[o]["saga"]["state"] for o in orders] == ["completed", "completed", "compensated", "compensated"]

    def settled() -> bool:
        stock = topology.call("inventory", "GET", "/inventory/stock/SKU-A").json()
        poor = topology.call("payments", "GET", "/payments/accounts/c-poor").json()
        return stock["reserved"] == 3 and poor["held"] == "0.00"

    until(settled, timeout=60, what="the rejected orders' holds given back")
    rich = topology.call("payments", "GET", "/payments/accounts/c-rich").json()
    assert rich["held"] == "30.00", "only the approved orders hold credit"
    for order_id in approved:
        shipment = topology.call("shipping", "GET", f"/shipping/shipments/{order_id}")
        assert shipment.status_code == 200 and shipment.json()["status"] == "SCHEDULED", shipment.text
    for order_id in (short, declined):
        assert topology.call("shipping", "GET", f"/shipping/shipments/{order_id}").status_code == 404
