"""Commands of the shipping context, named in the imperative."""

from __future__ import annotations

from dataclasses import dataclass

from core.kernel.fields import check_texts
from core.kernel.messages import Command
from core.shipping.model import MAX_ADDRESS


@dataclass(frozen=True, kw_only=True)
class ShippingCommand(Command, context="shipping"):
    """Base of the shipping context's commands: their type names read "shipping.<Name>"."""

    def __post_init__(self) -> None:
        # Every string a command carries within the bounds every store and the broker keep,
        # whichever door built it (core/kernel/fields.py); an address may be longer than an id.
        check_texts(vars(self).items(), {"address": MAX_ADDRESS})


@dataclass(frozen=True, kw_only=True)
class ScheduleShipment(ShippingCommand):
    """Schedule the order's shipment to the address, or to the customer's address on file."""

    order_id: str
    customer_id: str
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class CancelShipment(ShippingCommand):
    order_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DispatchShipment(ShippingCommand):
    order_id: str
