"""The embedded broker killed (kill -9) under a real `orderhex serve`: the broker comes back on its
port, every client finds it again, the outbox drains without restarting serve, and the events the
crash took from the broker's memory are published again from the outboxes and consumed once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.outbound.kafka.embedded import BrokerRecord, embedded_status, stop_embedded
from tests.e2e.test_serve import ADMIN, TOKEN
from tests.fixtures_kafka import SHORT_TIMINGS
from tests.served import Serve

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.manual]

ORDER = {"customer_id": "c-crash", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "1.00"}]}


def settings(data_dir: Path, **more: Any) -> dict[str, Any]:
    return {"data_dir": data_dir, "storage.adapter": "sqlite", "messaging.adapter": "kafka",
            "messaging.bootstrap_servers": "embedded", "api.admin_token": TOKEN, "demo.seed": False,
            **SHORT_TIMINGS, **more}


@pytest.fixture
def data_dir(tmp_path: Path, tansu: Any) -> Any:
    """A data directory whose embedded broker is stopped at the end (`tansu`: skips, as every
    Kafka test does, without the broker's wheel)."""
    yield tmp_path
    stop_embedded(tmp_path)


def kill_broker(data_dir: Path) -> BrokerRecord:
    status = embedded_status(data_dir)
    assert status.state == "running" and status.record is not None, status.detail
    os.kill(status.record.pid, signal.SIGKILL)
    return status.record


def pending(http: httpx.Client) -> int:
    return sum(s["outbox_pending"] or 0 for s in http.get("/admin/services", headers=ADMIN).json())


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_serve_drains_its_outbox_after_the_embedded_broker_is_killed_under_load(data_dir: Path) -> None:
    server = Serve(data_dir, settings(data_dir))
    placed: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/inventory/stock/SKU-1/restock", json={"quantity": 10_000}).status_code == 200

            def place(count: int) -> None:
                with httpx.Client(base_url=server.url, timeout=10) as client:
                    for _ in range(count):
                        response = client.post("/orders", json=ORDER)
                        assert response.status_code == 201, response.text
                        placed.append(response.json()["order_id"])

            load = threading.Thread(target=place, args=(400,))
            load.start()
            wait(lambda: len(placed) >= 100, 60, "orders were not placed")
            killed = kill_broker(data_dir)
            killed_at = time.monotonic()
            load.join(120)
            assert len(placed) == 400, "orders are taken while the broker is down"
            wait(lambda: pending(http) == 0, 90, f"the outbox did not drain: {server.output()[-3000:]}")
            drained = time.monotonic() - killed_at
            after = embedded_status(data_dir)
            assert after.state == "running" and after.record is not None and after.record.pid != killed.pid
            assert after.record.port == killed.port, "the broker came back on its port"
            # Every order's event reached the inventory's consumer (re-joined to the new broker).
            wait(lambda: http.get("/inventory/stock/SKU-1").json()["reserved"] == 400, 90,
                 f"not every order was reserved: {http.get('/inventory/stock/SKU-1').json()}")
            ready = http.get("/ready")
            assert ready.status_code == 200 and ready.json()["checks"]["messaging"] == "ok", ready.text
        print(f"outbox drained {drained:.1f} s after the broker was killed (400 orders, kill after 100)")
        assert server.terminate(timeout=30) == 0
    finally:
        server.stop()


def test_events_published_before_the_broker_crash_are_consumed_once_after_it(data_dir: Path) -> None:
    orders = Serve(data_dir, settings(data_dir), args=("--service", "orders"))
    inventory = None
    try:
        with httpx.Client(base_url=orders.url, timeout=10) as http:
            ids = [http.post("/orders", json=ORDER).json()["order_id"] for _ in range(40)]
            wait(lambda: pending(http) == 0, 60, "the orders' outbox was not published")
        # Published, not consumed: no consumer of these events runs yet. The crash takes them.
        kill_broker(data_dir)
        # The inventory service's process starts the broker again; the orders' relay sees it is
        # another broker and publishes its retained rows again.
        inventory = Serve(data_dir, settings(data_dir, **{"demo.seed": True}), args=("--service", "inventory"))
        with httpx.Client(base_url=inventory.url, timeout=10) as http:
            wait(lambda: http.get("/inventory/stock/SKU-1").json()["reserved"] >= len(ids), 90,
                 f"events lost with the broker: {http.get('/inventory/stock/SKU-1').json()}\n"
                 f"{orders.output()[-3000:]}")
            time.sleep(2)  # a duplicate delivered late would show here
            stock = http.get("/inventory/stock/SKU-1").json()
            assert (stock["reserved"], stock["on_hand"]) == (len(ids), 100), "each order reserved once"
            for order_id in ids:
                assert http.get(f"/inventory/reservations/{order_id}").json()["status"] == "RESERVED"
        assert "publishing 40 retained outbox row(s) again" in orders.output()
    finally:
        orders.stop()
        if inventory is not None:
            inventory.stop()
