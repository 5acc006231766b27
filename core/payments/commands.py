"""Commands of the payments context, named in the imperative."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.kernel.fields import check_texts
from core.kernel.messages import Command


@dataclass(frozen=True, kw_only=True)
class PaymentsCommand(Command, context="payments"):
    """Base of the payments context's commands: their type names read "payments.<Name>"."""

    def __post_init__(self) -> None:
        # Every string a command carries within the bounds every store and the broker keep,
        # whichever door built it (core/kernel/fields.py).
        check_texts(vars(self).items())


@dataclass(frozen=True, kw_only=True)
class OpenAccount(PaymentsCommand):
    customer_id: str
    credit_limit: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class AuthorizePayment(PaymentsCommand):
    """Hold `amount` of the customer's credit for the order (a customer without an account gets
    one with the default credit limit, in the payment's currency)."""

    order_id: str
    customer_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class VoidPayment(PaymentsCommand):
    """Give the order's held credit back. Voiding what is not held changes nothing."""

    order_id: str


@dataclass(frozen=True, kw_only=True)
class CapturePayment(PaymentsCommand):
    """Take the order's held credit (when its shipment is dispatched)."""

    order_id: str


@dataclass(frozen=True)
class AuthorizationOutcome:
    order_id: str
    authorized: bool
    reason: str | None = None
    available: str | None = None
