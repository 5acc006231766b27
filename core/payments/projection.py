"""The payments context's projection: balances per customer and payments per order."""

from __future__ import annotations

from dataclasses import replace

from core.kernel.aggregate import Aggregate
from core.kernel.messages import DomainEvent
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
from core.payments.model import Account, Payment, PaymentStatus
from core.payments.queries import ACCOUNTS, PAYMENTS, AccountBalance, PaymentSummary
from ports.storage import ViewWriter


def project(views: ViewWriter, event: DomainEvent) -> None:
    match event:
        case AccountOpened(currency=currency, credit_limit=limit):
            zero = limit - limit
            views.put(ACCOUNTS, AccountBalance(customer_id=event.aggregate_id, currency=currency, credit_limit=limit,
                                               held=zero, spent=zero, created_at=event.occurred_at,
                                               updated_at=event.occurred_at))
        case CreditHeld(amount=amount) | CreditReleased(amount=amount) | CreditSpent(amount=amount):
            balance = views.get(ACCOUNTS, event.aggregate_id)
            if balance is None:
                raise ValueError(f"{event.type_name} for {event.aggregate_id} arrived before its AccountOpened")
            if isinstance(event, CreditHeld):
                balance = replace(balance, held=balance.held + amount)
            elif isinstance(event, CreditReleased):
                balance = replace(balance, held=balance.held - amount)
            else:
                balance = replace(balance, held=balance.held - amount, spent=balance.spent + amount)
            views.put(ACCOUNTS, replace(balance, updated_at=event.occurred_at))
        case PaymentAuthorized() | PaymentDeclined():
            declined = isinstance(event, PaymentDeclined)
            views.put(PAYMENTS, PaymentSummary(
                order_id=event.aggregate_id, customer_id=event.customer_id, amount=event.amount,
                currency=event.currency, status=PaymentStatus.DECLINED if declined else PaymentStatus.AUTHORIZED,
                reason=event.reason if isinstance(event, PaymentDeclined) else None,
                created_at=event.occurred_at, updated_at=event.occurred_at))
        case PaymentVoided() | PaymentCaptured():
            summary = views.get(PAYMENTS, event.aggregate_id)
            if summary is not None:
                status = PaymentStatus.VOIDED if isinstance(event, PaymentVoided) else PaymentStatus.CAPTURED
                views.put(PAYMENTS, replace(summary, status=status, updated_at=event.occurred_at))


def summarise(views: ViewWriter, aggregate: Aggregate) -> None:
    if isinstance(aggregate, Account) and aggregate.created_at and aggregate.updated_at:
        views.put(ACCOUNTS, AccountBalance(
            customer_id=aggregate.id, currency=aggregate.currency, credit_limit=aggregate.credit_limit,
            held=sum(aggregate.held.values(), aggregate.credit_limit * 0),
            spent=sum(aggregate.spent.values(), aggregate.credit_limit * 0),
            created_at=aggregate.created_at, updated_at=aggregate.updated_at))
    elif isinstance(aggregate, Payment) and aggregate.created_at and aggregate.updated_at:
        views.put(PAYMENTS, PaymentSummary(
            order_id=aggregate.id, customer_id=aggregate.customer_id, amount=aggregate.amount,
            currency=aggregate.currency, status=aggregate.status, reason=aggregate.reason,
            created_at=aggregate.created_at, updated_at=aggregate.updated_at))
