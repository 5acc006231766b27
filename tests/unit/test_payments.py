"""The payments context through its service: credit held, declined with why, voided once,
captured only when held, never over-committed (hypothesis against a simple model)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.storage import MemoryStorage
from core.kernel.errors import IllegalTransition, InvalidFields, NotFound, ValidationError
from core.orders.events import OrderPlaced, PlacedLine
from core.payments.commands import AuthorizePayment, CapturePayment, OpenAccount, VoidPayment
from core.payments.model import ACCOUNT, PaymentStatus
from core.payments.queries import GetAccount, GetPayment
from core.payments.service import CONTEXT, PaymentsService
from core.payments.wire import authorize_payment_from_json, open_account_from_json
from core.runtime.service import Service


def payments(mode: str = "state", default: str = "100") -> tuple[PaymentsService, Service, MemoryStorage]:
    storage = MemoryStorage(mode, 3)
    service = Service(CONTEXT, storage=storage, feed=RingBufferFeed(100), clock=SteppingClock(),
                      ids=SequentialIds("p"), events_topic="orderhex.payments.events",
                      settings={"default_credit_limit": Decimal(default)})
    return PaymentsService(service), service, storage


def authorize(order: str, amount: str, customer: str = "c-1", currency: str = "EUR") -> AuthorizePayment:
    return AuthorizePayment(order_id=order, customer_id=customer, amount=Decimal(amount), currency=currency)


def test_an_authorization_holds_credit_and_a_decline_says_why_and_what_is_available() -> None:
    port, _, _ = payments()
    port.send(OpenAccount(customer_id="c-1", credit_limit=Decimal("50.00"), currency="EUR"))
    assert port.send(authorize("o-1", "30.00")).authorized
    declined = port.send(authorize("o-2", "25.00"))
    assert not declined.authorized and declined.reason == "insufficient credit: 25.00 EUR asked, 20.00 available"
    assert declined.available == "20.00"
    balance = port.account(GetAccount(customer_id="c-1"))
    assert balance.to_json()["available"] == "20.00" and balance.to_json()["held"] == "30.00"
    assert port.payment(GetPayment(order_id="o-2")).status is PaymentStatus.DECLINED


def test_an_unknown_customer_gets_the_configured_default_limit_in_the_payments_currency() -> None:
    port, _, _ = payments(default="40")
    assert port.send(authorize("o-1", "500", customer="new", currency="JPY")).authorized is False
    balance = port.account(GetAccount(customer_id="new"))
    assert (balance.currency, balance.to_json()["credit_limit"]) == ("JPY", "40")


def test_an_account_in_another_currency_declines() -> None:
    port, _, _ = payments()
    port.send(OpenAccount(customer_id="c-1", credit_limit=Decimal("50.00"), currency="EUR"))
    outcome = port.send(authorize("o-1", "5.00", currency="USD"))
    assert not outcome.authorized and outcome.reason == "the account is in EUR, the payment in USD"


def test_authorizing_twice_is_one_hold_voiding_twice_is_harmless_and_capture_needs_a_hold() -> None:
    port, _, storage = payments()
    port.send(authorize("o-1", "10.00"))
    port.send(authorize("o-1", "10.00"))
    assert port.account(GetAccount(customer_id="c-1")).held == Decimal("10.00")
    assert port.send(VoidPayment(order_id="o-1")) is True
    assert port.send(VoidPayment(order_id="o-1")) is False
    assert port.send(VoidPayment(order_id="never")) is False
    with pytest.raises(IllegalTransition):
        port.send(CapturePayment(order_id="o-1"))
    with pytest.raises(NotFound):
        port.send(CapturePayment(order_id="never"))
    port.send(authorize("o-2", "7.00"))
    assert port.send(CapturePayment(order_id="o-2")) is True
    assert port.send(CapturePayment(order_id="o-2")) is False
    with pytest.raises(IllegalTransition, match="payment o-2 is CAPTURED: cannot void"):
        port.send(VoidPayment(order_id="o-2"))
    account = storage.committer.load(ACCOUNT, "c-1")
    assert account is not None and (account.held, account.spent) == ({}, {"o-2": Decimal("7.00")})


def test_amounts_with_more_decimals_than_the_currency_has_are_refused_naming_every_bad_field() -> None:
    with pytest.raises(ValidationError, match="EUR has at most 2 decimals"):
        open_account_from_json({"customer_id": "c-1", "credit_limit": "9.999", "currency": "EUR"})
    with pytest.raises(InvalidFields) as info:
        authorize_payment_from_json({"order_id": "", "customer_id": "", "amount": 12, "currency": "eur"})
    assert [e.field for e in info.value.errors] == ["order_id", "customer_id", "currency", "amount"]


def test_an_order_placed_elsewhere_is_authorized_for_its_total_once() -> None:
    port, service, _ = payments()
    placed = OrderPlaced(event_id="e-1", aggregate_id="o-9", aggregate_version=1,
                         occurred_at=datetime(2026, 1, 1, tzinfo=UTC), customer_id="c-7", currency="EUR",
                         lines=(PlacedLine("A", 3, Decimal("2.50")), PlacedLine("B", 1, Decimal("0.99"))))
    assert service.react(placed, "m-1") == 1 and service.react(placed, "m-1") == 0
    payment = port.payment(GetPayment(order_id="o-9"))
    assert (payment.amount, payment.status) == (Decimal("8.49"), PaymentStatus.AUTHORIZED)


operations = st.lists(st.one_of(
    st.tuples(st.just("authorize"), st.integers(0, 5), st.sampled_from(["a", "b"]), st.integers(1, 40)),
    st.tuples(st.just("void"), st.integers(0, 5)),
    st.tuples(st.just("capture"), st.integers(0, 5)),
), max_size=30)


@settings(max_examples=60, deadline=None)
@given(ops=operations, mode=st.sampled_from(["state", "events"]))
def test_random_sequences_match_a_simple_model_and_credit_is_never_over_committed(ops: list, mode: str) -> None:
    port, _, storage = payments(mode, default="60")
    held: dict[str, tuple[str, int]] = {}
    spent: dict[str, tuple[str, int]] = {}
    seen: set[str] = set()
    for op in ops:
        order = f"o-{op[1]}"
        if op[0] == "authorize":
            customer, amount = op[2], op[3]
            outcome = port.send(authorize(order, f"{amount}.00", customer=customer))
            if order not in seen:
                seen.add(order)
                used = sum(a for c, a in [*held.values(), *spent.values()] if c == customer)
                assert outcome.authorized is (used + amount <= 60)
                if outcome.authorized:
                    held[order] = (customer, amount)
        elif op[0] == "void":
            if order in spent:
                with pytest.raises(IllegalTransition):
                    port.send(VoidPayment(order_id=order))
            else:
                assert port.send(VoidPayment(order_id=order)) is (order in held)
                held.pop(order, None)
        elif order in held:
            assert port.send(CapturePayment(order_id=order)) is True
            spent[order] = held.pop(order)
        elif order in spent:
            assert port.send(CapturePayment(order_id=order)) is False
        elif order in seen:
            with pytest.raises(IllegalTransition):
                port.send(CapturePayment(order_id=order))
        else:
            with pytest.raises(NotFound):
                port.send(CapturePayment(order_id=order))
    for customer in ("a", "b"):
        account = storage.committer.load(ACCOUNT, customer)
        if account is None:
            continue
        assert account.available >= 0
        assert sum(account.held.values()) == sum(a for c, a in held.values() if c == customer)
        assert sum(account.spent.values()) == sum(a for c, a in spent.values() if c == customer)
        assert port.account(GetAccount(customer_id=customer)).available == account.available
