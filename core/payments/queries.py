"""Queries of the payments context and the read-side shapes they return (CQRS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.kernel.messages import Query
from core.kernel.money import format_amount
from core.kernel.views import Page, View, sort_time
from core.payments.model import PaymentStatus

MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class PaymentsQuery(Query, context="payments"):
    """Base of the payments context's queries."""


@dataclass(frozen=True, kw_only=True)
class GetAccount(PaymentsQuery):
    customer_id: str


@dataclass(frozen=True, kw_only=True)
class ListAccounts(PaymentsQuery):
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class GetPayment(PaymentsQuery):
    order_id: str


@dataclass(frozen=True, kw_only=True)
class AccountBalance:
    """A customer's credit as a person reads it."""

    customer_id: str
    currency: str
    credit_limit: Decimal
    held: Decimal
    spent: Decimal
    created_at: datetime
    updated_at: datetime

    @property
    def available(self) -> Decimal:
        return self.credit_limit - self.held - self.spent

    def to_json(self) -> dict[str, Any]:
        money = {name: format_amount(getattr(self, name), self.currency)
                 for name in ("credit_limit", "held", "spent", "available")}
        return {"customer_id": self.customer_id, "currency": self.currency, **money,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountBalance:
        return cls(customer_id=data["customer_id"], currency=data["currency"],
                   credit_limit=Decimal(data["credit_limit"]), held=Decimal(data["held"]),
                   spent=Decimal(data["spent"]), created_at=datetime.fromisoformat(data["created_at"]),
                   updated_at=datetime.fromisoformat(data["updated_at"]))


@dataclass(frozen=True, kw_only=True)
class PaymentSummary:
    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    status: PaymentStatus
    reason: str | None
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "customer_id": self.customer_id,
                "amount": format_amount(self.amount, self.currency), "currency": self.currency,
                "status": self.status.value, "reason": self.reason, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PaymentSummary:
        return cls(order_id=data["order_id"], customer_id=data["customer_id"], amount=Decimal(data["amount"]),
                   currency=data["currency"], status=PaymentStatus(data["status"]), reason=data.get("reason"),
                   created_at=datetime.fromisoformat(data["created_at"]),
                   updated_at=datetime.fromisoformat(data["updated_at"]))


AccountPage = Page[AccountBalance]

ACCOUNTS = View[AccountBalance](
    name="payments.accounts",
    key=lambda a: a.customer_id,
    sort=lambda a: sort_time(a.created_at),
    filters=("currency",),
    tags=lambda a: (a.currency,),
    to_json=AccountBalance.to_json,
    from_json=AccountBalance.from_json,
)

PAYMENTS = View[PaymentSummary](
    name="payments.payments",
    key=lambda p: p.order_id,
    sort=lambda p: sort_time(p.created_at),
    filters=("customer_id", "status"),
    tags=lambda p: (p.customer_id, p.status.value),
    to_json=PaymentSummary.to_json,
    from_json=PaymentSummary.from_json,
)
