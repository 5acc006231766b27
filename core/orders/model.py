"""The Order aggregate and its value objects. Pure: no I/O, time and ids are passed in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.kernel.aggregate import Aggregate, AggregateCodec
from core.kernel.errors import IllegalTransition, ValidationError
from core.kernel.fields import bounded_text
from core.kernel.messages import DomainEvent
from core.kernel.money import (
    MAX_PRICE_DIGITS,
    Money,
    check_amount,
    format_amount,
    minor_unit,
    parse_currency,
    places_text,
)
from core.orders.events import (
    OrderApproved,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    PlacedLine,
)

MAX_LINES = 100
MIN_QUANTITY = 1
MAX_QUANTITY = 1000
class OrderStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    SHIPPED = "SHIPPED"


def parse_sku(value: Any, field: str = "sku") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return bounded_text(value, field)


def parse_quantity(value: Any, field: str = "quantity", sku: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be a whole number, got {value!r}")
    if not MIN_QUANTITY <= value <= MAX_QUANTITY:
        raise ValidationError(field, f"{sku + ': ' if sku else ''}must be {MIN_QUANTITY}..{MAX_QUANTITY}, got {value}")
    return value


def new_price(price: Money, sku: str) -> Money:
    """A new order line's price, checked against its currency's precision and the price bounds and
    given exactly the currency's decimals (9.9 EUR -> 9.90 EUR). Orders stored before these rules
    load unchanged; only new lines go through here."""
    amount = price.amount
    if amount <= 0:
        return price  # OrderLine refuses it with its own message
    if amount >= Decimal(10) ** MAX_PRICE_DIGITS:
        raise ValidationError("unit_price", f"{sku}: at most {MAX_PRICE_DIGITS} digits before the point, "
                                            f"got {amount:f}")
    places = minor_unit(price.currency)
    exact = amount.quantize(Decimal(1).scaleb(-places))
    if exact != amount:
        raise ValidationError("unit_price", f"{sku}: {places_text(price.currency, places)}, got {amount:f}")
    return Money(exact, price.currency)


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Money

    def __post_init__(self) -> None:
        parse_sku(self.sku)
        parse_quantity(self.quantity, sku=self.sku)
        if self.unit_price.amount <= 0:
            raise ValidationError("unit_price", f"{self.sku}: must be greater than 0, got {self.unit_price.amount}")

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.quantity)


def merge_lines(lines: Iterable[OrderLine], currency: str) -> tuple[OrderLine, ...]:
    """Validate lines and merge repeats of a SKU into one line, keeping first-seen order.

    Repeats must agree on the unit price: two prices for one SKU is ambiguous, so it is refused.
    """
    merged: dict[str, OrderLine] = {}
    for given in lines:
        if given.unit_price.currency != currency:
            raise ValidationError(
                "currency", f"{given.sku} is priced in {given.unit_price.currency}, the order in {currency}"
            )
        price = new_price(given.unit_price, given.sku)
        line = given if price is given.unit_price else OrderLine(given.sku, given.quantity, price)
        seen = merged.get(line.sku)
        if seen is None:
            merged[line.sku] = line
            continue
        if seen.unit_price != line.unit_price:
            raise ValidationError(
                "unit_price", f"{line.sku} appears twice with prices {seen.unit_price} and {line.unit_price}"
            )
        merged[line.sku] = OrderLine(line.sku, seen.quantity + line.quantity, seen.unit_price)
    if not merged:
        raise ValidationError("lines", "an order needs at least one line")
    if len(merged) > MAX_LINES:
        raise ValidationError("lines", f"at most {MAX_LINES} lines per order, got {len(merged)}")
    total = Money.zero(currency)
    for line in merged.values():
        total = total + line.total
    check_amount(total.amount, currency, "lines", "the order's total")
    return tuple(merged.values())


class Order(Aggregate):
    """The aggregate root. Every change goes through a method that checks the state machine,
    bumps the version and records an event in `pending_events`."""

    _TRANSITIONS: dict[str, tuple[OrderStatus, ...]] = {
        "approve": (OrderStatus.PENDING,),
        "reject": (OrderStatus.PENDING,),
        "cancel": (OrderStatus.PENDING, OrderStatus.APPROVED),
        "ship": (OrderStatus.APPROVED,),
    }

    def __init__(
        self,
        *,
        order_id: str,
        customer_id: str,
        currency: str,
        lines: tuple[OrderLine, ...],
        status: OrderStatus = OrderStatus.PENDING,
        version: int = 0,
        created_at: datetime,
        updated_at: datetime | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(order_id, version)
        self.customer_id = customer_id
        self.currency = currency
        self.lines = lines
        self.status = status
        self.created_at = created_at
        self.updated_at = updated_at or created_at
        self.reason = reason
        self.idempotency_key = idempotency_key

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        customer_id: str,
        currency: str,
        lines: Iterable[OrderLine],
        now: datetime,
        event_id: str,
        idempotency_key: str | None = None,
    ) -> Order:
        if not isinstance(customer_id, str) or not customer_id.strip():
            raise ValidationError("customer_id", "must be a non-empty string")
        bounded_text(customer_id, "customer_id")
        parse_currency(currency)
        merged = merge_lines(lines, currency)
        order = cls(
            order_id=order_id, customer_id=customer_id, currency=currency, lines=(),
            created_at=now, idempotency_key=idempotency_key,
        )
        order._record(
            OrderPlaced(
                event_id=event_id, aggregate_id=order_id, aggregate_version=1, occurred_at=now,
                customer_id=customer_id, currency=currency,
                lines=tuple(PlacedLine(ln.sku, ln.quantity, ln.unit_price.amount) for ln in merged),
                idempotency_key=idempotency_key,
            )
        )
        return order

    @classmethod
    def from_events(cls, events: Iterable[DomainEvent], snapshot: Order | None = None) -> Order:
        """Rebuild an order by replaying its events, optionally on top of a snapshot."""
        order = snapshot
        for event in events:
            if order is None:
                if not isinstance(event, OrderPlaced):
                    raise ValueError(f"stream {event.aggregate_id} does not start with OrderPlaced")
                order = cls(
                    order_id=event.aggregate_id, customer_id=event.customer_id, currency=event.currency,
                    lines=(), created_at=event.occurred_at, idempotency_key=event.idempotency_key,
                )
            order._apply(event)
        if order is None:
            raise ValueError("cannot rebuild an order from no events")
        order.persisted_version = order.version
        return order

    @property
    def total(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.total
        return total

    def approve(self, *, now: datetime, event_id: str) -> None:
        self._check("approve")
        self._record(OrderApproved(**self._meta(now, event_id), customer_id=self.customer_id))

    def reject(self, reason: str, *, now: datetime, event_id: str) -> None:
        self._check("reject")
        self._record(OrderRejected(**self._meta(now, event_id), reason=_reason(reason)))

    def cancel(self, reason: str, *, now: datetime, event_id: str) -> None:
        self._check("cancel")
        self._record(OrderCancelled(**self._meta(now, event_id), reason=_reason(reason)))

    def ship(self, *, now: datetime, event_id: str) -> None:
        self._check("ship")
        self._record(OrderShipped(**self._meta(now, event_id)))

    def same_request(self, customer_id: str, currency: str, lines: tuple[OrderLine, ...]) -> bool:
        """Whether a replayed place-order carries the content this order was placed with."""
        return (customer_id, currency, lines) == (self.customer_id, self.currency, self.lines)

    def _check(self, action: str) -> None:
        if self.status not in self._TRANSITIONS[action]:
            raise IllegalTransition(self.id, self.status.value, action)

    def _meta(self, now: datetime, event_id: str) -> dict[str, Any]:
        return {"event_id": event_id, "aggregate_id": self.id, "aggregate_version": self.version + 1,
                "occurred_at": now}

    def _apply(self, event: DomainEvent) -> None:
        """Change state from an event: the single place state changes, for live and replay alike."""
        match event:
            case OrderPlaced():
                self.lines = tuple(
                    OrderLine(ln.sku, ln.quantity, Money(ln.unit_price, event.currency)) for ln in event.lines
                )
                self.status = OrderStatus.PENDING
            case OrderApproved():
                self.status = OrderStatus.APPROVED
            case OrderRejected(reason=reason):
                self.status, self.reason = OrderStatus.REJECTED, reason
            case OrderCancelled(reason=reason):
                self.status, self.reason = OrderStatus.CANCELLED, reason
            case OrderShipped():
                self.status = OrderStatus.SHIPPED
            case _:
                raise ValueError(f"Order cannot apply {event.type_name}")
        self.version = event.aggregate_version
        self.updated_at = event.occurred_at

    def __repr__(self) -> str:
        return f"Order({self.id!r}, {self.status.value}, v{self.version})"


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("reason", "must be a non-empty string")
    return bounded_text(reason.strip(), "reason")


SNAPSHOT_SCHEMA = 1


def order_to_state(order: Order) -> dict[str, Any]:
    """The order's state at `order.version` as JSON-ready data (stored state and snapshots)."""
    return {
        "schema": SNAPSHOT_SCHEMA, "order_id": order.id, "customer_id": order.customer_id,
        "currency": order.currency, "status": order.status.value, "version": order.version,
        "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
        "reason": order.reason, "idempotency_key": order.idempotency_key,
        "lines": [{"sku": ln.sku, "quantity": ln.quantity,
                   "unit_price": format_amount(ln.unit_price.amount, order.currency)} for ln in order.lines],
    }


def order_from_state(data: dict[str, Any]) -> Order:
    if data.get("schema") != SNAPSHOT_SCHEMA:
        raise ValueError(f"order state schema {data.get('schema')!r} is not {SNAPSHOT_SCHEMA}; rebuild snapshots")
    currency = data["currency"]
    return Order(
        order_id=data["order_id"], customer_id=data["customer_id"], currency=currency,
        lines=tuple(OrderLine(ln["sku"], int(ln["quantity"]), Money(Decimal(ln["unit_price"]), currency))
                    for ln in data["lines"]),
        status=OrderStatus(data["status"]), version=int(data["version"]),
        created_at=datetime.fromisoformat(data["created_at"]), updated_at=datetime.fromisoformat(data["updated_at"]),
        reason=data["reason"], idempotency_key=data["idempotency_key"],
    )


def replay(events: Sequence[DomainEvent], base: Order | None = None) -> Order:
    return Order.from_events(events, snapshot=base)


ORDER = AggregateCodec[Order](name="orders.Order", to_state=order_to_state, from_state=order_from_state,
                              replay=replay)


def as_of(events: list[DomainEvent], *, version: int | None = None, at: datetime | None = None) -> Order | None:
    """The order as it was at `version`, or at time `at` (events that occurred at or before it)."""
    kept = [e for e in events
            if (version is None or e.aggregate_version <= version) and (at is None or e.occurred_at <= at)]
    return Order.from_events(kept) if kept else None
