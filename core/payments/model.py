"""The payments aggregates: an Account per customer and a Payment per order. Pure.

An account's credit is never over-committed: `hold` refuses more than is available, and two
orders holding credit of one customer at once conflict on the account's version, so one is
retried against the new figure. A Payment makes authorizing an order happen once, voiding
idempotent, and capturing possible only for what is held.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.kernel.aggregate import Aggregate, AggregateCodec, replayer
from core.kernel.errors import IllegalTransition, ValidationError
from core.kernel.fields import bounded_text
from core.kernel.messages import DomainEvent
from core.kernel.money import minor_unit, parse_currency, parse_unit_price
from core.payments.events import (
    AccountOpened,
    CreditHeld,
    CreditReleased,
    CreditSpent,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
)


def parse_money(value: Any, field: str, currency: str) -> Decimal:
    """A positive amount in the currency's minor unit: a decimal string like "250.00" (EUR)."""
    return parse_unit_price(value, field, parse_currency(currency))


def exact(amount: Decimal, currency: str) -> Decimal:
    """An amount already checked elsewhere (an order's total), with exactly the currency's decimals;
    more decimals than the currency has are refused, never rounded away."""
    places = minor_unit(currency)
    quantized = amount.quantize(Decimal(1).scaleb(-places))
    if quantized != amount or amount <= 0:
        raise ValidationError("amount", f"must be a positive {currency} amount with at most {places} decimals, "
                                        f"got {amount}")
    return quantized


def parse_customer(value: Any, field: str = "customer_id") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return bounded_text(value, field)


class Account(Aggregate):
    """A customer's credit: its limit, what orders hold, what captured payments spent."""

    def __init__(self, customer_id: str, *, currency: str = "", credit_limit: Decimal = Decimal(0),
                 held: dict[str, Decimal] | None = None, spent: dict[str, Decimal] | None = None,
                 version: int = 0, created_at: datetime | None = None, updated_at: datetime | None = None) -> None:
        super().__init__(customer_id, version)
        self.currency = currency
        self.credit_limit = credit_limit
        self.held = dict(held or {})
        self.spent = dict(spent or {})
        self.created_at = created_at
        self.updated_at = updated_at

    @classmethod
    def open(cls, customer_id: str, credit_limit: Decimal, currency: str, *, now: datetime,
             event_id: str) -> Account:
        account = cls(parse_customer(customer_id))
        account._record(AccountOpened(event_id=event_id, aggregate_id=customer_id, aggregate_version=1,
                                      occurred_at=now, currency=currency, credit_limit=exact(credit_limit, currency)))
        return account

    @property
    def available(self) -> Decimal:
        return self.credit_limit - sum(self.held.values(), Decimal(0)) - sum(self.spent.values(), Decimal(0))

    def copy(self) -> Account:
        clone = super().copy()
        clone.held, clone.spent = dict(self.held), dict(self.spent)
        return clone

    def hold(self, order_id: str, amount: Decimal, *, now: datetime, event_id: str) -> None:
        if amount > self.available:
            raise IllegalTransition(self.id, f"short of credit ({self.available} {self.currency} available)",
                                    f"hold {amount}", kind="account")
        self._record(CreditHeld(**self._meta(now, event_id), order_id=order_id, amount=amount))

    def release(self, order_id: str, *, now: datetime, event_id: str) -> None:
        if order_id in self.held:
            self._record(CreditReleased(**self._meta(now, event_id), order_id=order_id, amount=self.held[order_id]))

    def spend(self, order_id: str, *, now: datetime, event_id: str) -> None:
        if order_id in self.held:
            self._record(CreditSpent(**self._meta(now, event_id), order_id=order_id, amount=self.held[order_id]))

    def _meta(self, now: datetime, event_id: str) -> dict[str, Any]:
        return {"event_id": event_id, "aggregate_id": self.id, "aggregate_version": self.version + 1,
                "occurred_at": now}

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case AccountOpened(currency=currency, credit_limit=limit):
                self.currency, self.credit_limit, self.created_at = currency, limit, event.occurred_at
            case CreditHeld(order_id=order_id, amount=amount):
                self.held[order_id] = amount
            case CreditReleased(order_id=order_id):
                self.held.pop(order_id, None)
            case CreditSpent(order_id=order_id, amount=amount):
                self.held.pop(order_id, None)
                self.spent[order_id] = amount
            case _:
                raise ValueError(f"Account cannot apply {event.type_name}")
        self.version = event.aggregate_version
        self.updated_at = event.occurred_at


class PaymentStatus(StrEnum):
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    VOIDED = "VOIDED"
    CAPTURED = "CAPTURED"


class Payment(Aggregate):
    """One order's payment: authorized (credit held), declined (with why), voided or captured."""

    def __init__(self, order_id: str, *, customer_id: str = "", amount: Decimal = Decimal(0), currency: str = "",
                 status: PaymentStatus = PaymentStatus.AUTHORIZED, reason: str | None = None, version: int = 0,
                 created_at: datetime | None = None, updated_at: datetime | None = None) -> None:
        super().__init__(order_id, version)
        self.customer_id = customer_id
        self.amount = amount
        self.currency = currency
        self.status = status
        self.reason = reason
        self.created_at = created_at
        self.updated_at = updated_at

    @classmethod
    def authorize(cls, order_id: str, customer_id: str, amount: Decimal, currency: str, *, now: datetime,
                  event_id: str) -> Payment:
        payment = cls(order_id)
        payment._record(PaymentAuthorized(event_id=event_id, aggregate_id=order_id, aggregate_version=1,
                                          occurred_at=now, customer_id=customer_id, amount=amount, currency=currency))
        return payment

    @classmethod
    def decline(cls, order_id: str, customer_id: str, amount: Decimal, currency: str, *, reason: str,
                available: Decimal, now: datetime, event_id: str) -> Payment:
        payment = cls(order_id)
        payment._record(PaymentDeclined(event_id=event_id, aggregate_id=order_id, aggregate_version=1,
                                        occurred_at=now, customer_id=customer_id, amount=amount, currency=currency,
                                        reason=reason, available=available))
        return payment

    def void(self, *, now: datetime, event_id: str) -> bool:
        """Void; False (no event) when nothing is held. A captured payment cannot be voided."""
        if self.status is PaymentStatus.CAPTURED:
            raise IllegalTransition(self.id, self.status.value, "void", kind="payment")
        if self.status is not PaymentStatus.AUTHORIZED:
            return False
        self._record(PaymentVoided(event_id=event_id, aggregate_id=self.id, aggregate_version=self.version + 1,
                                   occurred_at=now))
        return True

    def capture(self, *, now: datetime, event_id: str) -> bool:
        """Capture; False (no event) when already captured. Declined or voided: IllegalTransition."""
        if self.status is PaymentStatus.CAPTURED:
            return False
        if self.status is not PaymentStatus.AUTHORIZED:
            raise IllegalTransition(self.id, self.status.value, "capture", kind="payment")
        self._record(PaymentCaptured(event_id=event_id, aggregate_id=self.id, aggregate_version=self.version + 1,
                                     occurred_at=now))
        return True

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case PaymentAuthorized(customer_id=customer, amount=amount, currency=currency):
                self.customer_id, self.amount, self.currency = customer, amount, currency
                self.status, self.created_at = PaymentStatus.AUTHORIZED, event.occurred_at
            case PaymentDeclined(customer_id=customer, amount=amount, currency=currency, reason=reason):
                self.customer_id, self.amount, self.currency = customer, amount, currency
                self.status, self.reason, self.created_at = PaymentStatus.DECLINED, reason, event.occurred_at
            case PaymentVoided():
                self.status = PaymentStatus.VOIDED
            case PaymentCaptured():
                self.status = PaymentStatus.CAPTURED
            case _:
                raise ValueError(f"Payment cannot apply {event.type_name}")
        self.version = event.aggregate_version
        self.updated_at = event.occurred_at


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _amounts(values: dict[str, Decimal]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items()}




ACCOUNT = AggregateCodec[Account](
    name="payments.Account",
    to_state=lambda a: {"customer_id": a.id, "currency": a.currency, "credit_limit": str(a.credit_limit),
                        "held": _amounts(a.held), "spent": _amounts(a.spent), "version": a.version,
                        "created_at": _time(a.created_at), "updated_at": _time(a.updated_at)},
    from_state=lambda d: Account(d["customer_id"], currency=d["currency"], credit_limit=Decimal(d["credit_limit"]),
                                 held={k: Decimal(v) for k, v in d["held"].items()},
                                 spent={k: Decimal(v) for k, v in d["spent"].items()}, version=int(d["version"]),
                                 created_at=_parse_time(d["created_at"]), updated_at=_parse_time(d["updated_at"])),
    replay=replayer(Account),
)

PAYMENT = AggregateCodec[Payment](
    name="payments.Payment",
    to_state=lambda p: {"order_id": p.id, "customer_id": p.customer_id, "amount": str(p.amount),
                        "currency": p.currency, "status": p.status.value, "reason": p.reason, "version": p.version,
                        "created_at": _time(p.created_at), "updated_at": _time(p.updated_at)},
    from_state=lambda d: Payment(d["order_id"], customer_id=d["customer_id"], amount=Decimal(d["amount"]),
                                 currency=d["currency"], status=PaymentStatus(d["status"]), reason=d["reason"],
                                 version=int(d["version"]), created_at=_parse_time(d["created_at"]),
                                 updated_at=_parse_time(d["updated_at"])),
    replay=replayer(Payment),
)

