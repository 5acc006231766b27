"""The inventory aggregates: a StockItem per SKU and a Reservation per order. Pure.

A StockItem's stock never goes negative: `reserve` refuses more than is available, and a
concurrent reservation of the same SKU conflicts on the item's version, so one of two racing
orders is retried against the new figure. A Reservation makes reserving for one order happen
once (a second request sees the first outcome) and releasing idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.inventory.events import (
    ItemReleased,
    ItemReserved,
    Shortage,
    StockLine,
    StockReleased,
    StockReservationFailed,
    StockReserved,
    StockRestocked,
)
from core.kernel.aggregate import Aggregate, AggregateCodec, replayer
from core.kernel.errors import IllegalTransition, ValidationError
from core.kernel.fields import bounded_text
from core.kernel.messages import DomainEvent

MAX_QUANTITY = 1_000_000
MAX_LINES = 100


def parse_sku(value: Any, field: str = "sku") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return bounded_text(value, field)


def parse_quantity(value: Any, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_QUANTITY:
        raise ValidationError(field, f"must be 1..{MAX_QUANTITY}, got {value}")
    return value


def merge_stock_lines(lines: Iterable[StockLine]) -> tuple[StockLine, ...]:
    """Validate lines and merge repeats of a SKU, keeping first-seen order."""
    merged: dict[str, int] = {}
    for n, line in enumerate(lines):
        sku = parse_sku(line.sku, f"lines[{n}].sku")
        merged[sku] = merged.get(sku, 0) + parse_quantity(line.quantity, f"lines[{n}].quantity")
    if not merged:
        raise ValidationError("lines", "a reservation needs at least one line")
    if len(merged) > MAX_LINES:
        raise ValidationError("lines", f"at most {MAX_LINES} lines per reservation, got {len(merged)}")
    return tuple(StockLine(sku, quantity) for sku, quantity in merged.items())


class StockItem(Aggregate):
    """One SKU: what is on hand, and what each order holds of it."""

    def __init__(self, sku: str, *, on_hand: int = 0, reservations: dict[str, int] | None = None,
                 version: int = 0, updated_at: datetime | None = None) -> None:
        super().__init__(sku, version)
        self.on_hand = on_hand
        self.reservations = dict(reservations or {})
        self.updated_at = updated_at

    @property
    def sku(self) -> str:
        return self.id

    @property
    def reserved(self) -> int:
        return sum(self.reservations.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def copy(self) -> StockItem:
        clone = super().copy()
        clone.reservations = dict(self.reservations)
        return clone

    def restock(self, quantity: int, *, now: datetime, event_id: str) -> None:
        parse_quantity(quantity)
        self._record(StockRestocked(**self._meta(now, event_id), quantity=quantity))

    def reserve(self, order_id: str, quantity: int, *, now: datetime, event_id: str) -> None:
        if quantity > self.available:
            raise IllegalTransition(self.id, f"short ({self.available} available)", f"reserve {quantity}",
                                    kind="stock item")
        self._record(ItemReserved(**self._meta(now, event_id), order_id=order_id, quantity=quantity))

    def release(self, order_id: str, *, now: datetime, event_id: str) -> None:
        held = self.reservations.get(order_id)
        if held:
            self._record(ItemReleased(**self._meta(now, event_id), order_id=order_id, quantity=held))

    def _meta(self, now: datetime, event_id: str) -> dict[str, Any]:
        return {"event_id": event_id, "aggregate_id": self.id, "aggregate_version": self.version + 1,
                "occurred_at": now}

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case StockRestocked(quantity=quantity):
                self.on_hand += quantity
            case ItemReserved(order_id=order_id, quantity=quantity):
                self.reservations[order_id] = self.reservations.get(order_id, 0) + quantity
            case ItemReleased(order_id=order_id):
                self.reservations.pop(order_id, None)
            case _:
                raise ValueError(f"StockItem cannot apply {event.type_name}")
        self.version = event.aggregate_version
        self.updated_at = event.occurred_at


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    FAILED = "FAILED"
    RELEASED = "RELEASED"


class Reservation(Aggregate):
    """What one order asked to reserve, and what came of it."""

    def __init__(self, order_id: str, *, status: ReservationStatus = ReservationStatus.RESERVED,
                 lines: tuple[StockLine, ...] = (), shortages: tuple[Shortage, ...] = (), version: int = 0,
                 updated_at: datetime | None = None) -> None:
        super().__init__(order_id, version)
        self.status = status
        self.lines = lines
        self.shortages = shortages
        self.updated_at = updated_at

    @classmethod
    def reserve(cls, order_id: str, lines: tuple[StockLine, ...], *, now: datetime, event_id: str) -> Reservation:
        reservation = cls(order_id)
        reservation._record(StockReserved(event_id=event_id, aggregate_id=order_id, aggregate_version=1,
                                          occurred_at=now, lines=lines))
        return reservation

    @classmethod
    def refuse(cls, order_id: str, lines: tuple[StockLine, ...], shortages: tuple[Shortage, ...], *,
               now: datetime, event_id: str) -> Reservation:
        reservation = cls(order_id)
        reservation._record(StockReservationFailed(event_id=event_id, aggregate_id=order_id, aggregate_version=1,
                                                   occurred_at=now, lines=lines, shortages=shortages))
        return reservation

    def release(self, *, now: datetime, event_id: str) -> bool:
        """Mark the stock given back; False (and no event) when nothing is held."""
        if self.status is not ReservationStatus.RESERVED:
            return False
        self._record(StockReleased(event_id=event_id, aggregate_id=self.id, aggregate_version=self.version + 1,
                                   occurred_at=now, lines=self.lines))
        return True

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case StockReserved(lines=lines):
                self.status, self.lines = ReservationStatus.RESERVED, lines
            case StockReservationFailed(lines=lines, shortages=shortages):
                self.status, self.lines, self.shortages = ReservationStatus.FAILED, lines, shortages
            case StockReleased():
                self.status = ReservationStatus.RELEASED
            case _:
                raise ValueError(f"Reservation cannot apply {event.type_name}")
        self.version = event.aggregate_version
        self.updated_at = event.occurred_at




def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


STOCK_ITEM = AggregateCodec[StockItem](
    name="inventory.StockItem",
    to_state=lambda i: {"sku": i.id, "on_hand": i.on_hand, "reservations": dict(i.reservations),
                        "version": i.version, "updated_at": _time(i.updated_at)},
    from_state=lambda d: StockItem(d["sku"], on_hand=int(d["on_hand"]),
                                   reservations={k: int(v) for k, v in d["reservations"].items()},
                                   version=int(d["version"]), updated_at=_parse_time(d["updated_at"])),
    replay=replayer(StockItem),
)

RESERVATION = AggregateCodec[Reservation](
    name="inventory.Reservation",
    to_state=lambda r: {"order_id": r.id, "status": r.status.value, "lines": [ln.to_json() for ln in r.lines],
                        "shortages": [s.to_json() for s in r.shortages], "version": r.version,
                        "updated_at": _time(r.updated_at)},
    from_state=lambda d: Reservation(d["order_id"], status=ReservationStatus(d["status"]),
                                     lines=tuple(StockLine.from_json(ln) for ln in d["lines"]),
                                     shortages=tuple(Shortage.from_json(s) for s in d["shortages"]),
                                     version=int(d["version"]), updated_at=_parse_time(d["updated_at"])),
    replay=replayer(Reservation),
)
