"""Event-sourced orders: snapshots, and rebuilding an order from a snapshot plus later events.

Every store's event-sourced repository uses these, so replay means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.messages import DomainEvent
from core.orders.model import Money, Order, OrderLine, OrderStatus

SNAPSHOT_SCHEMA = 1


def order_to_snapshot(order: Order) -> dict[str, Any]:
    """The order's state at `order.version` as JSON-ready data."""
    return {
        "schema": SNAPSHOT_SCHEMA, "order_id": order.id, "customer_id": order.customer_id,
        "currency": order.currency, "status": order.status.value, "version": order.version,
        "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
        "reason": order.reason, "idempotency_key": order.idempotency_key,
        "lines": [{"sku": ln.sku, "quantity": ln.quantity, "unit_price": str(ln.unit_price.amount)}
                  for ln in order.lines],
    }


def order_from_snapshot(data: dict[str, Any]) -> Order:
    if data.get("schema") != SNAPSHOT_SCHEMA:
        raise ValueError(f"snapshot schema {data.get('schema')!r} is not {SNAPSHOT_SCHEMA}; rebuild snapshots")
    currency = data["currency"]
    return Order(
        order_id=data["order_id"], customer_id=data["customer_id"], currency=currency,
        lines=tuple(OrderLine(ln["sku"], int(ln["quantity"]), Money(Decimal(ln["unit_price"]), currency))
                    for ln in data["lines"]),
        status=OrderStatus(data["status"]), version=int(data["version"]),
        created_at=datetime.fromisoformat(data["created_at"]), updated_at=datetime.fromisoformat(data["updated_at"]),
        reason=data["reason"], idempotency_key=data["idempotency_key"],
    )


def snapshot_due(persisted_version: int, new_version: int, every: int) -> bool:
    """Whether a save that moves an order from `persisted_version` to `new_version` crosses a
    multiple of `every`, so at most `every - 1` events are replayed on top of a snapshot."""
    return new_version // every > persisted_version // every


def rebuild(
    order_id: str,
    snapshot: dict[str, Any] | None,
    read_stream: Callable[[str, int], list[DomainEvent]],
) -> Order | None:
    """The order from its latest snapshot (if any) plus the events after it; None if no stream."""
    base = order_from_snapshot(snapshot) if snapshot is not None else None
    events = read_stream(order_id, (base.version if base else 0) + 1)
    if base is None and not events:
        return None
    return Order.from_events(events, snapshot=base)


def as_of(events: list[DomainEvent], *, version: int | None = None, at: datetime | None = None) -> Order | None:
    """The order as it was at `version`, or at time `at` (events that occurred at or before it)."""
    kept = [e for e in events
            if (version is None or e.aggregate_version <= version) and (at is None or e.occurred_at <= at)]
    return Order.from_events(kept) if kept else None
