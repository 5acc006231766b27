"""The CQRS projection: how each event of the orders context changes an order's summary."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from core.kernel.aggregate import Aggregate
from core.kernel.messages import DomainEvent
from core.orders.events import OrderApproved, OrderCancelled, OrderPlaced, OrderRejected, OrderShipped, PlacedLine
from core.orders.model import Order, OrderStatus
from core.orders.queries import SUMMARIES, OrderSummary
from ports.storage import ViewWriter

_STATUS_AFTER: dict[type[DomainEvent], OrderStatus] = {
    OrderApproved: OrderStatus.APPROVED,
    OrderRejected: OrderStatus.REJECTED,
    OrderCancelled: OrderStatus.CANCELLED,
    OrderShipped: OrderStatus.SHIPPED,
}


def fold(summary: OrderSummary | None, event: DomainEvent) -> OrderSummary:
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
        raise ValueError(f"{event.type_name} for {event.aggregate_id} arrived before its OrderPlaced")
    if event.aggregate_version <= summary.version:
        return summary
    status = _STATUS_AFTER.get(type(event), summary.status)
    reason = getattr(event, "reason", summary.reason)
    return replace(summary, status=status, reason=reason, version=event.aggregate_version,
                   updated_at=event.occurred_at)


def project(views: ViewWriter, event: DomainEvent) -> None:
    """The context's projector: the summary of the event's order, with the event folded in."""
    # A placed order has no summary yet: reading one first would cost a query per new order.
    current = None if isinstance(event, OrderPlaced) and event.aggregate_version == 1 \
        else views.get(SUMMARIES, event.aggregate_id)
    views.put(SUMMARIES, fold(current, event))


def summarise(order: Order) -> OrderSummary:
    """The summary of an order's current state: what projecting all its events gives."""
    return OrderSummary(
        order_id=order.id, customer_id=order.customer_id, status=order.status, total=order.total.amount,
        currency=order.currency, line_count=len(order.lines), created_at=order.created_at,
        updated_at=order.updated_at, version=order.version, reason=order.reason,
        lines=tuple(PlacedLine(ln.sku, ln.quantity, ln.unit_price.amount) for ln in order.lines),
    )


def put_summary(views: ViewWriter, aggregate: Aggregate) -> None:
    """Rebuild from state: the order's summary as its current state gives it."""
    if isinstance(aggregate, Order):
        views.put(SUMMARIES, summarise(aggregate))
