"""Group commit in the command intake: a polled batch in one transaction, with the same outcomes
per command as one transaction each. Runs on the in-memory broker over every local store."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.inbound.kafka.intake import CommandIntake, IntakeSettings
from adapters.outbound.memory.messaging import MemoryMessaging
from core.kernel.envelope import Message
from core.kernel.feed import FeedKind
from core.orders.events import OrderPlaced
from core.orders.queries import ListOrders
from core.orders.service import CONTEXT as ORDERS
from core.orders.service import OrderingService
from core.runtime.service import Service

STORES = [name for name in ("memory", "sqlite", "file") if name in bootstrap.STORAGE_ADAPTERS]
COMMANDS, DEAD, REPLIES = "orderhex.orders.commands", "orderhex.orders.commands.dlq", "replies"


def place(customer: str, **extra: Any) -> dict[str, Any]:
    return {"type": "PlaceOrder", "customer_id": customer, "lines": [{"sku": "S", "quantity": 1,
                                                                      "unit_price": "1.00"}], **extra}


@pytest.fixture(params=[True, False], ids=["group-commit", "per-command"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[bootstrap.Application]:
    store = request.node.callspec.params["store"]
    application = bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "data_dir": str(tmp_path), "storage.adapter": store, "intake.group_commit": request.param}))
    yield application
    application.close()


def run_batch(app: bootstrap.Application, bodies: list[tuple[str, bytes | dict[str, Any]]]) -> dict[str, Any]:
    messaging = app.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    messaging.publisher.publish(COMMANDS, [
        Message(id=message_id, key=message_id, type="",
                payload=body if isinstance(body, bytes) else json.dumps(body).encode(),
                headers={"reply_to": REPLIES})
        for message_id, body in bodies])
    intake = bootstrap.command_intake(app)
    subscriber = messaging.subscriber([COMMANDS], "intake")
    assert intake.consume_batch(subscriber) == len(bodies), "one poll takes the whole batch"
    replies = {json.loads(m.payload)["message_id"]: json.loads(m.payload) for m in messaging.broker.messages(REPLIES)}
    return {"replies": replies, "dead": [m.id for m in messaging.broker.messages(DEAD)], "counts": intake.counts}


def customers(app: bootstrap.Application) -> list[str]:
    return sorted(s.customer_id for s in app.ordering.list(ListOrders(limit=100)).items)


@pytest.mark.parametrize("store", STORES)
def test_a_batch_with_bad_commands_rejects_only_those(app: bootstrap.Application, store: str) -> None:
    result = run_batch(app, [
        ("m1", place("a")), ("m2", b"not json"), ("m3", place("b")),
        ("m4", {"type": "CancelOrder", "order_id": "missing", "reason": "x"}), ("m1", place("a")),
        ("m5", place("c", lines=[])),
    ])
    assert customers(app) == ["a", "b"]
    assert sorted(result["dead"]) == ["m2", "m4", "m5"]
    statuses = {k: v["status"] for k, v in result["replies"].items()}
    assert statuses == {"m1": "accepted", "m2": "rejected", "m3": "accepted", "m4": "rejected", "m5": "rejected"}
    assert (result["counts"].accepted, result["counts"].duplicates, result["counts"].rejected) == (2, 1, 3)


@pytest.mark.parametrize("store", STORES)
def test_a_batch_that_cannot_commit_falls_back_to_one_transaction_per_command(
    app: bootstrap.Application, store: str
) -> None:
    # Two new orders under one idempotency key: only one may exist, so one batch transaction
    # cannot hold both; command by command, the second one finds the first.
    result = run_batch(app, [("k1", place("a", idempotency_key="same")), ("k2", place("a", idempotency_key="same")),
                             ("k3", place("b"))])
    assert customers(app) == ["a", "b"]
    replies = result["replies"]
    assert replies["k1"]["order_id"] == replies["k2"]["order_id"] and replies["k2"]["duplicate"] is True


@pytest.mark.parametrize("store", STORES)
def test_a_batch_replayed_after_its_commit_has_no_second_effect(app: bootstrap.Application, store: str) -> None:
    run_batch(app, [("r1", place("a")), ("r2", place("b"))])
    again = run_batch(app, [("r1", place("a")), ("r2", place("b"))])
    assert customers(app) == ["a", "b"]
    assert again["counts"].duplicates == 2 and again["counts"].accepted == 0


class BuggyOrdering:
    """The real Ordering, except that one customer's orders hit a bug (an error the domain never raises)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.attempts = 0

    def send(self, command: Any, message_id: str | None = None) -> Any:
        if getattr(command, "customer_id", None) == "boom":
            self.attempts += 1
            raise KeyError("a bug")
        return self.inner.send(command, message_id=message_id)


def test_a_command_that_keeps_failing_unexpectedly_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={"data_dir": str(tmp_path)}))
    messaging = app.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    messaging.publisher.publish(COMMANDS, [
        Message(id=i, key=i, type="", payload=json.dumps(place(c)).encode()) for i, c in (("b", "boom"), ("g", "a"))])
    ordering = BuggyOrdering(app.ordering)
    intake = CommandIntake(messaging=messaging, ordering=ordering, feed=app.feed, now=app.clock.now,
                           settings=IntakeSettings(topic=COMMANDS, dead_letter_topic=DEAD, group="g", poll_timeout=0.05,
                                                   backoff_initial=0.01, backoff_max=0.01))
    stop = threading.Event()
    runner = threading.Thread(target=intake.run, args=(stop,))
    runner.start()
    deadline = time.monotonic() + 10
    while intake.counts.accepted < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    runner.join(10)
    assert ordering.attempts == 3 and (intake.counts.rejected, intake.counts.accepted) == (1, 1)
    [dead] = messaging.broker.messages(DEAD)
    assert dead.id == "b" and "KeyError" in dead.headers["error"]
    assert customers(app) == ["a"]


@pytest.mark.parametrize("store", STORES)
def test_the_batch_events_reach_the_feed(app: bootstrap.Application, store: str) -> None:
    run_batch(app, [("f1", place("a")), ("f2", place("b"))])
    placed = [e for e in app.feed.recent()
              if e.kind == FeedKind.DOMAIN_EVENT and e.data["type"] == "orders.OrderPlaced"]
    assert len(placed) == 2


@pytest.mark.parametrize("store", STORES)
def test_event_handlers_run_for_every_command_of_a_group_committed_batch(tmp_path: Path, store: str) -> None:
    """Group commit goes through the bus: a reaction registered for OrderPlaced sees each order."""
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "data_dir": str(tmp_path), "storage.adapter": store, "intake.group_commit": True}))
    seen: list[str] = []
    context = dataclasses.replace(ORDERS, event_handlers={OrderPlaced: [
        lambda event, uow, now, new_id: seen.append(event.customer_id)]})
    service = Service(context, storage=app.storage, feed=app.feed, clock=app.clock, ids=app.ids,
                      events_topic="orderhex.orders.events")
    messaging = app.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    messaging.publisher.publish(COMMANDS, [Message(id=f"m{n}", key=f"m{n}", type="",
                                                   payload=json.dumps(place(f"c{n}")).encode()) for n in range(3)])
    intake = CommandIntake(messaging=messaging, ordering=OrderingService(service), feed=app.feed, now=app.clock.now,
                           settings=IntakeSettings(topic=COMMANDS, dead_letter_topic=DEAD, group="g"),
                           group_commit=service.group_commit())
    try:
        assert intake.consume_batch(messaging.subscriber([COMMANDS], "g")) == 3
        assert intake.counts.accepted == 3 and sorted(seen) == ["c0", "c1", "c2"]
    finally:
        app.close()
