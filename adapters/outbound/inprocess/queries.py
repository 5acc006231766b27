"""The query ports orders uses (StockLevels, Credit, ShipmentStatus), answered in this process.

Each call goes through the target service's door first: the fault setting it has (added latency,
an error, a timeout) acts here exactly as it does at its REST door in another process, so a
monolith and a set of processes behave the same under injected faults. A guard (the target's
circuit breaker) wraps the call when one is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from core.inventory.queries import GetReservation, GetStock, ReservationSummary, StockLevel
from core.kernel.errors import NotFound
from core.payments.queries import AccountBalance, GetAccount, GetPayment, PaymentSummary
from core.runtime.fanout import DeadlineExceeded
from core.shipping.queries import GetShipment, ShipmentSummary
from ports.inventory import Inventory
from ports.payments import Payments
from ports.shipping import Shipping

T = TypeVar("T")
Door = Callable[[str, float | None], None]
Guard = Callable[[Callable[[], Any]], Any]


def open_door(service: str, within: float | None) -> None:
    """No faults here."""


def unguarded(call: Callable[[], T]) -> T:
    return call()


def _or_none(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except NotFound:
        return None


class _Local:
    service = ""

    def __init__(self, door: Door = open_door, guard: Guard = unguarded) -> None:
        self._door = door
        self._guard = guard

    def _call(self, within: float | None, call: Callable[[], T]) -> T:
        # The port's contract, with or without a door: no time left means no call, not a late answer.
        if within is not None and within <= 0:
            raise DeadlineExceeded(self.service, within * 1000, "no time left to call it")

        def through_door() -> T:
            self._door(self.service, within)
            return call()

        result: T = self._guard(through_door)
        return result


class LocalStockLevels(_Local):
    service = "inventory"

    def __init__(self, inventory: Inventory, door: Door = open_door, guard: Guard = unguarded) -> None:
        super().__init__(door, guard)
        self._inventory = inventory

    def reservation(self, order_id: str, *, within: float | None = None) -> ReservationSummary | None:
        return self._call(within, lambda: _or_none(
            lambda: self._inventory.reservation(GetReservation(order_id=order_id))))

    def levels(self, skus: Sequence[str], *, within: float | None = None) -> dict[str, StockLevel]:
        def read() -> dict[str, StockLevel]:
            found = {sku: _or_none(lambda sku=sku: self._inventory.stock(GetStock(sku=sku))) for sku in skus}
            return {sku: level for sku, level in found.items() if level is not None}

        return self._call(within, read)


class LocalCredit(_Local):
    service = "payments"

    def __init__(self, payments: Payments, door: Door = open_door, guard: Guard = unguarded) -> None:
        super().__init__(door, guard)
        self._payments = payments

    def account(self, customer_id: str, *, within: float | None = None) -> AccountBalance | None:
        return self._call(within, lambda: _or_none(
            lambda: self._payments.account(GetAccount(customer_id=customer_id))))

    def payment(self, order_id: str, *, within: float | None = None) -> PaymentSummary | None:
        return self._call(within, lambda: _or_none(lambda: self._payments.payment(GetPayment(order_id=order_id))))


class LocalShipmentStatus(_Local):
    service = "shipping"

    def __init__(self, shipping: Shipping, door: Door = open_door, guard: Guard = unguarded) -> None:
        super().__init__(door, guard)
        self._shipping = shipping

    def shipment(self, order_id: str, *, within: float | None = None) -> ShipmentSummary | None:
        return self._call(within, lambda: _or_none(
            lambda: self._shipping.shipment(GetShipment(order_id=order_id))))
