"""Domain events of the payments context, named in the past tense.

AccountOpened, CreditHeld, CreditReleased and CreditSpent happen to a customer's Account;
PaymentAuthorized, PaymentDeclined, PaymentVoided and PaymentCaptured happen to one order's
Payment and are what other contexts listen to. Amounts are decimal strings on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.kernel.messages import DomainEvent


@dataclass(frozen=True, kw_only=True)
class PaymentsEvent(DomainEvent, context="payments"):
    """Base of the payments context's events: their type names read "payments.<Name>"."""


@dataclass(frozen=True, kw_only=True)
class AccountOpened(PaymentsEvent):
    currency: str
    credit_limit: Decimal

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> AccountOpened:
        return cls(**meta, currency=payload["currency"], credit_limit=Decimal(payload["credit_limit"]))


@dataclass(frozen=True, kw_only=True)
class CreditHeld(PaymentsEvent):
    order_id: str
    amount: Decimal

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> CreditHeld:
        return cls(**meta, order_id=payload["order_id"], amount=Decimal(payload["amount"]))


@dataclass(frozen=True, kw_only=True)
class CreditReleased(PaymentsEvent):
    order_id: str
    amount: Decimal

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> CreditReleased:
        return cls(**meta, order_id=payload["order_id"], amount=Decimal(payload["amount"]))


@dataclass(frozen=True, kw_only=True)
class CreditSpent(PaymentsEvent):
    order_id: str
    amount: Decimal

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> CreditSpent:
        return cls(**meta, order_id=payload["order_id"], amount=Decimal(payload["amount"]))


@dataclass(frozen=True, kw_only=True)
class PaymentAuthorized(PaymentsEvent):
    customer_id: str
    amount: Decimal
    currency: str

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> PaymentAuthorized:
        return cls(**meta, customer_id=payload["customer_id"], amount=Decimal(payload["amount"]),
                   currency=payload["currency"])


@dataclass(frozen=True, kw_only=True)
class PaymentDeclined(PaymentsEvent):
    customer_id: str
    amount: Decimal
    currency: str
    reason: str
    available: Decimal

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> PaymentDeclined:
        return cls(**meta, customer_id=payload["customer_id"], amount=Decimal(payload["amount"]),
                   currency=payload["currency"], reason=payload["reason"], available=Decimal(payload["available"]))


@dataclass(frozen=True, kw_only=True)
class PaymentVoided(PaymentsEvent):
    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> PaymentVoided:
        return cls(**meta)


@dataclass(frozen=True, kw_only=True)
class PaymentCaptured(PaymentsEvent):
    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> PaymentCaptured:
        return cls(**meta)
