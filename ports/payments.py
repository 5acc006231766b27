"""Ports of the payments context: the use cases every inbound adapter drives."""

from __future__ import annotations

from typing import Any, Protocol

from core.payments.commands import PaymentsCommand
from core.payments.queries import AccountBalance, AccountPage, GetAccount, GetPayment, ListAccounts, PaymentSummary


class Payments(Protocol):
    """The payments use cases.

    Contract:
    - `send(OpenAccount)` opens a customer's account (False, no change, if it is open);
      `send(AuthorizePayment)` holds the amount of the customer's credit for the order or declines
      with the reason and the available credit (an AuthorizationOutcome; a customer without an
      account gets one with the default limit; a second request for the order returns the first
      outcome); `send(VoidPayment)` gives held credit back (again: False, no effect; a captured
      payment: IllegalTransition); `send(CapturePayment)` takes it (NotFound for an unknown order,
      IllegalTransition for a declined or voided payment).
    - Credit is never over-committed, whatever runs concurrently.
    - `account` and `payment` raise NotFound; `list_accounts` pages accounts.
    - `message_id`, where given, makes the command's effect happen at most once.
    """

    def send(self, command: PaymentsCommand, message_id: str | None = None) -> Any: ...

    def account(self, query: GetAccount) -> AccountBalance: ...

    def list_accounts(self, query: ListAccounts) -> AccountPage: ...

    def payment(self, query: GetPayment) -> PaymentSummary: ...


class Credit(Protocol):
    """What the orders context asks of payments (its overview, the checkout's credit check).

    Contract:
    - `account(customer_id)` returns the customer's credit, None when they have no account yet.
    - `payment(order_id)` returns the order's payment, None when payments never saw the order.
    - `within`, where given, is the time left in seconds for the answer: an answer that cannot come
      in time raises DeadlineExceeded (an Unavailable) rather than arrive late.
    - An unreachable payments service raises Unavailable (CircuitOpen, when its breaker rejects the call).
    """

    def account(self, customer_id: str, *, within: float | None = None) -> AccountBalance | None: ...

    def payment(self, order_id: str, *, within: float | None = None) -> PaymentSummary | None: ...
