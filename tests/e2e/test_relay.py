"""The outbox relay on the in-memory broker and local stores: ordering, marking, outages,
lag reports, purging, pause/resume and the one-relay rule."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.inbound.workers.relay_lock import RelayLock
from adapters.outbound.memory.messaging import MemoryMessaging
from core.kernel.envelope import Message
from core.kernel.errors import Unavailable
from core.kernel.feed import FeedKind
from core.orders.commands import CancelOrder
from core.orders.wire import place_order_from_json
from core.runtime.relay import OutboxRelay, RelayLoop, RelaySettings
from ports.messaging import Publisher

pytestmark = pytest.mark.manual

TOPIC = "orderhex.orders.events"


def make_app(tmp_path: Path, **overrides: Any) -> bootstrap.Application:
    config = bootstrap.load_config(env={}, overrides={"data_dir": str(tmp_path), "relay.report_ms": 10,
                                                      "relay.idle_ms": 10, "relay.max_backoff_ms": 50, **overrides})
    return bootstrap.Application(config)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[bootstrap.Application]:
    application = make_app(tmp_path)
    yield application
    if application.relay is not None:
        application.relay.pause()
    application.close()


def place(app: bootstrap.Application, customer: str = "c-1") -> str:
    body = {"customer_id": customer, "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
    return app.ordering.send(place_order_from_json(body)).order_id


def published(app: bootstrap.Application) -> list[Message]:
    messaging = app.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    return messaging.broker.messages(TOPIC)


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class DownPublisher:
    """A broker that does not answer: every publish fails like an unreachable Kafka."""

    def __init__(self) -> None:
        self.attempts = 0

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        self.attempts += 1
        raise Unavailable("Kafka at 127.0.0.1:9", "connection refused")

    def close(self) -> None:
        return None


def test_relay_publishes_committed_events_in_order_and_marks_them(app: bootstrap.Application) -> None:
    orders = [place(app, f"c-{i}") for i in range(5)]
    app.ordering.send(CancelOrder(order_id=orders[0], reason="no"))
    worker = bootstrap.relay_worker(app)
    assert worker.loop.step() == 0.0
    messages = published(app)
    assert [(m.key, m.type) for m in messages] == [(o, "orders.OrderPlaced") for o in orders] + [
        (orders[0], "orders.OrderCancelled")]
    assert all(m.headers["event_id"] == m.id and m.headers["type"] == m.type for m in messages)
    assert [m.headers["aggregate_version"] for m in messages if m.key == orders[0]] == ["1", "2"]
    assert app.storage.outbox.pending_count() == 0
    assert worker.loop.step() > 0, "an empty outbox makes the relay wait"


def test_relay_publishes_in_batches_of_the_configured_size(tmp_path: Path) -> None:
    app = make_app(tmp_path, **{"relay.batch_size": 2})
    for i in range(5):
        place(app, f"c-{i}")
    worker = bootstrap.relay_worker(app)
    # One round pipelines several batches (RelaySettings.window); each is claimed, sent and marked alone.
    assert [worker.loop.relay.publish_batch() for _ in range(2)] == [5, 0]
    assert [m.offset for m in published(app)] == [0, 1, 2, 3, 4]
    batches = [e.data for e in app.feed.recent() if e.kind == FeedKind.OUTBOX_PUBLISHED and "count" in e.data]
    assert [(b["count"], b["first_seq"], b["last_seq"]) for b in batches] == [(2, 1, 2), (2, 3, 4), (1, 5, 5)]


class SwappableBroker:
    """The part of the Messaging port the relay uses, with a publisher the test swaps."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def incarnation(self) -> str | None:
        return None


def test_relay_backs_off_while_the_broker_is_down_and_drains_the_backlog_after(app: bootstrap.Application) -> None:
    broker = SwappableBroker(DownPublisher())
    relay = OutboxRelay(storage=app.storage, messaging=broker,  # type: ignore[arg-type]
                        settings=RelaySettings(topic=TOPIC, backoff_initial=0.1, backoff_max=1.0),
                        feed=app.feed, now=app.clock.now)
    loop = RelayLoop(relay, time.monotonic)
    place(app)
    assert [loop.step() for _ in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    for i in range(3):
        place(app, f"late-{i}")
    assert app.storage.outbox.pending_count() == 4 and published(app) == []
    broker.publisher = app.messaging.publisher
    assert loop.step() == 0.0
    assert app.storage.outbox.pending_count() == 0 and len(published(app)) == 4
    [outage] = [e.text for e in app.feed.recent() if e.kind == FeedKind.ERROR]
    assert "outage" in outage and "127.0.0.1:9" in outage, "one report per outage, naming what is down"
    [resumed] = [e for e in app.feed.recent() if e.kind == FeedKind.RELAY_LAG and e.data["resumed"]]
    assert resumed.data["pending"] == 0, "reported after the first round that got through drained the backlog"


def test_relay_reports_backlog_and_lag_on_the_feed(app: bootstrap.Application) -> None:
    place(app)
    place(app)
    lag = bootstrap.relay_worker(app).loop.relay.report_lag()
    [event] = [e for e in app.feed.recent() if e.kind == FeedKind.RELAY_LAG]
    assert lag.pending == 2 and event.data["pending"] == 2
    assert event.data["lag_seconds"] is not None and event.data["lag_seconds"] >= 0


def test_published_rows_are_purged_after_the_retention(tmp_path: Path) -> None:
    app = make_app(tmp_path, **{"relay.retention_seconds": 0})
    place(app)
    relay = bootstrap.relay_worker(app).loop.relay
    relay.publish_batch()
    assert len(app.storage.outbox.recent(10)) == 1
    time.sleep(0.01)
    assert relay.purge() == 1 and app.storage.outbox.recent(10) == []


def test_rows_are_kept_within_the_retention(app: bootstrap.Application) -> None:
    place(app)
    relay = bootstrap.relay_worker(app).loop.relay
    relay.publish_batch()
    assert relay.purge() == 0 and len(app.storage.outbox.recent(10)) == 1


def test_the_background_relay_publishes_and_control_pauses_and_resumes_it(app: bootstrap.Application) -> None:
    bootstrap.start_relay(app)
    place(app)
    wait_for(lambda: len(published(app)) == 1)
    app.control.pause_relay()
    place(app)
    time.sleep(0.2)
    status = app.control.outbox_status()
    assert status.relay_running and status.relay_paused and status.pending == 1 and len(published(app)) == 1
    app.control.resume_relay()
    wait_for(lambda: len(published(app)) == 2)
    assert not app.control.outbox_status().relay_paused


def test_a_second_relay_on_a_file_store_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    first = make_app(tmp_path, **{"storage.adapter": "file"})
    second = make_app(tmp_path, **{"storage.adapter": "file"})
    worker = bootstrap.start_relay(first)
    try:
        with pytest.raises(Unavailable, match=r"another relay \(pid \d+\) already runs"):
            bootstrap.relay_worker(second).start()
    finally:
        worker.stop()
        first.close()
    again = bootstrap.relay_worker(second)
    again.start()
    again.stop()
    second.close()


def test_the_relay_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "relay-file.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from adapters.inbound.workers.relay_lock import RelayLock; "
         f"lock = RelayLock(Path({str(path)!r}), 'x'); lock.acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(Unavailable, match=f"pid {holder.pid}"):
            RelayLock(path, "x").acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = RelayLock(path, "x")
    lock.acquire()
    lock.release()


@pytest.mark.parametrize("command", ["relay", "consume"])
def test_the_worker_commands_refuse_the_in_memory_broker(tmp_path: Path, command: str) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")},
           "ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_MESSAGING__ADAPTER": "memory"}
    done = subprocess.run([sys.executable, "-m", "bootstrap", command], check=False, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "messaging.adapter: is memory" in line and "set it to kafka" in line


def test_an_idle_relay_reports_its_empty_backlog_once_then_stays_quiet(app: bootstrap.Application) -> None:
    seconds = iter(float(n) for n in range(100))  # each step one second later: every step is due a report
    loop = RelayLoop(bootstrap.relay_worker(app).loop.relay, lambda: next(seconds))

    def lag_reports() -> list[int]:
        return [e.data["pending"] for e in app.feed.recent() if e.kind == FeedKind.RELAY_LAG]

    for _ in range(5):
        loop.step()
    assert lag_reports() == [0]
    place(app)
    loop.step()  # reports the backlog of 1, then publishes it
    loop.step()  # reports the drained backlog once more
    for _ in range(5):
        loop.step()
    assert lag_reports() == [0, 1, 0]
