"""A context's consumer on the in-memory broker: commands by its wire format, reactions to another
context's events once per message, dead letters with reasons, replies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from adapters.inbound.kafka.consumer import ConsumerSettings, ContextConsumer
from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.messaging import MemoryMessaging
from adapters.outbound.memory.storage import MemoryStorage
from core.inventory.commands import Restock
from core.inventory.queries import GetStock
from core.inventory.service import CONTEXT, InventoryService
from core.kernel.envelope import Message, OutboxRecord
from core.orders.events import OrderPlaced, PlacedLine
from core.runtime.service import Service

COMMANDS, EVENTS, DEAD = "orderhex.inventory.commands", "orderhex.orders.events", "orderhex.inventory.commands.dlq"


def setup() -> tuple[ContextConsumer, InventoryService, MemoryMessaging]:
    messaging = MemoryMessaging()
    service = Service(CONTEXT, storage=MemoryStorage(), feed=RingBufferFeed(100), clock=SteppingClock(),
                      ids=SequentialIds("i"), events_topic="orderhex.inventory.events")
    consumer = ContextConsumer(service=service, messaging=messaging, settings=ConsumerSettings(
        commands_topic=COMMANDS, event_topics=(EVENTS,), dead_letter_topic=DEAD, group="inventory"))
    return consumer, InventoryService(service), messaging


def command(message_id: str, body: dict | bytes, reply: bool = True) -> Message:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Message(id=message_id, key=message_id, type="", payload=payload,
                   headers={"reply_to": "replies"} if reply else {})


def drain(consumer: ContextConsumer, messaging: MemoryMessaging) -> None:
    subscriber = messaging.subscriber(consumer.settings.topics, "inventory")
    while consumer.consume_batch(subscriber):
        pass


def replies(messaging: MemoryMessaging) -> dict[str, dict]:
    return {json.loads(m.payload)["message_id"]: json.loads(m.payload) for m in messaging.broker.messages("replies")}


def test_commands_take_effect_once_and_the_sender_hears_the_outcome() -> None:
    consumer, inventory, messaging = setup()
    restock = {"type": "Restock", "sku": "A", "quantity": 5}
    messaging.publisher.publish(COMMANDS, [command("m-1", restock), command("m-1", restock),
                                           command("m-2", {"type": "inventory.ReserveStock", "order_id": "o-1",
                                                           "lines": [{"sku": "A", "quantity": 2}]})])
    drain(consumer, messaging)
    assert inventory.stock(GetStock(sku="A")).available == 3
    answers = replies(messaging)
    assert answers["m-1"]["duplicate"] is True
    assert answers["m-2"]["result"] == {"order_id": "o-1", "reserved": True, "shortages": []}
    assert (consumer.counts.accepted, consumer.counts.duplicates) == (2, 1)


def test_bad_commands_are_dead_lettered_with_the_reason_and_consumption_goes_on() -> None:
    consumer, inventory, messaging = setup()
    messaging.publisher.publish(COMMANDS, [
        command("bad-json", b"{nope"), command("bad-type", {"type": "Steal", "sku": "A"}),
        command("bad-fields", {"type": "Restock", "sku": "", "quantity": 0}),
        command("good", {"type": "Restock", "sku": "A", "quantity": 1})])
    drain(consumer, messaging)
    dead = {m.id: m.headers["error"] for m in messaging.broker.messages(DEAD)}
    assert set(dead) == {"bad-json", "bad-type", "bad-fields"}
    assert "not a JSON document" in dead["bad-json"] and "Restock" in dead["bad-type"]
    assert "sku" in dead["bad-fields"] and "quantity" in dead["bad-fields"]
    answers = replies(messaging)
    assert answers["bad-fields"]["status"] == "rejected" and answers["bad-fields"]["command"] == "Restock"
    assert answers["bad-json"]["command"] is None
    assert inventory.stock(GetStock(sku="A")).available == 1


def test_another_contexts_event_is_reacted_to_once_and_unknown_ones_are_ignored_or_dead_lettered() -> None:
    consumer, inventory, messaging = setup()
    inventory.send(Restock(sku="A", quantity=4))
    placed = OrderPlaced(event_id="e-1", aggregate_id="o-1", aggregate_version=1,
                         occurred_at=datetime(2026, 1, 1, tzinfo=UTC), customer_id="c", currency="EUR",
                         lines=(PlacedLine("A", 3, Decimal("1.00")),))
    as_message = OutboxRecord.from_event(placed, EVENTS).to_message()
    approved = {"type": "orders.OrderApproved", "event_id": "e-2", "aggregate_id": "o-1", "aggregate_version": 2,
                "occurred_at": "2026-01-01T00:00:00+00:00", "payload": {}}
    messaging.publisher.publish(EVENTS, [as_message, as_message, Message(
        id="e-2", key="o-1", type="", payload=json.dumps(approved).encode()), Message(
        id="e-3", key="o-1", type="", payload=b'{"type": "orders.Unheard", "payload": {}}')])
    drain(consumer, messaging)
    assert inventory.stock(GetStock(sku="A")).reserved == 3
    assert (consumer.counts.reacted, consumer.counts.duplicates, consumer.counts.ignored) == (1, 1, 1)
    assert [m.id for m in messaging.broker.messages(DEAD)] == ["e-3"]
