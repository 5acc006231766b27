"""`orderhex consume` against the real broker: commands sent by a plain Kafka client become orders
once, bad ones reach the dead-letter topic with the reason, and the sender gets a reply."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

import bootstrap
from core.kernel.envelope import Message
from core.orders.model import OrderStatus
from core.orders.queries import GetOrder, ListOrders
from tests.fixtures_kafka import orderhex_env, orders_group, orders_topics, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.manual]

PLACE = {"type": "PlaceOrder", "customer_id": "c-k", "currency": "EUR",
         "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


class Intake:
    """The app, its command intake running in a thread, and a plain Kafka client to talk to it."""

    def __init__(self, tmp_path: Path, overrides: dict[str, Any]) -> None:
        self.config = overrides
        self.app = bootstrap.Application(bootstrap.load_config(env={}, overrides={"data_dir": str(tmp_path),
                                                                                   **overrides}))
        self.intake = bootstrap.command_intake(self.app)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.intake.run, args=(self.stop,), daemon=True)
        self.client: Producer | None = Producer({"bootstrap.servers": overrides["messaging.bootstrap_servers"]})
        self.replies = orders_topics(overrides).commands + ".replies"

    def start(self) -> Intake:
        self.thread.start()
        return self

    def send(self, value: bytes | dict[str, Any], **headers: str | bytes) -> None:
        payload = json.dumps(value).encode() if isinstance(value, dict) else value
        assert self.client is not None
        self.client.produce(orders_topics(self.config).commands, payload,
                            headers=[("reply_to", self.replies), *headers.items()])
        assert self.client.flush(10) == 0

    def handled(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(vars(self.intake.counts).values()) < count:
            assert time.monotonic() < deadline, f"only {self.intake.counts} of {count} handled"
            time.sleep(0.02)

    def read(self, topic: str, count: int) -> list[Message]:
        return read_topic(self.config["messaging.bootstrap_servers"], topic, count)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)
        self.app.close()
        self.client = None  # its connection closes with it, before the session's broker stops


@pytest.fixture
def intake(tmp_path: Path, kafka_config: dict[str, Any]) -> Iterator[Intake]:
    running = Intake(tmp_path, kafka_config)
    yield running
    running.close()


def replies(intake: Intake, count: int) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in intake.read(intake.replies, count)]


def test_a_place_order_command_creates_the_order_and_replies_with_its_id(intake: Intake) -> None:
    intake.start().send(PLACE, message_id="cmd-1")
    intake.handled(1)
    [reply] = replies(intake, 1)
    assert reply["status"] == "accepted" and reply["message_id"] == "cmd-1" and reply["command"] == "PlaceOrder"
    summary = intake.app.ordering.get(GetOrder(order_id=reply["order_id"]))
    assert summary.customer_id == "c-k" and str(summary.total) == "19.98"


def test_a_command_sent_twice_creates_one_order(intake: Intake) -> None:
    intake.start()
    intake.send(PLACE, message_id="same")
    intake.send(PLACE, message_id="same")
    intake.handled(2)
    first, second = replies(intake, 2)
    assert first["status"] == second["status"] == "accepted" and second["duplicate"] is True
    assert len(intake.app.ordering.list(ListOrders(customer_id="c-k")).items) == 1


def test_an_idempotency_key_header_also_makes_a_resent_order_one_order(intake: Intake) -> None:
    intake.start()
    intake.send(PLACE, idempotency_key="k-1")
    intake.send(PLACE, idempotency_key="k-1")
    intake.handled(2)
    first, second = replies(intake, 2)
    assert first["order_id"] == second["order_id"] and second["duplicate"] is True
    assert len(intake.app.ordering.list(ListOrders(customer_id="c-k")).items) == 1


def test_poison_messages_reach_the_dead_letter_topic_and_later_good_ones_go_through(intake: Intake) -> None:
    intake.start()
    intake.send(b"{not json", message_id="bad-1")
    intake.send({"type": "ShipEverything"}, message_id="bad-2")
    intake.send({**PLACE, "lines": [{"sku": "SKU-1", "quantity": "two", "unit_price": "9.99"}]}, message_id="bad-3")
    intake.send({"type": "CancelOrder", "order_id": "no-such-order", "reason": "x"}, message_id="bad-4")
    intake.send(PLACE, message_id="good")
    intake.handled(5)
    # Commands sent without a key promise no order (a topic of several partitions hands them out
    # in any order), so the dead letters are matched by id.
    dead = {m.id: m for m in intake.read(orders_topics(intake.config).dead_letters, 4)}
    assert sorted(dead) == ["bad-1", "bad-2", "bad-3", "bad-4"]
    errors = {id_: m.headers["error"] for id_, m in dead.items()}
    assert "not a JSON document" in errors["bad-1"] and "ShipEverything" in errors["bad-2"]
    assert "lines[0].quantity" in errors["bad-3"] and "NotFound" in errors["bad-4"]
    assert dead["bad-1"].payload == b"{not json", "the dead letter keeps the original bytes"
    outcome = {r["message_id"]: r for r in replies(intake, 5)}
    assert [outcome[f"bad-{i}"]["status"] for i in range(1, 5)] == ["rejected"] * 4
    assert outcome["bad-3"]["reason"].startswith("lines[0].quantity")
    assert intake.app.ordering.get(GetOrder(order_id=outcome["good"]["order_id"])).customer_id == "c-k"


def test_a_cancel_order_command_cancels_the_order(intake: Intake) -> None:
    intake.start().send(PLACE, message_id="p")
    intake.handled(1)
    [placed] = replies(intake, 1)
    intake.send({"type": "CancelOrder", "order_id": placed["order_id"], "reason": "changed my mind"}, message_id="c")
    intake.handled(2)
    assert intake.app.ordering.get(GetOrder(order_id=placed["order_id"])).status == OrderStatus.CANCELLED


def test_a_command_redelivered_after_a_crash_before_the_ack_has_no_second_effect(intake: Intake) -> None:
    intake.send(PLACE, message_id="crash")
    # A member that commits the effect, then dies before storing the offset.
    crashed = intake.app.messaging.subscriber([orders_topics(intake.config).commands],
                                              orders_group(intake.config))
    deadline = time.monotonic() + 30
    batch: list[Message] = []
    while not batch and time.monotonic() < deadline:
        batch = crashed.poll(0.5)
    intake.intake.handle(batch[0])
    crashed.close()
    intake.start()  # the group's next member gets the unacked message again
    intake.handled(2)
    assert intake.intake.counts.accepted == 1 and intake.intake.counts.duplicates == 1
    assert len(intake.app.ordering.list(ListOrders(customer_id="c-k")).items) == 1


def test_orderhex_consume_handles_commands_until_told_to_stop(tmp_path: Path, kafka_config: dict[str, Any]) -> None:
    overrides = {**kafka_config, "storage.adapter": "file", "data_dir": str(tmp_path)}
    producer = Producer({"bootstrap.servers": kafka_config["messaging.bootstrap_servers"]})
    producer.produce(orders_topics(kafka_config).commands, json.dumps(PLACE).encode())
    producer.produce(orders_topics(kafka_config).commands, b"garbage")
    assert producer.flush(10) == 0
    del producer
    done = subprocess.run([sys.executable, "-m", "bootstrap", "consume", "--max-messages", "2"], check=False,
                          env=orderhex_env(overrides), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert "1 accepted, 0 duplicate(s), 1 rejected" in done.stderr
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides=overrides))
    try:
        assert len(app.ordering.list(ListOrders(customer_id="c-k")).items) == 1
    finally:
        app.close()


def test_orderhex_consume_logs_joining_and_each_command_with_its_ids(tmp_path: Path,
                                                                     kafka_config: dict[str, Any]) -> None:
    import re
    import signal

    from tests.e2e.jsonlogs import PipeLog, message

    overrides = {**kafka_config, "storage.adapter": "sqlite", "data_dir": str(tmp_path)}
    topic = orders_topics(kafka_config).commands
    producer = Producer({"bootstrap.servers": kafka_config["messaging.bootstrap_servers"]})
    # One key: one partition, so the three arrive in this order.
    producer.produce(topic, json.dumps(PLACE).encode(), key=b"k",
                     headers=[("message_id", "m-ok"), ("correlation_id", "corr-1")])
    producer.produce(topic, b"{not json", key=b"k", headers=[("message_id", "m-bad")])
    producer.produce(topic, json.dumps(PLACE).encode(), key=b"k", headers=[("message_id", "m-ok")])  # a resend
    assert producer.flush(10) == 0
    del producer
    process = subprocess.Popen([sys.executable, "-m", "bootstrap", "consume", "--metrics-port", "0",
                                "--log-level", "debug"], env=orderhex_env(overrides), stderr=subprocess.PIPE,
                               text=True)
    assert process.stderr is not None
    log = PipeLog(process.stderr)
    try:
        started = log.wait_for(lambda line: line.get("event") == "started", what="the started line")
        assert (started["role"], started["topic"], started["group"]) == ("consume", topic,
                                                                          orders_group(kafka_config))
        joined = log.wait_for(message("joined group", "orderhex.kafka"), what="the group join")
        assert f"assigned partitions {topic}[0]" in joined["message"]
        # The producer's first message created the topic, with the broker's default partitions.
        assert f"{topic}[0]" in joined["partitions"] and joined["join_seconds"] >= 0
        log.wait_for(message("command duplicate", "orderhex.intake"), what="the resend's line")
        text = httpx.get(started["metrics_url"], timeout=10).text
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
        log.close()

    lines = log.lines()  # every line is a JSON object
    accepted = [line for line in lines if line["message"].startswith("command accepted")]
    [ok] = accepted
    assert (ok["message_id"], ok["correlation_id"], ok["command"], ok["outcome"]) == ("m-ok", "corr-1",
                                                                                      "PlaceOrder", "accepted")
    assert ok["order_id"] and ok["order_id"] in ok["message"]
    [bad] = [line for line in lines if line["message"].startswith("command dead-lettered")]
    assert bad["level"] == "warning" and bad["message_id"] == "m-bad" and bad["correlation_id"] == "m-bad"
    assert "not a JSON document" in bad["reason"]
    [duplicate] = [line for line in lines if line["message"].startswith("command duplicate")]
    assert duplicate["order_id"] == ok["order_id"] and duplicate["message_id"] == "m-ok"
    # Lines logged while the command ran (the bus's, at debug) carry the message's ids too.
    handled = [line for line in lines if line["message"] == "PlaceOrder handled"]
    assert handled and all(line["message_id"] == "m-ok" for line in handled)
    assert any(line.get("correlation_id") == "corr-1" for line in handled)
    [stopped] = [line for line in lines if line.get("event") == "stopped"]
    assert (stopped["accepted"], stopped["duplicates"], stopped["rejected"]) == (1, 1, 1)

    def count(name: str, **labels: str) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        match = re.search("^" + re.escape(f"{name}{{{wanted}}}") + r" (\S+)$", text, re.MULTILINE)
        assert match, f"{name}{{{wanted}}} not in metrics"
        return float(match.group(1))

    assert count("orderhex_intake_messages_total", outcome="accepted") == 1
    assert count("orderhex_intake_messages_total", outcome="duplicate") == 1
    assert count("orderhex_intake_messages_total", outcome="dead_lettered") == 1
    assert count("orderhex_intake_dead_letters_total", error="validation_error") == 1
    assert count("orderhex_commands_total", command="place_order", outcome="ok") >= 1


@pytest.mark.slow
def test_the_readme_kafka_example_works_against_the_embedded_broker(tmp_path: Path) -> None:
    """The README's send_command.py, as written, against `orderhex consume` on the embedded broker
    with the default topics and group (Debian's kcat cannot talk to it)."""
    import re
    import signal

    from adapters.outbound.kafka.embedded import embedded_status, stop_embedded
    from tests.e2e.jsonlogs import PipeLog, message

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    [script] = re.findall(r"```python\n(# send_command\.py.*?)```", readme, re.DOTALL)
    (tmp_path / "send_command.py").write_text(script)
    overrides = {"data_dir": str(tmp_path), "storage.adapter": "sqlite", "messaging.adapter": "kafka",
                 "messaging.bootstrap_servers": "embedded"}
    consume = subprocess.Popen([sys.executable, "-m", "bootstrap", "consume"], env=orderhex_env(overrides),
                               stderr=subprocess.PIPE, text=True)
    assert consume.stderr is not None
    log = PipeLog(consume.stderr)
    try:
        log.wait_for(message("joined group orderhex.orders"), timeout=90, what="the group join")
        servers = embedded_status(tmp_path).to_json()["bootstrap_servers"]
        sent = subprocess.run([sys.executable, str(tmp_path / "send_command.py"), str(servers)], check=False,
                              capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        reply = json.loads(sent.stdout)
        assert reply["status"] == "accepted" and reply["command"] == "PlaceOrder" and reply["order_id"]
        consume.send_signal(signal.SIGTERM)
        assert consume.wait(30) == 0
    finally:
        consume.kill()
        log.close()
        stop_embedded(tmp_path)
    [accepted] = [line for line in log.lines() if line["message"].startswith("command accepted")]
    assert accepted["order_id"] == reply["order_id"]
