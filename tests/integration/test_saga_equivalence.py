"""Orchestration and choreography reach the same outcomes: the same scenarios in both modes, in one
process on the memory broker with the real relay, consumers and timer worker, and virtual time.

For each scenario the final state of every order, stock item, credit account, payment, reservation
and shipment must be identical in both modes; each mode's own record of the process (the saga, or
the tracked flow) must have ended the same way and told the same story in its timeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.kernel.errors import NotFound
from core.orders.commands import ApproveOrder, CancelOrder
from core.orders.queries import GetOrder
from tests.integration.saga_harness import Shop, stepping_shop

MODES = ("orchestration", "choreography")
SKUS = ("SKU-1", "SKU-2")
CUSTOMERS = ("c-1", "c-2")


@pytest.fixture
def shops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Shop]]:
    built: list[Shop] = []

    def make(mode: str) -> Shop:
        shop = stepping_shop(tmp_path / mode, monkeypatch, mode=mode)
        built.append(shop)
        shop.stock("SKU-1", 10)
        shop.stock("SKU-2", 3)
        shop.account("c-1", "1000.00")
        shop.account("c-2", "25.00")
        return shop

    yield make
    for shop in built:
        shop.close()


def outcome(shop: Shop, order_ids: list[str]) -> dict[str, Any]:
    """Everything a customer, a warehouse and an accountant would look at."""

    def maybe(read: Callable[[str], str], order_id: str) -> str | None:
        try:
            return read(order_id)
        except NotFound:
            return None

    return {
        "orders": [shop.order(order_id).status.value for order_id in order_ids],
        "reservations": [maybe(shop.reservation, order_id) for order_id in order_ids],
        "payments": [maybe(shop.payment, order_id) for order_id in order_ids],
        "shipments": [maybe(shop.shipment, order_id) for order_id in order_ids],
        "reserved": {sku: shop.reserved(sku) for sku in SKUS},
        "held": {customer: str(shop.held(customer)) for customer in CUSTOMERS},
    }


def ended(shop: Shop, order_ids: list[str]) -> list[str]:
    return [shop.saga(order_id).state for order_id in order_ids]


def all_succeed(shop: Shop) -> list[str]:
    orders = [shop.place("c-1", "SKU-1", 2), shop.place("c-1", "SKU-2", 1)]
    shop.pump()
    return orders


def stock_short(shop: Shop) -> list[str]:
    orders = [shop.place("c-1", "SKU-2", 5)]
    shop.pump()
    return orders


def payment_declined(shop: Shop) -> list[str]:
    orders = [shop.place("c-2", "SKU-1", 3)]  # 30.00 against a limit of 25.00
    shop.pump()
    return orders


def participant_silent_past_its_deadline(shop: Shop) -> list[str]:
    orders = [shop.place("c-1", "SKU-1", 4)]
    shop.pump(silent=["payments"])
    for _ in range(10):
        if shop.saga(orders[0]).state == "compensated":
            break
        shop.wait_past(timedelta(seconds=31), silent=["payments"])
    assert shop.saga(orders[0]).state == "compensated", "given up on payments while it was down"
    assert shop.reserved("SKU-1") == 0, "the reservation was given back while payments was down"
    shop.pump()  # payments is back: what it authorizes now is undone
    return orders


def answers_reordered(shop: Shop) -> list[str]:
    orders = [shop.place("c-1", "SKU-1", 1), shop.place("c-2", "SKU-2", 9)]
    shop.pump(silent=["inventory"])  # payments answers first, inventory after it
    shop.pump()
    return orders


def answers_duplicated(shop: Shop) -> list[str]:
    orders = [shop.place("c-1", "SKU-1", 2), shop.place("c-2", "SKU-2", 4)]
    shop.pump()
    answers = [shop.app.saga_topics()[0], *(shop.app.topics(name).events for name in ("inventory", "payments",
                                                                                      "shipping"))]
    broker = shop.app.messaging
    for topic in answers:
        seen = broker.broker.messages(topic)
        # The same message again (a redelivery) and a copy under a new id (a producer's retry).
        broker.publisher.publish(topic, [*seen, *(dataclasses.replace(m, id=f"{m.id}:again") for m in seen)])
    shop.pump()
    return orders


SCENARIOS = [all_succeed, stock_short, payment_declined, participant_silent_past_its_deadline, answers_reordered,
             answers_duplicated]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_both_modes_reach_the_same_outcome(shops: Callable[[str], Shop], scenario: Callable[[Shop], list[str]]
                                           ) -> None:
    results = {}
    for mode in MODES:
        shop = shops(mode)
        orders = scenario(shop)
        results[mode] = (outcome(shop, orders), ended(shop, orders))
        statuses = {shop.order(o).status.value for o in orders}
        assert statuses <= {"APPROVED", "REJECTED"}, f"{mode}: every order decided, got {statuses}"
    assert results["orchestration"] == results["choreography"]
    assert set(results["choreography"][1]) <= {"completed", "compensated"}


def test_a_choreographed_flow_has_a_timeline_like_a_sagas(shops: Callable[[str], Shop]) -> None:
    shop = shops("choreography")
    approved, rejected = shop.place("c-1", "SKU-1", 1), shop.place("c-1", "SKU-2", 7)
    shop.pump()
    flow = shop.saga(approved)
    assert (flow.definition, flow.instance["mode"], flow.state) == ("place-order", "choreography", "completed")
    kinds = [(entry["kind"], entry["step"]) for entry in shop.history(approved)]
    assert kinds[0] == ("started", None) and kinds[-1] == ("completed", None)
    assert {("replied", "reserve-stock"), ("replied", "authorize-payment"), ("sent", "approve-order"),
            ("replied", "schedule-shipment")} <= set(kinds)
    events = {entry["data"].get("event") for entry in shop.history(approved)}
    assert {"inventory.StockReserved", "payments.PaymentAuthorized", "shipping.ShipmentScheduled"} <= events
    assert all(entry["data"]["message_id"] for entry in shop.history(approved) if entry["kind"] == "replied")

    undone = [(entry["kind"], entry["step"]) for entry in shop.history(rejected)]
    assert ("failed", "reserve-stock") in undone and ("replied", "authorize-payment") in undone
    assert ("replied", "authorize-payment") in undone and undone[-1] == ("compensated", None)
    order = shop.app.ordering.get(GetOrder(order_id=rejected))
    assert order.status.value == "REJECTED" and order.reason == (
        "reserve-stock failed: stock short: SKU-2: wanted 7, available 3")
    assert order.saga is not None and order.saga.summary.startswith("compensated: reserve-stock failed")


def test_the_sweeper_rejects_a_flow_with_no_word_past_its_patience_and_counts_stale_timers(
        shops: Callable[[str], Shop]) -> None:
    shop = shops("choreography")
    order_id = shop.place("c-1", "SKU-1", 2)
    shop.pump(silent=["inventory", "payments"])
    assert shop.saga(order_id).instance["steps"][0]["status"] == "in_flight"
    assert shop.order(order_id).status.value == "PENDING"
    shop.wait_past(timedelta(seconds=89), silent=["inventory", "payments"])
    assert shop.order(order_id).status.value == "PENDING", "patience is three 30 s deadlines"
    shop.wait_past(timedelta(seconds=2), silent=["inventory", "payments"])
    order = shop.order(order_id)
    assert order.status.value == "REJECTED" and "no word from" in (order.reason or "")
    deadlines = [entry for entry in shop.history(order_id) if entry["kind"] == "deadline"]
    assert deadlines, "the sweeper's verdict is in the timeline"
    shop.pump()  # both come back: each holds, then gives back on the rejection
    assert (shop.reserved("SKU-1"), str(shop.held("c-1"))) == (0, "0.00")
    assert shop.saga(order_id).state == "compensated"


def test_a_person_deciding_a_pending_order_by_hand_ends_or_moves_its_flow(shops: Callable[[str], Shop]) -> None:
    """Choreography has no semantic lock: a person may cancel or approve a pending order, and the
    flow follows instead of waiting for a pivot that will not come."""
    shop = shops("choreography")
    cancelled, approved = shop.place("c-1", "SKU-1", 2), shop.place("c-1", "SKU-1", 1)
    shop.pump(silent=["inventory", "payments", "shipping"])
    shop.app.ordering.send(CancelOrder(order_id=cancelled, reason="changed my mind"))
    shop.app.ordering.send(ApproveOrder(order_id=approved))
    shop.pump()
    assert shop.saga(cancelled).state == "compensated"
    assert shop.saga(approved).state == "completed"
    assert (shop.order(cancelled).status.value, shop.order(approved).status.value) == ("CANCELLED", "APPROVED")
    assert (shop.reserved("SKU-1"), str(shop.held("c-1"))) == (1, "10.00"), "only the approved order holds"
    assert shop.shipment(approved) == "SCHEDULED"
    kinds = [entry["kind"] for entry in shop.history(cancelled)]
    assert "operator" in kinds and kinds[-1] == "compensated"


def test_cancelling_an_approved_order_before_its_shipment_ends_its_flow(shops: Callable[[str], Shop]) -> None:
    """Choreography: the flow was waiting for shipping when a person cancelled; the shipment scheduled
    meanwhile has nothing to undo in the flow (shipping cancels it on the cancellation)."""
    shop = shops("choreography")
    order_id = shop.place("c-1", "SKU-1", 2)
    shop.pump(silent=["shipping"])
    assert shop.order(order_id).status.value == "APPROVED" and shop.saga(order_id).state == "waiting"
    shop.app.ordering.send(CancelOrder(order_id=order_id, reason="changed my mind"))
    shop.pump()
    assert shop.saga(order_id).state == "compensated"
    assert (shop.reserved("SKU-1"), str(shop.held("c-1")), shop.shipment(order_id)) == (0, "0.00", "CANCELLED")
