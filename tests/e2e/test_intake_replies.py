"""What the command intake tells a sender (the `reply_to` topic): a redelivered PlaceOrder names
the order its first delivery placed, and a dead-lettered one names the command type it said it
was. On the in-memory broker, per command and with group commit, over every local store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.inbound.kafka.wire import message_key, parse_command
from adapters.outbound.memory.messaging import MemoryMessaging
from core.kernel.envelope import Message
from core.orders.queries import GetOrder, ListOrders

STORES = [name for name in ("memory", "sqlite", "file") if name in bootstrap.STORAGE_ADAPTERS]
COMMANDS, DEAD, REPLIES = "orderhex.orders.commands", "orderhex.orders.commands.dlq", "replies"
PLACE: dict[str, Any] = {"type": "PlaceOrder", "customer_id": "c-r", "currency": "EUR",
                         "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["per-command", "group-commit"])
def app(request: pytest.FixtureRequest, store: str, tmp_path: Path) -> Iterator[bootstrap.Application]:
    application = bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "data_dir": str(tmp_path), "storage.adapter": store, "intake.group_commit": request.param}))
    yield application
    application.close()


def deliver(app: bootstrap.Application, *messages: tuple[str, bytes | dict[str, Any], dict[str, str]]) -> None:
    """Publish the messages as one poll's batch and let the intake handle it."""
    messaging = app.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    messaging.publisher.publish(COMMANDS, [
        Message(id=message_id, key=message_id, type="", headers={"reply_to": REPLIES, **headers},
                payload=body if isinstance(body, bytes) else json.dumps(body).encode())
        for message_id, body, headers in messages])
    intake = bootstrap.command_intake(app)
    assert intake.consume_batch(messaging.subscriber([COMMANDS], "intake")) == len(messages)


def replies(app: bootstrap.Application) -> list[dict[str, Any]]:
    messaging = app.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    return [json.loads(m.payload) for m in messaging.broker.messages(REPLIES)]


def orders(app: bootstrap.Application) -> list[str]:
    return [s.order_id for s in app.ordering.list(ListOrders(customer_id="c-r")).items]


def test_a_redelivered_place_order_reply_names_the_order_the_first_delivery_placed(
        app: bootstrap.Application) -> None:
    deliver(app, ("cmd-1", PLACE, {}))
    deliver(app, ("cmd-1", PLACE, {}))  # a redelivery: another poll, after the first committed
    first, second = replies(app)
    assert first["status"] == second["status"] == "accepted" and "duplicate" not in first
    assert second["duplicate"] is True and second["order_id"] == first["order_id"] is not None
    assert orders(app) == [first["order_id"]]


def test_a_message_twice_in_one_batch_places_one_order_and_both_replies_name_it(app: bootstrap.Application) -> None:
    deliver(app, ("cmd-2", PLACE, {}), ("cmd-2", PLACE, {}))
    first, second = replies(app)
    assert second["duplicate"] is True and second["order_id"] == first["order_id"] is not None
    assert orders(app) == [first["order_id"]]


def test_a_resend_under_the_same_message_id_with_another_body_has_no_second_effect(
        app: bootstrap.Application) -> None:
    deliver(app, ("cmd-3", PLACE, {}))
    deliver(app, ("cmd-3", {**PLACE, "lines": [{"sku": "SKU-2", "quantity": 1, "unit_price": "1.00"}]}, {}))
    first, second = replies(app)
    assert second == {**first, "duplicate": True}
    assert orders(app) == [first["order_id"]]


def test_a_keyless_place_order_is_keyed_by_its_message_id(app: bootstrap.Application) -> None:
    deliver(app, ("cmd-4", PLACE, {}))
    [reply] = replies(app)
    history = app.ordering.history(reply["order_id"])
    assert history[0].payload()["idempotency_key"] == message_key("cmd-4") == "message:cmd-4"


def test_the_senders_own_key_still_wins_and_names_the_first_order(app: bootstrap.Application) -> None:
    deliver(app, ("cmd-5", PLACE, {"idempotency_key": "k-5"}))
    deliver(app, ("cmd-6", PLACE, {"idempotency_key": "k-5"}))
    first, second = replies(app)
    assert second["duplicate"] is True and second["order_id"] == first["order_id"]


@pytest.mark.parametrize(("body", "headers", "command"), [
    ({**PLACE, "customer_id": ""}, {}, "PlaceOrder"),
    ({**PLACE, "type": "orders.PlaceOrder", "lines": []}, {}, "PlaceOrder"),
    ({k: v for k, v in PLACE.items() if k != "type"} | {"currency": "euro"}, {"type": "PlaceOrder"}, "PlaceOrder"),
    (b"{not json", {"type": "orders.PlaceOrder"}, "PlaceOrder"),
    ({"type": "CancelOrder", "order_id": "o-1"}, {}, "CancelOrder"),
    ({"type": "CancelOrder", "order_id": "no-such-order", "reason": "x"}, {}, "CancelOrder"),
    ({**PLACE, "type": "ShipOrder"}, {}, None),
    (b"[1, 2]", {}, None),
])
def test_a_dead_lettered_commands_reply_names_the_type_the_message_said(
        app: bootstrap.Application, body: bytes | dict[str, Any], headers: dict[str, str], command: str | None) -> None:
    deliver(app, ("bad-1", body, headers))
    [reply] = replies(app)
    assert reply["status"] == "rejected" and reply["command"] == command


def test_a_rejected_place_order_reply_names_every_bad_field(app: bootstrap.Application) -> None:
    body = {**PLACE, "customer_id": "", "lines": [{"sku": "SKU-1", "quantity": 0, "unit_price": "9.999"}]}
    deliver(app, ("bad-2", body, {}))
    [reply] = replies(app)
    assert reply["error"] == "InvalidFields" and reply["command"] == "PlaceOrder"
    for field in ("customer_id", "lines[0].quantity", "lines[0].unit_price"):
        assert f"{field}: " in reply["reason"]


def test_a_long_message_id_still_gives_a_valid_key() -> None:
    command = parse_command(json.dumps(PLACE).encode(), {}, message_id="t" * 500)
    assert command.idempotency_key is not None and len(command.idempotency_key) <= 200
    assert command.idempotency_key == message_key("t" * 500) != message_key("t" * 499)


def test_the_order_a_redelivery_names_is_readable(app: bootstrap.Application) -> None:
    deliver(app, ("cmd-7", PLACE, {}))
    deliver(app, ("cmd-7", PLACE, {}))
    _, second = replies(app)
    assert app.ordering.get(GetOrder(order_id=second["order_id"])).customer_id == "c-r"
