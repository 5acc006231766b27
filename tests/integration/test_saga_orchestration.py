"""The place-order saga, orchestrated, in one process: the memory broker, memory stores, the real
relay, consumers, saga runner and timer worker, and virtual time for deadlines."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.kernel.errors import SagaLocked
from core.orders.commands import CancelOrder, ShipOrder
from tests.integration.saga_harness import Shop, stepping_shop


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    built = stepping_shop(tmp_path, monkeypatch)
    built.stock("SKU-1", 10)
    built.account("c-1", "1000.00")
    try:
        yield built
    finally:
        built.close()


def test_all_steps_succeed_and_the_order_is_approved_with_everything_held(shop: Shop) -> None:
    order_id = shop.place("c-1", "SKU-1", 3)
    assert shop.order(order_id).saga.summary == "pending: waiting for inventory and payments"
    shop.pump()
    order = shop.order(order_id)
    assert order.status.value == "APPROVED"
    assert order.saga is not None and (order.saga.saga_id, order.saga.state) == (order_id, "completed")
    assert (shop.reserved("SKU-1"), shop.reservation(order_id)) == (3, "RESERVED")
    assert (shop.payment(order_id), shop.held("c-1")) == ("AUTHORIZED", Decimal("30.00"))
    assert shop.shipment(order_id) == "SCHEDULED"
    assert shop.saga(order_id).state == "completed"


def test_stock_short_voids_the_payment_and_rejects_the_order_with_the_reason(shop: Shop) -> None:
    order_id = shop.place("c-1", "SKU-1", 11)
    shop.pump()
    order = shop.order(order_id)
    assert order.status.value == "REJECTED"
    assert order.reason is not None and "stock short" in order.reason and "SKU-1" in order.reason
    assert (shop.payment(order_id), shop.held("c-1")) == ("VOIDED", Decimal("0"))
    assert shop.reserved("SKU-1") == 0
    assert shop.saga(order_id).state == "compensated"


def test_a_declined_payment_releases_the_stock_and_rejects_the_order(shop: Shop) -> None:
    shop.account("c-poor", "5.00")
    order_id = shop.place("c-poor", "SKU-1", 2)
    shop.pump()
    order = shop.order(order_id)
    assert order.status.value == "REJECTED" and "payment declined" in (order.reason or "")
    assert (shop.reservation(order_id), shop.reserved("SKU-1")) == ("RELEASED", 0)
    assert shop.saga(order_id).state == "compensated"


def test_a_participant_silent_past_its_deadline_is_compensated_and_its_late_success_undone(shop: Shop) -> None:
    order_id = shop.place("c-1", "SKU-1", 4)
    shop.pump(silent=["payments"])
    assert shop.reserved("SKU-1") == 4 and shop.order(order_id).status.value == "PENDING"
    for _ in range(10):  # three tries of 30 s each with 1 s and 2 s between them
        if shop.saga(order_id).state == "compensated":
            break
        shop.wait_past(timedelta(seconds=31), silent=["payments"])
    order = shop.order(order_id)
    assert order.status.value == "REJECTED" and "no reply from payments" in (order.reason or "")
    assert shop.reserved("SKU-1") == 0, "the reservation was given back while payments was down"
    sent = [e for e in shop.history(order_id) if e["kind"] == "sent" and e["step"] == "authorize-payment"]
    assert len(sent) == 3, "the authorization was asked three times before giving up"

    shop.pump()  # payments is back: it authorizes once, the saga voids that late success at once
    assert (shop.payment(order_id), shop.held("c-1")) == ("VOIDED", Decimal("0"))
    assert shop.reserved("SKU-1") == 0 and shop.order(order_id).status.value == "REJECTED"
    assert any(e["kind"] == "late_success" for e in shop.history(order_id))


def test_duplicate_replies_change_nothing(shop: Shop) -> None:
    order_id = shop.place("c-1", "SKU-1", 1)
    shop.pump()
    replies_topic = shop.app.saga_topics()[0]
    broker = shop.app.messaging
    replies = broker.broker.messages(replies_topic) if hasattr(broker, "broker") else []
    assert replies, "the participants replied on the saga's replies topic"
    before = (shop.saga(order_id), len(shop.history(order_id)))
    copies = [*replies, *(dataclasses.replace(m, id=m.id + ":again") for m in replies)]
    broker.publisher.publish(replies_topic, copies)
    shop.pump()
    after = shop.saga(order_id)
    assert (after.state, after.instance["steps"]) == (before[0].state, before[0].instance["steps"])
    added = shop.history(order_id)[before[1]:]
    assert len(added) == len(replies), "a copy under its own id is recorded once; the same id not at all"
    assert all(entry["kind"] == "ignored" for entry in added)
    assert (shop.reserved("SKU-1"), shop.held("c-1"), shop.order(order_id).status.value) == (1, Decimal("10.00"),
                                                                                            "APPROVED")


def test_cancel_and_ship_are_refused_while_the_saga_runs(shop: Shop) -> None:
    order_id = shop.place("c-1", "SKU-1", 1)
    with pytest.raises(SagaLocked, match=f"held by saga {order_id} \\(place-order, pending: waiting for"):
        shop.app.ordering.send(CancelOrder(order_id=order_id, reason="changed my mind"))
    with pytest.raises(SagaLocked, match="cannot ship until it ends"):
        shop.app.ordering.send(ShipOrder(order_id=order_id))
    shop.pump()
    shop.app.ordering.send(ShipOrder(order_id=order_id))
    assert shop.order(order_id).status.value == "SHIPPED"


@pytest.mark.parametrize("storage", ["sqlite", "file"])
def test_the_same_outcomes_on_durable_stores(storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    durable = stepping_shop(tmp_path, monkeypatch, storage=storage)
    try:
        durable.stock("SKU-1", 10)
        durable.account("c-1", "1000.00")
        approved, short = durable.place("c-1", "SKU-1", 3), durable.place("c-1", "SKU-1", 8)
        durable.pump()
        assert (durable.order(approved).status.value, durable.saga(approved).state) == ("APPROVED", "completed")
        assert (durable.order(short).status.value, durable.saga(short).state) == ("REJECTED", "compensated")
        assert (durable.reserved("SKU-1"), durable.held("c-1")) == (3, Decimal("30.00"))
        assert (durable.shipment(approved), durable.payment(short)) == ("SCHEDULED", "VOIDED")
    finally:
        durable.close()


def test_cancelling_an_approved_order_gives_back_shipment_payment_and_stock(shop: Shop) -> None:
    order_id = shop.place("c-1", "SKU-1", 2)
    shop.pump()
    shop.app.ordering.send(CancelOrder(order_id=order_id, reason="changed my mind"))
    order = shop.order(order_id)
    assert order.status.value == "CANCELLED"
    assert order.saga is not None and order.saga.definition == "cancel-order" and order.saga.state == "waiting"
    shop.pump()
    assert shop.order(order_id).saga.state == "completed"
    assert (shop.shipment(order_id), shop.payment(order_id), shop.reservation(order_id)) == (
        "CANCELLED", "VOIDED", "RELEASED")
    assert (shop.reserved("SKU-1"), shop.held("c-1")) == (0, Decimal("0"))
