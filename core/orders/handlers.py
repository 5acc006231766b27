"""Use cases of the orders context. Each handler is a verb taking its message first, then the
unit of work, then its typed dependencies (bound once when the service is built)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.kernel.errors import IdempotencyConflict, NotFound
from core.kernel.money import Money
from core.orders.commands import ApproveOrder, CancelOrder, PlaceOrder, PlaceResult, RejectOrder, ShipOrder
from core.orders.model import ORDER, Order, OrderLine, merge_lines
from ports.storage import UnitOfWork

Now = Callable[[], datetime]
NewId = Callable[[], str]


def place_order(command: PlaceOrder, uow: UnitOfWork, now: Now, new_id: NewId) -> PlaceResult:
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
        uow.commit()
    return PlaceResult(order.id, created=True)


def approve_order(command: ApproveOrder, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    with uow:
        _load(uow, command.order_id).approve(now=now(), event_id=new_id())
        uow.commit()


def reject_order(command: RejectOrder, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    with uow:
        _load(uow, command.order_id).reject(command.reason, now=now(), event_id=new_id())
        uow.commit()


def cancel_order(command: CancelOrder, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    with uow:
        _load(uow, command.order_id).cancel(command.reason, now=now(), event_id=new_id())
        uow.commit()


def ship_order(command: ShipOrder, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    with uow:
        _load(uow, command.order_id).ship(now=now(), event_id=new_id())
        uow.commit()


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
