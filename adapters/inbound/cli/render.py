"""How the CLI shows things: each renderer returns (JSON-ready payload, human text)."""

from __future__ import annotations

from typing import Any

from core.kernel.messages import DomainEvent
from core.orders.queries import OrderPage, OrderSummary
from ports.control import PortInfo


def render_order(s: OrderSummary) -> tuple[dict[str, Any], str]:
    rows = [f"order     {s.order_id}", f"customer  {s.customer_id}", f"status    {s.status.value}"
            + (f" ({s.reason})" if s.reason else ""), f"total     {s.total} {s.currency}",
            f"version   {s.version}", f"placed    {s.created_at.isoformat()}"]
    if s.saga is not None:
        rows.append(f"saga      {s.saga.definition} {s.saga.state}: {s.saga.summary}")
    rows.append("lines")
    rows += [f"  {ln.sku:<20} {ln.quantity:>5} x {ln.unit_price}" for ln in s.lines]
    return s.to_json(), "\n".join(rows)


def render_orders(page: OrderPage) -> tuple[dict[str, Any], str]:
    payload = {"items": [s.to_json() for s in page.items], "next_cursor": page.next_cursor}
    if not page.items:
        return payload, "no orders"
    rows = [f"{'ORDER':<38} {'CUSTOMER':<12} {'STATUS':<10} {'TOTAL':>12} CUR"]
    rows += [f"{s.order_id:<38} {s.customer_id:<12} {s.status.value:<10} {s.total:>12} {s.currency}"
             for s in page.items]
    if page.next_cursor:
        rows.append(f"more: --cursor {page.next_cursor}")
    return payload, "\n".join(rows)


def render_events(events: list[DomainEvent]) -> tuple[list[dict[str, Any]], str]:
    rows = [f"v{e.aggregate_version:<3} {e.occurred_at.isoformat()}  {e.type:<15} {e.payload()}" for e in events]
    return [e.to_dict() for e in events], "\n".join(rows)


def render_ports(ports: list[PortInfo]) -> tuple[list[dict[str, Any]], str]:
    payload = [p.to_json() for p in ports]
    rows = [f"{p.name:<10} {p.active:<10} available: {', '.join(p.available)}" for p in ports]
    return payload, "\n".join(rows)
