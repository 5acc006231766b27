"""`orderhex serve` with Kafka messaging and the command intake on: a command sent by a plain
Kafka client becomes an order the REST API shows, the relay publishes, and SIGTERM exits 0."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from tests.e2e.test_serve import ADMIN, TOKEN
from tests.fixtures_kafka import orders_topics
from tests.served import Serve

pytestmark = pytest.mark.kafka


def test_serve_runs_the_kafka_intake_and_the_relay_beside_the_api(tmp_path: Path,
                                                                   kafka_config: dict[str, Any]) -> None:
    server = Serve(tmp_path, {**kafka_config, "api.admin_token": TOKEN, "api.kafka_intake": "true"})
    try:
        producer = Producer({"bootstrap.servers": kafka_config["messaging.bootstrap_servers"]})
        command = {"type": "PlaceOrder", "customer_id": "c-kafka", "currency": "EUR",
                   "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}]}
        producer.produce(orders_topics(kafka_config).commands, json.dumps(command).encode())
        assert producer.flush(10) == 0

        with httpx.Client(base_url=server.url, timeout=10) as http:
            deadline = time.monotonic() + 45  # includes the intake's consumer group join
            items: list[dict[str, Any]] = []
            while not items and time.monotonic() < deadline:
                items = http.get("/orders", params={"customer": "c-kafka"}).json()["items"]
                time.sleep(0.1)
            assert [o["total"] for o in items] == ["5.00"], server.output()

            deadline = time.monotonic() + 15
            while http.get("/admin/outbox", headers=ADMIN).json()["pending"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert http.get("/admin/outbox", headers=ADMIN).json()["pending"] == 0
            assert http.get("/ready").json()["checks"]["messaging"] == "ok"
        assert server.terminate(timeout=30) == 0
        assert "stopped kafka-command-intake" in server.output()
    finally:
        server.stop()
