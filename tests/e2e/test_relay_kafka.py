"""The outbox relay against the real broker (Tansu): end to end, killed with SIGKILL between
publish and mark, and across a broker stop and restart."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.outbound.kafka.embedded import TansuBroker
from adapters.outbound.memory.storage import MemoryStorage
from core.kernel.envelope import Message
from core.kernel.errors import AlreadyProcessed
from core.kernel.messages import event_from_dict
from core.orders.events import OrderPlaced
from core.orders.wire import place_order_from_json
from core.runtime.unit_of_work import UnitOfWork
from tests.fixtures_kafka import kafka_overrides, orderhex_env, orders_topics, read_topic, receive, start_tansu

pytestmark = [pytest.mark.kafka, pytest.mark.manual]

LOCAL_STORES = [name for name in ("sqlite", "file") if name in bootstrap.STORAGE_ADAPTERS]


def make_app(tmp_path: Path, overrides: dict[str, Any]) -> bootstrap.Application:
    config = bootstrap.load_config(env={}, overrides={"data_dir": str(tmp_path), "relay.idle_ms": 10,
                                                      "relay.max_backoff_ms": 200, **overrides})
    return bootstrap.Application(config)


def place(app: bootstrap.Application, customer: str) -> str:
    body = {"customer_id": customer, "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
    return app.ordering.send(place_order_from_json(body)).order_id


class DedupingConsumer:
    """An idempotent consumer: the effect of each message is recorded once, through a real Inbox."""

    def __init__(self) -> None:
        self.store = MemoryStorage()
        self.effects: list[OrderPlaced] = []
        self.duplicates = 0

    def handle(self, message: Message) -> None:
        uow = UnitOfWork(self.store.committer, project=None, events_topic="unused")
        uow.message_id = message.id
        try:
            with uow:
                uow.commit()
        except AlreadyProcessed:
            self.duplicates += 1
            return
        event = event_from_dict(json.loads(message.payload))
        assert isinstance(event, OrderPlaced)
        self.effects.append(event)


def test_a_placed_order_reaches_a_kafka_consumer_once(tmp_path: Path, kafka_config: dict[str, Any]) -> None:
    app = make_app(tmp_path, kafka_config)
    try:
        bootstrap.start_relay(app)
        order_id = place(app, "c-e2e")
        consumer = DedupingConsumer()
        for message in receive(app.messaging, orders_topics(kafka_config).events, "e2e", 1):
            consumer.handle(message)
        [event] = consumer.effects
        assert (event.aggregate_id, event.customer_id) == (order_id, "c-e2e")
        assert app.control.outbox_status().pending == 0
    finally:
        if app.relay is not None:
            app.relay.pause()
        app.close()


CRASHING_RELAY = """
import pathlib, sys, time
import bootstrap

class PublishThenHang:
    # Publishes for real, then hangs before the relay can mark the rows: the kill lands there.
    def __init__(self, inner, marker):
        self.inner, self.marker = inner, marker
    def publish(self, topic, messages):
        self.inner.publish(topic, messages)
        self.marker.write_text(str(len(messages)))
        time.sleep(600)
    def close(self):
        self.inner.close()

app = bootstrap.build(None)
broker = app.switchboard.get("messaging")
broker.publisher = PublishThenHang(broker.publisher, pathlib.Path(sys.argv[1]))
bootstrap.relay_worker(app).run()
"""


@pytest.mark.parametrize("store", LOCAL_STORES)
def test_a_relay_killed_between_publish_and_mark_duplicates_but_loses_nothing(
    tmp_path: Path, kafka_config: dict[str, Any], store: str
) -> None:
    overrides = {**kafka_config, "storage.adapter": store, "data_dir": str(tmp_path)}
    app = make_app(tmp_path, overrides)
    orders = [place(app, f"c-{i}") for i in range(5)]
    app.close()  # the file store lets one process write at a time

    marker = tmp_path / "published"
    relay = subprocess.Popen([sys.executable, "-c", CRASHING_RELAY, str(marker)], env=orderhex_env(overrides),
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert relay.poll() is None, relay.stderr.read() if relay.stderr else ""
        assert time.monotonic() < deadline, "the relay never published"
        time.sleep(0.02)
    relay.send_signal(signal.SIGKILL)
    relay.wait(10)
    assert marker.read_text() == "5"

    survivor = make_app(tmp_path, overrides)
    assert survivor.storage.outbox.pending_count() == 5, "published but unmarked rows stay pending"
    survivor.close()
    again = subprocess.run([sys.executable, "-m", "bootstrap", "relay", "--until-empty"], check=False,
                           env=orderhex_env(overrides),
                           capture_output=True, text=True, timeout=90)
    assert again.returncode == 0, again.stderr

    checker = make_app(tmp_path, overrides)
    try:
        assert checker.storage.outbox.pending_count() == 0
        messages = read_topic(overrides["messaging.bootstrap_servers"], orders_topics(overrides).events, 10)
    finally:
        checker.close()
    assert len(messages) == 10, "each row published twice: once before the kill, once after"
    consumer = DedupingConsumer()
    for message in messages:
        consumer.handle(message)
    assert [e.aggregate_id for e in consumer.effects] == orders and consumer.duplicates == 5


def test_a_broker_stopped_and_restarted_mid_stream_loses_nothing_committed(tmp_path: Path) -> None:
    broker = start_tansu(tmp_path / "own-broker")
    overrides = {**kafka_overrides(broker), "messaging.delivery_timeout_ms": 2000}
    topic = orders_topics(overrides).events
    app = make_app(tmp_path, overrides)
    try:
        worker = bootstrap.start_relay(app)
        before = [place(app, f"before-{i}") for i in range(10)]
        seen_before = read_topic(broker.bootstrap_servers, topic, 10)
        assert [m.key for m in seen_before] == before

        broker.stop()
        during = [place(app, f"during-{i}") for i in range(10)]
        wait_until(lambda: worker.failing, 30)
        assert app.control.outbox_status().pending == 10, "nothing is marked while the broker is down"

        # Tansu keeps its log in memory: the restarted broker is empty, which is the harder case
        # (the relay must recreate the topic and a new producer session).
        broker.start()
        wait_until(lambda: app.control.outbox_status().pending == 0, 60)
        after = [place(app, f"after-{i}") for i in range(5)]
        seen_after = read_topic(broker.bootstrap_servers, topic, 15)
    finally:
        if app.relay is not None:
            app.relay.pause()
        app.close()
        broker.stop()
    delivered = {m.key for m in seen_before} | {m.key for m in seen_after}
    assert delivered == set(before) | set(during) | set(after)
    assert [m.key for m in seen_after if m.key in during] == during, "the backlog drains in commit order"


def wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_orderhex_relay_refuses_to_start_beside_another_on_a_file_store(
    tmp_path: Path, kafka_config: dict[str, Any]
) -> None:
    env = orderhex_env({**kafka_config, "data_dir": str(tmp_path), "storage.adapter": "file"})
    first = subprocess.Popen([sys.executable, "-m", "bootstrap", "relay"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        started(first)
        second = subprocess.run([sys.executable, "-m", "bootstrap", "relay"], check=False, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        [line] = second.stderr.strip().splitlines()
        assert "another relay" in line and f"pid {first.pid}" in line and "only one relay" in line
    finally:
        first.terminate()
        assert first.wait(30) == 0, "SIGTERM stops the relay cleanly"


@pytest.mark.skipif("sqlite" not in bootstrap.STORAGE_ADAPTERS, reason="needs the sqlite store")
def test_a_relay_killed_at_random_moments_under_load_loses_nothing(
    tmp_path: Path, kafka_config: dict[str, Any]
) -> None:
    overrides = {**kafka_config, "storage.adapter": "sqlite", "data_dir": str(tmp_path), "relay.batch_size": 5,
                 "relay.idle_ms": 5}
    app = make_app(tmp_path, overrides)
    rng = random.Random(4)
    placed: list[str] = []
    try:
        for round_ in range(3):
            relay = subprocess.Popen([sys.executable, "-m", "bootstrap", "relay"], env=orderhex_env(overrides),
                                     stderr=subprocess.PIPE, text=True)
            started(relay)
            kill_at = time.monotonic() + rng.uniform(0.1, 0.6)
            while time.monotonic() < kill_at:
                placed.append(place(app, f"r{round_}-{len(placed)}"))
            relay.send_signal(signal.SIGKILL)
            relay.wait(10)
    finally:
        app.close()
    again = subprocess.run([sys.executable, "-m", "bootstrap", "relay", "--until-empty"], check=False,
                           env=orderhex_env(overrides), capture_output=True, text=True, timeout=90)
    assert again.returncode == 0, again.stderr
    messages = read_topic(overrides["messaging.bootstrap_servers"], orders_topics(overrides).events, len(placed))
    assert {m.key for m in messages} == set(placed), "every committed order's event reached the broker"
    assert len({m.id for m in messages}) == len(placed), "copies share the event's id, so consumers drop them"


def test_a_relay_started_before_its_broker_waits_and_then_drains(tmp_path: Path) -> None:
    broker = TansuBroker(tmp_path / "late-broker")  # its port is chosen, nothing listens there yet
    overrides = {**kafka_overrides(broker), "messaging.delivery_timeout_ms": 1000}
    app = make_app(tmp_path, overrides)
    try:
        worker = bootstrap.start_relay(app)
        orders = [place(app, f"early-{i}") for i in range(3)]
        wait_until(lambda: worker.failing, 30)
        assert app.control.outbox_status().pending == 3
        broker.start()
        wait_until(lambda: app.control.outbox_status().pending == 0, 60)
        messages = read_topic(broker.bootstrap_servers, orders_topics(overrides).events, 3)
    finally:
        if app.relay is not None:
            app.relay.pause()
        app.close()
        broker.stop()
    assert [m.key for m in messages] == orders


def started(relay: subprocess.Popen[str]) -> None:
    """Wait for `orderhex relay` to say it runs (warnings may come first on stderr)."""
    assert relay.stderr is not None
    for _ in range(50):
        line = relay.stderr.readline()
        assert line, f"orderhex relay ended before it started (exit {relay.poll()})"
        if "relay publishing" in line:
            return
    raise AssertionError("orderhex relay never said it started")
