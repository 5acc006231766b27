"""Poison and oversize messages on the real broker, against real `orderhex consume` and `serve`
processes: a 10 MB value that is not JSON and a malformed command are dead-lettered (the reason in
a header, an oversize copy cut to messaging.max_message_bytes) and the good command after them is
handled; the process keeps consuming and stays ready."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from core.kernel.envelope import Message
from core.runtime.context import Topics
from tests.e2e.jsonlogs import PipeLog, message
from tests.fixtures_kafka import orderhex_env, orders_topics, read_topic
from tests.served import Serve

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

OVERSIZE = b"\x00not json\xff" * 1_000_000  # 10 MB, over the 1 MB a producer sends by default
LIMIT = 65_536  # messaging.max_message_bytes's default, like api.max_body_bytes
PLACE = {"type": "PlaceOrder", "customer_id": "c-poison", "currency": "EUR",
         "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "3.00"}]}


def send(servers: str, topic: str, good: dict[str, Any], reply_to: str) -> None:
    """The oversize message, a malformed one, then a good one, in this order on one partition."""
    producer = Producer({"bootstrap.servers": servers, "message.max.bytes": 20_000_000})
    for message_id, value in (("oversize", OVERSIZE), ("poison", b"{not json"), ("good", json.dumps(good).encode())):
        producer.produce(topic, value, key=b"same", headers=[("message_id", message_id), ("reply_to", reply_to)])
    assert producer.flush(30) == 0


def assert_dead_letters(dead: list[Message]) -> None:
    assert [m.id for m in dead] == ["oversize", "poison"]
    oversize, poison = dead
    # Its size counts the key and headers too.
    assert oversize.headers["error"].startswith(f"ValidationError: message: is {len(OVERSIZE) // 1000}")
    assert f"bytes, more than the {LIMIT} bytes" in oversize.headers["error"]
    assert (oversize.headers["truncated"], oversize.headers["original_bytes"]) == ("true", str(len(OVERSIZE)))
    assert oversize.payload == OVERSIZE[:LIMIT]
    assert "not a JSON document" in poison.headers["error"]
    assert poison.payload == b"{not json" and "truncated" not in poison.headers


def test_consume_dead_letters_an_oversize_and_a_poison_command_and_handles_the_next(
        tmp_path: Path, kafka_config: dict[str, Any]) -> None:
    overrides = {**kafka_config, "data_dir": str(tmp_path), "storage.adapter": "sqlite"}
    servers, topics = kafka_config["messaging.bootstrap_servers"], orders_topics(kafka_config)
    replies = topics.commands + ".replies"
    consume = subprocess.Popen([sys.executable, "-m", "bootstrap", "consume", "--max-messages", "3"],
                               env=orderhex_env(overrides), stderr=subprocess.PIPE, text=True)
    assert consume.stderr is not None
    log = PipeLog(consume.stderr)
    try:
        log.wait_for(message(f"joined group {kafka_config['messaging.topic_prefix']}.orders"), timeout=90,
                     what="the group join")
        send(servers, topics.commands, PLACE, replies)
        assert consume.wait(60) == 0, log.text()
    finally:
        consume.kill()
        log.close()
    assert_dead_letters(read_topic(servers, topics.dead_letters, 2))
    outcomes = {m.id: json.loads(m.payload) for m in read_topic(servers, replies, 3)}
    assert outcomes["oversize:reply"]["status"] == outcomes["poison:reply"]["status"] == "rejected"
    assert outcomes["good:reply"]["status"] == "accepted" and outcomes["good:reply"]["order_id"]
    stopped = [line for line in log.lines() if line["message"].startswith("consumer stopped")]
    assert stopped and (stopped[0]["accepted"], stopped[0]["rejected"]) == (1, 2)


def test_serve_dead_letters_oversize_and_poison_messages_on_the_intake_and_a_service_consumer(
        tmp_path: Path, kafka_config: dict[str, Any]) -> None:
    servers, prefix = kafka_config["messaging.bootstrap_servers"], kafka_config["messaging.topic_prefix"]
    orders, inventory = orders_topics(kafka_config), Topics.of(prefix, "inventory")
    server = Serve(tmp_path, {**kafka_config, "api.kafka_intake": "true"})
    try:
        send(servers, orders.commands, PLACE, orders.commands + ".replies")
        send(servers, inventory.commands, {"type": "Restock", "sku": "SKU-POISON", "quantity": 7},
             inventory.commands + ".replies")
        with httpx.Client(base_url=server.url, timeout=10) as http:
            deadline = time.monotonic() + 60  # includes the consumer groups' joins
            while time.monotonic() < deadline:
                placed = http.get("/orders", params={"customer": "c-poison"}).json()["items"]
                stock = http.get("/inventory/stock/SKU-POISON")
                if placed and stock.status_code == 200:
                    break
                time.sleep(0.2)
            assert [o["total"] for o in placed] == ["3.00"], server.output()
            assert stock.json()["on_hand"] == 7, server.output()
            ready = http.get("/ready")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert checks["worker:kafka-command-intake"] == checks["worker:inventory-consumer"] == "ok"
        assert_dead_letters(read_topic(servers, orders.dead_letters, 2))
        assert_dead_letters(read_topic(servers, inventory.dead_letters, 2))
        assert server.terminate(timeout=30) == 0
    finally:
        server.stop()
