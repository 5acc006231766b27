"""The payments service: the context's descriptor for the runtime, and its inbound port over it."""

from __future__ import annotations

from typing import Any

from core.kernel.errors import NotFound, ValidationError
from core.orders.events import OrderCancelled, OrderPlaced, OrderRejected
from core.payments.commands import AuthorizePayment, CapturePayment, OpenAccount, PaymentsCommand, VoidPayment
from core.payments.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from core.payments.model import ACCOUNT, PAYMENT
from core.payments.projection import project, summarise
from core.payments.queries import (
    ACCOUNTS,
    MAX_PAGE,
    PAYMENTS,
    AccountBalance,
    AccountPage,
    GetAccount,
    GetPayment,
    ListAccounts,
    PaymentSummary,
)
from core.payments.wire import (
    authorize_payment_from_json,
    capture_payment_from_json,
    open_account_from_json,
    void_payment_from_json,
)
from core.runtime.context import Context
from core.runtime.service import Service

CONTEXT = Context(
    name="payments",
    aggregates=(ACCOUNT, PAYMENT),
    command_handlers=COMMAND_HANDLERS,
    event_handlers=EVENT_HANDLERS,
    views=(ACCOUNTS, PAYMENTS),
    project=project,
    summarise=summarise,
    readers={OpenAccount: open_account_from_json, AuthorizePayment: authorize_payment_from_json,
             VoidPayment: void_payment_from_json, CapturePayment: capture_payment_from_json},
)

# In orchestration mode (saga.mode) the place-order and cancel-order sagas send the commands that
# these reactions would otherwise run: reacting as well would act twice on one order.
CHOREOGRAPHY_ONLY = (OrderPlaced, OrderRejected, OrderCancelled)


def context_for(mode: str) -> Context:
    """The payments context for a saga mode: with its reactions to orders' events in choreography
    and manual mode (it authorizes and voids payments as orders' events arrive), without them in orchestration."""
    return CONTEXT.without_reactions(CHOREOGRAPHY_ONLY) if mode == "orchestration" else CONTEXT


class PaymentsService:
    """The Payments port: commands through the payments service's bus, queries on its views."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def send(self, command: PaymentsCommand, message_id: str | None = None) -> Any:
        return self._service.send(command, message_id)

    def account(self, query: GetAccount) -> AccountBalance:
        found = self._service.document(ACCOUNTS, query.customer_id)
        if found is None:
            raise NotFound("account", query.customer_id)
        return found

    def list_accounts(self, query: ListAccounts) -> AccountPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be 1..{MAX_PAGE}, got {query.limit}")
        return self._service.list(ACCOUNTS, (None,), query.cursor, query.limit)

    def payment(self, query: GetPayment) -> PaymentSummary:
        found = self._service.document(PAYMENTS, query.order_id)
        if found is None:
            raise NotFound("payment", query.order_id)
        return found
