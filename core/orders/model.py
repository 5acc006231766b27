"""The Order aggregate and its value objects. Pure: no I/O, time and ids are passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from enum import StrEnum
from typing import Any

from core.kernel.aggregate import Aggregate, AggregateCodec
from core.kernel.errors import IllegalTransition, ValidationError
from core.kernel.messages import DomainEvent
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
# Digits before the decimal point of a unit price (up to 999,999,999,999). With at most 100 lines
# of at most 1000 units and 4 decimals, every total fits in 21 significant digits, well inside
# Decimal's default 28: no sum or product of an order is ever rounded.
MAX_PRICE_DIGITS = 12
_CURRENCY = re.compile(r"[A-Z]{3}")

# ISO 4217 minor units (how many decimals a currency's amounts have): every currency whose
# exponent is not 2 is listed; every other three-letter code gets DEFAULT_MINOR_UNIT. Unknown codes
# are not refused: 2 is right for every other ISO 4217 currency, and codes ISO adds later (VES,
# MRU, STN, SLE, ZWG were all 2) then work without a release. Keeping a currency register is a
# catalogue's job, not this service's; what this table guards is precision.
MINOR_UNITS: dict[str, int] = {
    # no minor unit
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # thousandths
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # ten-thousandths (units of account)
    "CLF": 4, "UYW": 4,
}
DEFAULT_MINOR_UNIT = 2


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    SHIPPED = "SHIPPED"


def parse_currency(value: Any, field: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValidationError(field, f"must be a three-letter ISO 4217 code like EUR, got {value!r}")
    return value


def parse_sku(value: Any, field: str = "sku") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return value


def parse_quantity(value: Any, field: str = "quantity", sku: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be a whole number, got {value!r}")
    if not MIN_QUANTITY <= value <= MAX_QUANTITY:
        raise ValidationError(field, f"{sku + ': ' if sku else ''}must be {MIN_QUANTITY}..{MAX_QUANTITY}, got {value}")
    return value


def minor_unit(currency: str) -> int:
    """How many decimals `currency`'s amounts have (ISO 4217): JPY 0, EUR 2, KWD 3."""
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNIT)


def unit_price_pattern(places: int) -> str:
    """The regular expression of a unit price in a currency with `places` decimals: a plain,
    positive decimal string (no sign, exponent, spaces or leading zeros), at most MAX_PRICE_DIGITS
    digits before the point and `places` after it. It is written for both Python (`fullmatch`) and
    JSON Schema (ECMA 262), so the request schema and the parser are one definition."""
    whole = f"[1-9][0-9]{{0,{MAX_PRICE_DIGITS - 1}}}"
    if places == 0:
        return f"^{whole}$"
    # Below 1: "0." then at most `places` digits, not all of them zeros.
    below_one = "|".join("0" * zeros + "[1-9]" + (f"[0-9]{{0,{places - 1 - zeros}}}" if zeros < places - 1 else "")
                         for zeros in range(places))
    return rf"^(?:{whole}(?:\.[0-9]{{1,{places}}})?|0\.(?:{below_one}))$"


_PRICE_PATTERNS = {places: re.compile(unit_price_pattern(places)) for places in {*MINOR_UNITS.values(), 2}}
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_EXPONENT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


def _places_text(currency: str, places: int) -> str:
    return f"{currency} has no decimals" if places == 0 else f"{currency} has at most {places} decimals"


def parse_unit_price(value: Any, field: str, currency: str | None = None, sku: str | None = None) -> Decimal:
    """A unit price as the wire carries it: a decimal string, like "9.99" (EUR) or "500" (JPY),
    with no more decimals than the currency has. Returned with exactly the currency's decimals
    ("9.9" EUR -> Decimal("9.90")), so every amount derived from it prints in fixed point.

    Floats and JSON numbers are refused: money is never a float. `currency` None (the order's own
    currency is invalid) checks the form only; `sku` prefixes the domain's messages."""
    prefix = f"{sku}: " if sku else ""
    if not isinstance(value, str):
        raise ValidationError(field, f'must be a decimal string like "9.99", not {type(value).__name__} {value!r}')
    places = minor_unit(currency) if currency is not None else max(MINOR_UNITS.values())
    pattern = _PRICE_PATTERNS.get(places) or re.compile(unit_price_pattern(places))
    if not pattern.fullmatch(value):
        raise ValidationError(field, prefix + _why_not_a_price(value, currency, places))
    return Decimal(value).quantize(Decimal(1).scaleb(-places)) if currency is not None else Decimal(value)


def _why_not_a_price(value: str, currency: str | None, places: int) -> str:
    """The most helpful reason `value` is not a unit price (it failed the price pattern)."""
    if _EXPONENT.fullmatch(value):
        return f"must be written out in plain digits, without an exponent: got {value!r}"
    if not _DECIMAL.fullmatch(value):
        return f'must be a decimal number like "9.99", got {value!r}'
    amount = Decimal(value)
    if amount <= 0:
        return f"must be greater than 0, got {value}"
    whole, _, decimals = value.lstrip("-").partition(".")
    if len(decimals) > places and currency is not None:
        return f"{_places_text(currency, places)}, got {value}"
    if len(whole.lstrip("0")) > MAX_PRICE_DIGITS:
        return f"at most {MAX_PRICE_DIGITS} digits before the point, got {value}"
    if whole.startswith("0") and whole != "0":
        return f"must have no leading zeros, got {value!r}"
    return f'must be a decimal number like "9.99", got {value!r}'


def parse_amount(value: Any, field: str, currency: str | None = None) -> Decimal:
    """An amount given as a string (the CLI's --item price): see `parse_unit_price`."""
    return parse_unit_price(value, field, currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """`amount` in fixed point with at least `currency`'s decimals: "2000.00", never "2E+3".
    Digits beyond the currency's (stored before its precision was enforced) are shown, not rounded."""
    exponent = amount.as_tuple().exponent
    places = max(minor_unit(currency), -exponent if isinstance(exponent, int) else 0)
    return f"{amount:.{places}f}"


_EXACT = Context(prec=MAX_PRICE_DIGITS + 16, traps=[Inexact, InvalidOperation, Overflow])


@dataclass(frozen=True)
class Money:
    """An exact amount in one currency. Arithmetic across currencies is refused, and so is any
    that would round (the bounds on prices and quantities keep every order's sums exact)."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        parse_currency(self.currency)
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise ValidationError("amount", f"must be a finite Decimal, got {self.amount!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0).scaleb(-minor_unit(currency)), currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValidationError("currency", f"cannot add {other.currency} to {self.currency}")
        return Money(_EXACT.add(self.amount, other.amount), self.currency)

    def times(self, quantity: int) -> Money:
        return Money(_EXACT.multiply(self.amount, Decimal(quantity)), self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency)} {self.currency}"


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
        raise ValidationError("unit_price", f"{sku}: {_places_text(price.currency, places)}, got {amount:f}")
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
    for line in lines:
        if line.unit_price.currency != currency:
            raise ValidationError(
                "currency", f"{line.sku} is priced in {line.unit_price.currency}, the order in {currency}"
            )
        price = new_price(line.unit_price, line.sku)
        if price is not line.unit_price:
            line = OrderLine(line.sku, line.quantity, price)
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
        self._record(OrderApproved(**self._meta(now, event_id)))

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
    return reason.strip()


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
