"""Use cases of the orders context. Each handler is a verb taking its message first, then the
unit of work, then its typed dependencies (bound once when the service is built).

In orchestration mode (`saga_runner` given) placing an order starts the place-order saga in the
same unit of work, cancelling an approved one starts the cancel-order saga, and while either
saga runs the order is locked against cancelling and shipping (SagaLocked): the saga decides.

In choreography (`flow_tracker` given) placing an order starts tracking its flow in the same unit
of work, and orders reacts to the participants' events (`track_place_order`): it approves once
stock is reserved and payment authorized, and rejects when either fails or stays silent past its
patience; inventory and payments undo what they hold when they see the rejection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.kernel.errors import IdempotencyConflict, NotFound, SagaLocked
from core.kernel.messages import DomainEvent
from core.kernel.money import Money
from core.orders.commands import ApproveOrder, CancelOrder, PlaceOrder, PlaceResult, RejectOrder, ShipOrder
from core.orders.model import ORDER, Order, OrderLine, OrderStatus, merge_lines
from core.orders.sagas import (
    CANCEL_ORDER,
    PLACE_ORDER,
    TRACKED_EVENTS,
    cancel_saga_id,
    observed,
    place_order_data,
    place_saga_id,
)
from core.runtime.flows import Decided, FlowTracker
from core.runtime.saga import Decision, SagaInstance, SendCommand
from core.runtime.sagas import SagaRunner, is_running
from ports.storage import UnitOfWork

Now = Callable[[], datetime]
NewId = Callable[[], str]


def place_order(command: PlaceOrder, uow: UnitOfWork, now: Now, new_id: NewId,
                *, saga_runner: SagaRunner | None = None, flow_tracker: FlowTracker | None = None) -> PlaceResult:
    lines = merge_lines(
        (OrderLine(ln.sku, ln.quantity, Money(ln.unit_price, command.currency)) for ln in command.lines),
        command.currency,
    )
    with uow:
        orders = uow.repository(ORDER)
        if command.idempotency_key is not None:
            existing = orders.get_by_idempotency_key(command.idempotency_key)
            if existing is not None:
                if not existing.same_request(command.customer_id, command.currency, lines):
                    raise IdempotencyConflict(command.idempotency_key, existing.id)
                return PlaceResult(existing.id, created=False)
        order = Order.place(
            order_id=new_id(), customer_id=command.customer_id, currency=command.currency,
            lines=lines, now=now(), event_id=new_id(), idempotency_key=command.idempotency_key,
        )
        orders.add(order)
        started: Decision | None = None
        driver = saga_runner or flow_tracker
        if driver is not None:
            started = driver.start(uow, PLACE_ORDER.name, place_saga_id(order.id), place_order_data(order),
                                   new=True)
        uow.commit()
    if driver is not None and started is not None:
        driver.announce(started)
    return PlaceResult(order.id, created=True)


def approve_order(command: ApproveOrder, uow: UnitOfWork, now: Now, new_id: NewId, *,
                  flow_tracker: FlowTracker | None = None) -> None:
    """Approving an approved order changes nothing: the place-order saga retries its pivot until
    a try is answered, and a retry after a lost reply must not be refused."""
    with uow:
        order = _load(uow, command.order_id)
        if order.status is OrderStatus.APPROVED:
            return
        order.approve(now=now(), event_id=new_id())
        noted = _by_hand(uow, flow_tracker, order.id, Decided(ok=True, what="approved"))
        uow.commit()
    _announce(flow_tracker, noted)


def reject_order(command: RejectOrder, uow: UnitOfWork, now: Now, new_id: NewId, *,
                 flow_tracker: FlowTracker | None = None) -> None:
    with uow:
        order = _load(uow, command.order_id)
        order.reject(command.reason, now=now(), event_id=new_id())
        noted = _by_hand(uow, flow_tracker, order.id, Decided(ok=False, what="rejected", reason=command.reason))
        uow.commit()
    _announce(flow_tracker, noted)


def _by_hand(uow: UnitOfWork, flow_tracker: FlowTracker | None, order_id: str, decided: Decided) -> Decision | None:
    """Choreography: a person decided the order while its flow ran; the flow follows."""
    return None if flow_tracker is None else flow_tracker.decided(uow, place_saga_id(order_id), decided)


def _announce(flow_tracker: FlowTracker | None, decision: Decision | None) -> None:
    if flow_tracker is not None and decision is not None:
        flow_tracker.announce(decision)


def cancel_order(command: CancelOrder, uow: UnitOfWork, now: Now, new_id: NewId, *,
                 saga_runner: SagaRunner | None = None, flow_tracker: FlowTracker | None = None) -> None:
    """An approved order is cancelled at once and the cancel-order saga gives back what it holds
    (shipment, payment, stock) in the same unit of work: that saga only goes forward, retrying
    each step until it succeeds, so the order's end is certain and people see it at once."""
    started: Decision | None = None
    with uow:
        order = _load(uow, command.order_id)
        if saga_runner is not None:
            _check_unlocked(uow, order.id, "cancel")
        approved = order.status is OrderStatus.APPROVED
        order.cancel(command.reason, now=now(), event_id=new_id())
        if saga_runner is not None and approved:
            started = saga_runner.start(uow, CANCEL_ORDER.name, cancel_saga_id(order.id),
                                        {**place_order_data(order), "reason": command.reason})
        noted = _by_hand(uow, flow_tracker, order.id, Decided(ok=False, what="cancelled", reason=command.reason))
        uow.commit()
    if saga_runner is not None and started is not None:
        saga_runner.announce(started)
    _announce(flow_tracker, noted)


def ship_order(command: ShipOrder, uow: UnitOfWork, now: Now, new_id: NewId,
               saga_runner: SagaRunner | None = None) -> None:
    with uow:
        order = _load(uow, command.order_id)
        if saga_runner is not None:
            _check_unlocked(uow, order.id, "ship")
        order.ship(now=now(), event_id=new_id())
        uow.commit()


def track_place_order(event: DomainEvent, uow: UnitOfWork, flow_tracker: FlowTracker | None = None) -> None:
    """Choreography: a participant's event moves its order's place-order flow (and may approve or
    reject the order, in this unit of work)."""
    # The bus names the inbox entry "<message id>|<handler>": the timeline shows the message's id.
    seen = observed(event, (uow.message_id or event.event_id).partition("|")[0])
    if flow_tracker is None or seen is None:
        return
    with uow:
        decision = flow_tracker.observe(uow, place_saga_id(event.aggregate_id), seen)
        if decision is None:
            return  # not a tracked flow: an order placed in orchestration mode
        uow.commit()
    flow_tracker.announce(decision)


def do_flow_command(uow: UnitOfWork, command: SendCommand, now: Now, new_id: NewId) -> None:
    """What a choreographed flow asks of orders itself: approve at the pivot, reject on failure. An
    order a person already approved, rejected or cancelled by hand is left as it is."""
    order = _load(uow, command.payload["order_id"])
    if order.status is not OrderStatus.PENDING:
        return
    if command.command_type == ApproveOrder.type_name:
        order.approve(now=now(), event_id=new_id())
    elif command.command_type == RejectOrder.type_name:
        order.reject(str(command.payload["reason"]), now=now(), event_id=new_id())
    else:
        raise ValueError(f"a place-order flow asked orders for {command.command_type}, which it does not do")


def _check_unlocked(uow: UnitOfWork, order_id: str, action: str) -> None:
    """The semantic lock: refuse while a saga of this order runs (its outcome is the saga's)."""
    for saga_id in (place_saga_id(order_id), cancel_saga_id(order_id)):
        record = uow.sagas.get(saga_id)
        if record is not None and is_running(record):
            summary = SagaInstance.from_json(record.instance, version=record.version).summary()
            raise SagaLocked(order_id, action, saga_id=saga_id, definition=record.definition, summary=summary)


def _load(uow: UnitOfWork, order_id: str) -> Order:
    order = uow.repository(ORDER).get(order_id)
    if order is None:
        raise NotFound("order", order_id)
    return order


COMMAND_HANDLERS = {
    PlaceOrder: place_order,
    ApproveOrder: approve_order,
    RejectOrder: reject_order,
    CancelOrder: cancel_order,
    ShipOrder: ship_order,
}
EVENT_HANDLERS: dict[type[DomainEvent], list[Callable[..., None]]] = {
    event: [track_place_order] for event in TRACKED_EVENTS}
