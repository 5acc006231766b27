"""The CQRS projection: how each domain event changes an order's summary in the read model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from core.messages import DomainEvent
from core.orders.events import OrderApproved, OrderCancelled, OrderPlaced, OrderRejected, OrderShipped, PlacedLine
from core.orders.model import Order, OrderStatus
from core.orders.queries import OrderSummary

if TYPE_CHECKING:
    from ports.event_store import EventStore
    from ports.read_model import ReadModel

_STATUS_AFTER: dict[type[DomainEvent], OrderStatus] = {
    OrderApproved: OrderStatus.APPROVED,
    OrderRejected: OrderStatus.REJECTED,
    OrderCancelled: OrderStatus.CANCELLED,
    OrderShipped: OrderStatus.SHIPPED,
}


def project(summary: OrderSummary | None, event: DomainEvent) -> OrderSummary:
    """Fold one event into the summary it concerns. Replaying a stream from None rebuilds it.

    An event at or below the summary's version was already applied and changes nothing,
    which makes the projection safe to run twice over the same events.
    """
    if isinstance(event, OrderPlaced):
        if summary is not None:
            return summary
        total = sum((ln.unit_price * ln.quantity for ln in event.lines), Decimal(0))
        return OrderSummary(
            order_id=event.aggregate_id, customer_id=event.customer_id, status=OrderStatus.PENDING,
            total=total, currency=event.currency, line_count=len(event.lines),
            created_at=event.occurred_at, updated_at=event.occurred_at, version=event.aggregate_version,
            lines=event.lines,
        )
    if summary is None:
        raise ValueError(f"{event.type} for {event.aggregate_id} arrived before its OrderPlaced")
    if event.aggregate_version <= summary.version:
        return summary
    status = _STATUS_AFTER.get(type(event), summary.status)
    reason = getattr(event, "reason", summary.reason)
    return replace(summary, status=status, reason=reason, version=event.aggregate_version,
                   updated_at=event.occurred_at)


def summarise(order: Order) -> OrderSummary:
    """The summary of an order's current state: what projecting all its events gives."""
    return OrderSummary(
        order_id=order.id, customer_id=order.customer_id, status=order.status, total=order.total.amount,
        currency=order.currency, line_count=len(order.lines), created_at=order.created_at,
        updated_at=order.updated_at, version=order.version, reason=order.reason,
        lines=tuple(PlacedLine(ln.sku, ln.quantity, ln.unit_price.amount) for ln in order.lines),
    )


def rebuild_from_events(read_model: ReadModel, event_store: EventStore, batch: int = 1000) -> int:
    """Recompute every summary by replaying the event store in global order. Returns events applied.

    The projection position (the outbox sequence of the last projected event) is kept: the
    summaries are rebuilt as of the same committed state.
    """
    position = read_model.position()
    read_model.clear()
    applied, after = 0, 0
    while stored := event_store.read_all(after_position=after, limit=batch):
        for item in stored:
            event = item.event
            read_model.put(project(read_model.get(event.aggregate_id), event), position)
            after = item.position
        applied += len(stored)
    return applied


def rebuild_from_orders(read_model: ReadModel, order_ids: list[str], load: Callable[[str], Order | None]) -> int:
    """Recompute every summary from the orders' current state (state storage keeps no full log).

    The projection position is kept: the summaries are as of the same committed state.
    """
    position = read_model.position()
    read_model.clear()
    count = 0
    for order_id in order_ids:
        order = load(order_id)
        if order is not None:
            read_model.put(summarise(order), position)
            count += 1
    return count
