"""The orders context's sagas as data: placing an order, and cancelling an approved one.

Place order:  reserve stock || authorize payment (join all) -> approve (pivot) -> schedule shipment;
              on a failure before the pivot: release stock, void payment, then reject with the reason.
Cancel order: cancel the shipment, void the payment, release the stock (forward only).

A saga's data is the order as JSON (`place_order_data`); each payload builder reads it into the
participant's wire format (core/<context>/wire.py), so a command sent by the saga reads exactly as
one sent by a person through the CLI or the REST API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core.inventory.commands import ReleaseStock, ReserveStock
from core.inventory.events import StockReleased, StockReservationFailed, StockReserved
from core.kernel.fields import MAX_TEXT_LENGTH
from core.kernel.messages import DomainEvent
from core.kernel.money import format_amount
from core.orders.commands import ApproveOrder, RejectOrder
from core.orders.model import Order
from core.payments.commands import AuthorizePayment, VoidPayment
from core.payments.events import PaymentAuthorized, PaymentDeclined, PaymentVoided
from core.runtime.saga import Branch, OnFailure, RetryPolicy, SagaDefinition, Step
from core.runtime.saga.tracking import Observed
from core.shipping.commands import CancelShipment, ScheduleShipment
from core.shipping.events import ShipmentScheduled

# Reserving and authorizing are answered in milliseconds when their service is up; 30 s covers a
# restart of that service (a few seconds) and a Kafka consumer-group rejoin (about 3 s with the
# short session settings) with room to spare, yet rejects an order whose participant is down
# before its customer gives up waiting.
ANSWER_DEADLINE = timedelta(seconds=30)
# Scheduling a shipment may wait for a carrier slot: a longer deadline avoids retrying a try that
# is merely slow.
SHIPMENT_DEADLINE = timedelta(minutes=2)

# A missed deadline is most often a lost message (the embedded broker keeps nothing on disk), and
# asking again is safe: a participant holds at most one reservation or authorization per order and
# its inbox drops a redelivered command. A refusal (stock short, payment declined) is not asked
# again: the same question gets the same answer and only delays the rejection.
BEFORE_PIVOT_RETRY = RetryPolicy(max_attempts=3, backoff_initial=timedelta(seconds=1),
                                 backoff_max=timedelta(seconds=10), retry_failures=False)
# The pivot and the steps after it only go forward. The order is locked by its saga, so approving
# can be delayed but not refused; a shipment that cannot be scheduled now can be later.
FORWARD_RETRY = RetryPolicy(max_attempts=None, backoff_initial=timedelta(seconds=1),
                            backoff_max=timedelta(minutes=5))
# Releasing and voiding change nothing when nothing is held, so they are tried often; after ten
# failures (about eight minutes with this backoff) the saga is stuck and a person should look.
UNDO_RETRY = RetryPolicy(max_attempts=10, backoff_initial=timedelta(seconds=1), backoff_max=timedelta(minutes=1))


def place_saga_id(order_id: str) -> str:
    """The place-order saga of an order has the order's id: one per order, found without a lookup."""
    return order_id


def cancel_saga_id(order_id: str) -> str:
    return f"{order_id}-cancel"


def place_order_data(order: Order) -> dict[str, Any]:
    """The place-order saga's data: the order as JSON, amounts as decimal strings."""
    return {
        "order_id": order.id, "customer_id": order.customer_id, "currency": order.currency,
        "lines": [{"sku": line.sku, "quantity": line.quantity,
                   "unit_price": format_amount(line.unit_price.amount, order.currency)} for line in order.lines],
        "total": format_amount(order.total.amount, order.currency),
    }


def _order(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"order_id": data["order_id"]}


def _reserve_stock(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"order_id": data["order_id"],
            "lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in data["lines"]]}


def _authorize_payment(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"order_id": data["order_id"], "customer_id": data["customer_id"], "amount": data["total"],
            "currency": data["currency"]}


def _schedule_shipment(data: Mapping[str, Any]) -> dict[str, Any]:
    payload = {"order_id": data["order_id"], "customer_id": data["customer_id"]}
    if data.get("address"):
        payload["address"] = data["address"]
    return payload


def _reject_order(data: Mapping[str, Any], reason: str) -> dict[str, Any]:
    # A composed reason ("reserve-stock failed: ...shortages...") may be longer than an order's
    # reason may be; cut, or RejectOrder would be refused and the order stay pending.
    return {"order_id": data["order_id"], "reason": _cut(reason)}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT_LENGTH else text[:MAX_TEXT_LENGTH - 3] + "..."


def _cancel_shipment(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"order_id": data["order_id"], "reason": _cut(data.get("reason") or "order cancelled")}


def place_order_saga(answer_deadline: timedelta = ANSWER_DEADLINE) -> SagaDefinition:
    """The place-order saga; `answer_deadline` bounds reserving, authorizing and approving."""
    return SagaDefinition(
        name="place-order",
        steps=(
            Branch((
                Step(name="reserve-stock", participant="inventory", command=ReserveStock.type_name,
                     payload=_reserve_stock, compensation=ReleaseStock.type_name, compensation_payload=_order,
                     deadline=answer_deadline, retry=BEFORE_PIVOT_RETRY, compensation_retry=UNDO_RETRY),
                Step(name="authorize-payment", participant="payments", command=AuthorizePayment.type_name,
                     payload=_authorize_payment, compensation=VoidPayment.type_name, compensation_payload=_order,
                     deadline=answer_deadline, retry=BEFORE_PIVOT_RETRY, compensation_retry=UNDO_RETRY),
            )),
            Step(name="approve-order", participant="orders", command=ApproveOrder.type_name, payload=_order,
                 deadline=answer_deadline, retry=FORWARD_RETRY),
            Step(name="schedule-shipment", participant="shipping", command=ScheduleShipment.type_name,
                 payload=_schedule_shipment, deadline=SHIPMENT_DEADLINE, retry=FORWARD_RETRY),
        ),
        pivot="approve-order",
        on_failure=OnFailure(participant="orders", command=RejectOrder.type_name, payload=_reject_order),
    )


PLACE_ORDER = place_order_saga()

# For an approved order being cancelled; its data is `place_order_data(order)` plus the
# cancellation's "reason". There is no way back: each step gives back what the order held (in
# the reverse order of placing it) and is retried until it succeeds.
def cancel_order_saga(answer_deadline: timedelta = ANSWER_DEADLINE) -> SagaDefinition:
    return SagaDefinition(
        name="cancel-order",
        steps=(
            Step(name="cancel-shipment", participant="shipping", command=CancelShipment.type_name,
                 payload=_cancel_shipment, deadline=SHIPMENT_DEADLINE, retry=FORWARD_RETRY),
            Step(name="void-payment", participant="payments", command=VoidPayment.type_name, payload=_order,
                 deadline=answer_deadline, retry=FORWARD_RETRY),
            Step(name="release-stock", participant="inventory", command=ReleaseStock.type_name, payload=_order,
                 deadline=answer_deadline, retry=FORWARD_RETRY),
        ),
        pivot=None,
    )


CANCEL_ORDER = cancel_order_saga()
DEFINITIONS: dict[str, SagaDefinition] = {saga.name: saga for saga in (PLACE_ORDER, CANCEL_ORDER)}


def definitions(answer_deadline: timedelta = ANSWER_DEADLINE) -> dict[str, SagaDefinition]:
    """The orders sagas by name, with `answer_deadline` (the `saga.answer_deadline_ms` setting:
    tests and demos that stop a participant shorten it)."""
    if answer_deadline == ANSWER_DEADLINE:
        return DEFINITIONS
    return {saga.name: saga for saga in (place_order_saga(answer_deadline), cancel_order_saga(answer_deadline))}


# Choreography: what each participant's event says about a step of placing an order. Each event's
# aggregate is keyed by the order's id (a reservation, a payment, a shipment per order), so the
# order's id is the flow's correlation id. Reasons read as the orchestrated saga's replies do.
TRACKED_EVENTS: tuple[type[DomainEvent], ...] = (
    StockReserved, StockReservationFailed, StockReleased, PaymentAuthorized, PaymentDeclined, PaymentVoided,
    ShipmentScheduled)


def observed(event: DomainEvent, message_id: str) -> Observed | None:
    """What `event` (delivered as `message_id`) says about the place-order flow of its order."""
    seen = {"message_id": message_id, "event": event.type_name}
    match event:
        case StockReserved():
            return Observed(step="reserve-stock", ok=True, **seen)
        case StockReservationFailed(shortages=shortages):
            return Observed(step="reserve-stock", ok=False, reason=_cut(
                "stock short: " + ("; ".join(str(s) for s in shortages) or "not enough stock")), **seen)
        case StockReleased():
            return Observed(step="reserve-stock", ok=True, compensation=True, **seen)
        case PaymentAuthorized():
            return Observed(step="authorize-payment", ok=True, **seen)
        case PaymentDeclined(reason=reason):
            return Observed(step="authorize-payment", ok=False, reason=_cut(f"payment declined: {reason}"), **seen)
        case PaymentVoided():
            return Observed(step="authorize-payment", ok=True, compensation=True, **seen)
        case ShipmentScheduled():
            return Observed(step="schedule-shipment", ok=True, **seen)
    return None
