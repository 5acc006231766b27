"""Use cases of the payments context, and its reactions to the orders and shipping contexts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from core.kernel.errors import NotFound
from core.orders.events import OrderCancelled, OrderPlaced, OrderRejected
from core.payments.commands import (
    AuthorizationOutcome,
    AuthorizePayment,
    CapturePayment,
    OpenAccount,
    VoidPayment,
)
from core.payments.model import ACCOUNT, PAYMENT, Account, Payment, PaymentStatus, exact
from core.shipping.events import ShipmentDispatched
from ports.storage import UnitOfWork

Now = Callable[[], datetime]
NewId = Callable[[], str]
# A customer without an account gets one with this limit at their first payment (a setting).
DEFAULT_CREDIT_LIMIT = Decimal("1000")


def open_account(command: OpenAccount, uow: UnitOfWork, now: Now, new_id: NewId) -> bool:
    """Open the customer's account; False (no change) if it is already open."""
    with uow:
        accounts = uow.repository(ACCOUNT)
        if accounts.get(command.customer_id) is not None:
            return False
        accounts.add(Account.open(command.customer_id, command.credit_limit, command.currency, now=now(),
                                  event_id=new_id()))
        uow.commit()
    return True


def authorize_payment(command: AuthorizePayment, uow: UnitOfWork, now: Now, new_id: NewId,
                      default_credit_limit: Decimal = DEFAULT_CREDIT_LIMIT) -> AuthorizationOutcome:
    """Hold the amount of the customer's credit for the order, or decline saying why and what is
    available. A second request for one order gets the first one's outcome."""
    amount = exact(command.amount, command.currency)
    with uow:
        payments = uow.repository(PAYMENT)
        existing = payments.get(command.order_id)
        if existing is not None:
            return _outcome(existing, None)
        accounts = uow.repository(ACCOUNT)
        account = accounts.get(command.customer_id)
        if account is None:
            account = Account.open(command.customer_id, exact(default_credit_limit, command.currency),
                                   command.currency, now=now(), event_id=new_id())
            accounts.add(account)
        if account.currency != command.currency:
            reason = f"the account is in {account.currency}, the payment in {command.currency}"
        elif amount > account.available:
            reason = f"insufficient credit: {amount} {command.currency} asked, {account.available} available"
        else:
            reason = None
        if reason is None:
            account.hold(command.order_id, amount, now=now(), event_id=new_id())
            payment = Payment.authorize(command.order_id, command.customer_id, amount, command.currency, now=now(),
                                        event_id=new_id())
        else:
            payment = Payment.decline(command.order_id, command.customer_id, amount, command.currency,
                                      reason=reason, available=account.available, now=now(), event_id=new_id())
        payments.add(payment)
        uow.commit()
    return _outcome(payment, account)


def void_payment(command: VoidPayment, uow: UnitOfWork, now: Now, new_id: NewId) -> bool:
    """Give the order's held credit back; True if it was voided now, False if nothing was held."""
    with uow:
        payment = uow.repository(PAYMENT).get(command.order_id)
        if payment is None or payment.status is not PaymentStatus.AUTHORIZED:
            if payment is not None:
                payment.void(now=now(), event_id=new_id())  # refuses a captured payment
            return False
        account = uow.repository(ACCOUNT).get(payment.customer_id)
        if account is not None:
            account.release(command.order_id, now=now(), event_id=new_id())
        payment.void(now=now(), event_id=new_id())
        uow.commit()
    return True


def capture_payment(command: CapturePayment, uow: UnitOfWork, now: Now, new_id: NewId) -> bool:
    """Take the order's held credit; True if captured now, False if it already was."""
    with uow:
        payment = uow.repository(PAYMENT).get(command.order_id)
        if payment is None:
            raise NotFound("payment", command.order_id)
        if not payment.capture(now=now(), event_id=new_id()):
            return False
        account = uow.repository(ACCOUNT).get(payment.customer_id)
        if account is not None:
            account.spend(command.order_id, now=now(), event_id=new_id())
        uow.commit()
    return True


def authorize_for_placed_order(event: OrderPlaced, uow: UnitOfWork, now: Now, new_id: NewId,
                               default_credit_limit: Decimal = DEFAULT_CREDIT_LIMIT) -> None:
    """Choreography: an order placed in the orders context asks for its total here."""
    total = sum((line.unit_price * line.quantity for line in event.lines), Decimal(0))
    command = AuthorizePayment(order_id=event.aggregate_id, customer_id=event.customer_id, amount=total,
                               currency=event.currency)
    authorize_payment(command, uow, now, new_id, default_credit_limit)


def void_for_ended_order(event: OrderRejected | OrderCancelled, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    """Choreography: an order rejected or cancelled gives its held credit back."""
    void_payment(VoidPayment(order_id=event.aggregate_id), uow, now, new_id)


def capture_for_dispatched_shipment(event: ShipmentDispatched, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    """An order's shipment left the warehouse: its payment is taken."""
    with uow:
        known = uow.repository(PAYMENT).get(event.aggregate_id) is not None
    if known:
        capture_payment(CapturePayment(order_id=event.aggregate_id), uow, now, new_id)


def _outcome(payment: Payment, account: Account | None) -> AuthorizationOutcome:
    available = str(account.available) if account is not None else None
    return AuthorizationOutcome(payment.id, payment.status is not PaymentStatus.DECLINED, payment.reason, available)


COMMAND_HANDLERS = {OpenAccount: open_account, AuthorizePayment: authorize_payment, VoidPayment: void_payment,
                    CapturePayment: capture_payment}
EVENT_HANDLERS = {
    OrderPlaced: [authorize_for_placed_order],
    OrderRejected: [void_for_ended_order],
    OrderCancelled: [void_for_ended_order],
    ShipmentDispatched: [capture_for_dispatched_shipment],
}
