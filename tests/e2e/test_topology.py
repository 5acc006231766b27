"""The four services as one process on the in-memory broker, and as one process each on Kafka:
the same scenario, the same outcome. Orders placed over HTTP reach inventory and payments through
outbox -> relay -> broker -> consumer inbox; a consumer killed with -9 mid-stream and restarted
loses and doubles nothing; two instances of a service share its consumer group's partitions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_kafka import kafka_overrides
from tests.served import Serve

pytestmark = pytest.mark.slow
SERVICES = ("orders", "inventory", "payments", "shipping")
ORDER_LINE = {"sku": "SKU-T", "quantity": 1, "unit_price": "10.00"}


def until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.1)


class Topology:
    """Where each service answers, over processes started for one test."""

    def __init__(self) -> None:
        self.processes: dict[str, Serve] = {}
        self.urls: dict[str, str] = {}

    def add(self, name: str, served: Serve, services: tuple[str, ...]) -> None:
        self.processes[name] = served
        for service in services:
            self.urls[service] = served.url

    def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.urls[service] + path, timeout=10, **kwargs)

    def stop(self) -> None:
        for served in self.processes.values():
            served.stop()


def base_settings(tmp_path: Path) -> dict[str, Any]:
    return {"storage.adapter": "sqlite", "demo.seed": False, "relay.idle_ms": 20}


@pytest.fixture(params=["monolith-memory", "services-kafka"])
def topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    running = Topology()
    settings = base_settings(tmp_path)
    try:
        if request.param == "monolith-memory":
            running.add("monolith", Serve(tmp_path, {**settings, "messaging.adapter": "memory"}), SERVICES)
        else:
            settings = {**settings, **kafka_overrides(request.getfixturevalue("tansu"))}
            for service in SERVICES:
                running.add(service, Serve(tmp_path, settings, args=("--service", service)), (service,))
        yield running
    finally:
        running.stop()


def prepare(topology: Topology, stock: int = 10) -> None:
    assert topology.call("inventory", "POST", "/inventory/stock/SKU-T/restock", json={"quantity": stock}).is_success
    opened = topology.call("payments", "PUT", "/payments/accounts/c-t", json={"credit_limit": "100.00"})
    assert opened.status_code == 201, opened.text


def place(topology: Topology, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        placed = topology.call("orders", "POST", "/orders", json={"customer_id": "c-t", "lines": [ORDER_LINE]})
        assert placed.status_code == 201, placed.text
        ids.append(placed.json()["order_id"])
    return ids


def reserved(topology: Topology, order_id: str) -> bool:
    return topology.call("inventory", "GET", f"/inventory/reservations/{order_id}").status_code == 200


def authorized(topology: Topology, order_id: str) -> bool:
    return topology.call("payments", "GET", f"/payments/payments/{order_id}").status_code == 200


def test_orders_placed_reach_inventory_and_payments_once_in_either_topology(topology: Topology) -> None:
    prepare(topology)
    orders = place(topology, 3)
    until(lambda: all(reserved(topology, o) and authorized(topology, o) for o in orders), what="reactions")
    stock = topology.call("inventory", "GET", "/inventory/stock/SKU-T").json()
    account = topology.call("payments", "GET", "/payments/accounts/c-t").json()
    assert (stock["reserved"], stock["available"]) == (3, 7)
    assert (account["held"], account["available"]) == ("30.00", "70.00")
    statuses = {topology.call("payments", "GET", f"/payments/payments/{o}").json()["status"] for o in orders}
    assert statuses == {"AUTHORIZED"}


def test_a_consumer_killed_mid_stream_and_restarted_loses_and_doubles_nothing(tmp_path: Path,
                                                                              tansu: Any) -> None:
    settings = {**base_settings(tmp_path), **kafka_overrides(tansu)}
    topology = Topology()
    try:
        for service in ("orders", "inventory"):
            topology.add(service, Serve(tmp_path, settings, args=("--service", service)), (service,))
        assert topology.call("inventory", "POST", "/inventory/stock/SKU-T/restock", json={"quantity": 100}).is_success
        orders = place(topology, 20)
        until(lambda: any(reserved(topology, o) for o in orders), what="the first reservation")
        topology.processes["inventory"].stop()  # kill -9, mid-stream
        orders += place(topology, 10)
        port = topology.processes["inventory"].port
        topology.add("inventory", Serve(tmp_path, settings, port=port, args=("--service", "inventory")),
                     ("inventory",))
        until(lambda: all(reserved(topology, o) for o in orders), what="every reservation after the restart")
        stock = topology.call("inventory", "GET", "/inventory/stock/SKU-T").json()
        assert stock["reserved"] == len(orders) == 30, "each order reserved exactly once"
    finally:
        topology.stop()


def test_two_instances_of_a_service_share_its_partitions_and_reserve_each_order_once(tmp_path: Path,
                                                                                    tansu: Any) -> None:
    settings = {**base_settings(tmp_path), **kafka_overrides(tansu), "messaging.partitions": 4}
    topology = Topology()
    try:
        topology.add("orders", Serve(tmp_path, settings, args=("--service", "orders")), ("orders",))
        topology.add("inventory-1", Serve(tmp_path, settings, args=("--service", "inventory")), ("inventory",))
        second = Serve(tmp_path, settings, args=("--service", "inventory"))
        topology.add("inventory-2", second, ())
        assert topology.call("inventory", "POST", "/inventory/stock/SKU-T/restock", json={"quantity": 100}).is_success
        orders = place(topology, 24)
        until(lambda: all(reserved(topology, o) for o in orders), what="every reservation")
        stock = topology.call("inventory", "GET", "/inventory/stock/SKU-T").json()
        assert stock["reserved"] == 24
        logs = [topology.processes[name].output() for name in ("inventory-1", "inventory-2")]
        assert all("assigned partitions" in log for log in logs), "both instances joined the group"
    finally:
        topology.stop()
