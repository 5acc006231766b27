"""The CQRS projection: how each domain event changes an order's summary in the read model."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from core.messages import DomainEvent
from core.orders.events import OrderApproved, OrderCancelled, OrderPlaced, OrderRejected, OrderShipped
from core.orders.model import OrderStatus
from core.orders.queries import OrderSummary

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
