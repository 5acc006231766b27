"""The Order aggregate and its value objects: invariants, lifecycle, events, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.kernel.errors import IllegalTransition, ValidationError
from core.kernel.messages import event_from_dict
from core.kernel.money import Money
from core.orders.events import OrderApproved, OrderCancelled, OrderPlaced, OrderRejected, OrderShipped
from core.orders.model import MAX_LINES, Order, OrderLine, OrderStatus, merge_lines

T0 = datetime(2026, 1, 1, tzinfo=UTC)
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
currencies = st.sampled_from(["EUR", "USD", "JPY"])


def line(sku: str = "A", qty: int = 1, price: str = "9.99", currency: str = "EUR") -> OrderLine:
    return OrderLine(sku, qty, Money(Decimal(price), currency))


def placed(*lines: OrderLine, currency: str = "EUR") -> Order:
    return Order.place(order_id="o-1", customer_id="c-1", currency=currency, lines=lines or (line(),),
                       now=T0, event_id="e-1")


# -- money ---------------------------------------------------------------------------------------

@given(amounts, amounts, currencies)
def test_money_adds_exactly_in_one_currency(a: Decimal, b: Decimal, currency: str) -> None:
    assert (Money(a, currency) + Money(b, currency)).amount == a + b


@given(amounts, st.integers(1, 1000))
def test_money_times_a_quantity_is_exact(price: Decimal, quantity: int) -> None:
    assert Money(price, "EUR").times(quantity).amount == price * quantity


def test_money_refuses_to_add_another_currency() -> None:
    with pytest.raises(ValidationError, match="cannot add USD to EUR"):
        Money(Decimal(1), "EUR") + Money(Decimal(1), "USD")


@pytest.mark.parametrize("currency", ["eur", "EURO", "", "E1R", "EUR\n"])
def test_money_needs_a_three_letter_currency(currency: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money(Decimal(1), currency)
    assert info.value.field == "currency"


# -- invariants ----------------------------------------------------------------------------------

def test_an_order_needs_at_least_one_line() -> None:
    with pytest.raises(ValidationError) as info:
        Order.place(order_id="o", customer_id="c", currency="EUR", lines=(), now=T0, event_id="e")
    assert info.value.field == "lines"


@pytest.mark.parametrize("quantity", [0, -1, 1001])
def test_quantity_must_be_1_to_1000(quantity: int) -> None:
    with pytest.raises(ValidationError, match=r"1\.\.1000") as info:
        line(qty=quantity)
    assert info.value.field == "quantity"


@pytest.mark.parametrize("quantity", [1, 1000])
def test_quantity_bounds_are_allowed(quantity: int) -> None:
    assert placed(line(qty=quantity)).lines[0].quantity == quantity


def test_at_most_100_lines() -> None:
    lines = [line(sku=f"S{i}") for i in range(MAX_LINES + 1)]
    with pytest.raises(ValidationError, match="at most 100 lines"):
        placed(*lines)
    assert len(placed(*lines[:MAX_LINES]).lines) == MAX_LINES


def test_one_currency_per_order() -> None:
    with pytest.raises(ValidationError, match="priced in USD, the order in EUR"):
        placed(line(sku="A"), line(sku="B", currency="USD"))


@pytest.mark.parametrize("price", ["0", "-1.00"])
def test_unit_price_must_be_positive(price: str) -> None:
    with pytest.raises(ValidationError) as info:
        line(price=price)
    assert info.value.field == "unit_price"


def test_the_same_sku_twice_is_merged_into_one_line() -> None:
    order = placed(line("A", 2), line("B", 1), line("A", 3))
    assert [(ln.sku, ln.quantity) for ln in order.lines] == [("A", 5), ("B", 1)]


def test_the_same_sku_with_two_prices_is_refused() -> None:
    with pytest.raises(ValidationError, match="appears twice"):
        placed(line("A", 1, "1.00"), line("A", 1, "2.00"))


@given(st.lists(st.tuples(st.sampled_from("ABCDE"), st.integers(1, 100)), min_size=1, max_size=30))
def test_merging_keeps_each_skus_total_quantity_and_first_seen_order(pairs: list[tuple[str, int]]) -> None:
    merged = merge_lines((line(sku, qty) for sku, qty in pairs), "EUR")
    expected: dict[str, int] = {}
    for sku, qty in pairs:
        expected[sku] = expected.get(sku, 0) + qty
    assert [(ln.sku, ln.quantity) for ln in merged] == list(expected.items())


@given(st.lists(st.tuples(st.sampled_from("ABCDEFGH"), st.integers(1, 100), amounts), min_size=1, max_size=20,
                unique_by=lambda t: t[0]))
def test_the_order_total_is_the_exact_sum_of_its_lines(items: list[tuple[str, int, Decimal]]) -> None:
    order = placed(*(OrderLine(sku, qty, Money(price, "EUR")) for sku, qty, price in items))
    assert order.total == Money(sum((price * qty for _, qty, price in items), Decimal(0)), "EUR")


# -- lifecycle -----------------------------------------------------------------------------------

ACTIONS = {
    "approve": lambda o, n: o.approve(now=T0 + timedelta(seconds=n), event_id=f"e{n}"),
    "reject": lambda o, n: o.reject("no stock", now=T0 + timedelta(seconds=n), event_id=f"e{n}"),
    "cancel": lambda o, n: o.cancel("changed mind", now=T0 + timedelta(seconds=n), event_id=f"e{n}"),
    "ship": lambda o, n: o.ship(now=T0 + timedelta(seconds=n), event_id=f"e{n}"),
}
ALLOWED = {
    (OrderStatus.PENDING, "approve"): OrderStatus.APPROVED,
    (OrderStatus.PENDING, "reject"): OrderStatus.REJECTED,
    (OrderStatus.PENDING, "cancel"): OrderStatus.CANCELLED,
    (OrderStatus.APPROVED, "cancel"): OrderStatus.CANCELLED,
    (OrderStatus.APPROVED, "ship"): OrderStatus.SHIPPED,
}


@given(st.lists(st.sampled_from(sorted(ACTIONS)), max_size=8))
def test_the_state_machine_allows_exactly_the_documented_transitions(actions: list[str]) -> None:
    order = placed()
    for n, action in enumerate(actions, start=1):
        before, version = order.status, order.version
        target = ALLOWED.get((before, action))
        if target is None:
            with pytest.raises(IllegalTransition) as info:
                ACTIONS[action](order, n)
            assert (info.value.aggregate_id, info.value.state, info.value.action) == ("o-1", before.value, action)
            assert (order.status, order.version) == (before, version)
        else:
            ACTIONS[action](order, n)
            assert (order.status, order.version) == (target, version + 1)
    assert Order.from_events(order.pending_events).status == order.status


def test_an_illegal_transition_names_the_order_its_state_and_the_action() -> None:
    order = placed()
    order.cancel("x", now=T0, event_id="e2")
    with pytest.raises(IllegalTransition, match="order o-1 is CANCELLED: cannot ship"):
        order.ship(now=T0, event_id="e3")


def test_each_change_records_an_event_with_id_aggregate_version_and_time() -> None:
    order = placed()
    order.approve(now=T0 + timedelta(seconds=5), event_id="e-2")
    order.ship(now=T0 + timedelta(seconds=9), event_id="e-3")
    assert [type(e) for e in order.pending_events] == [OrderPlaced, OrderApproved, OrderShipped]
    assert [(e.event_id, e.aggregate_id, e.aggregate_version) for e in order.pending_events] == [
        ("e-1", "o-1", 1), ("e-2", "o-1", 2), ("e-3", "o-1", 3)]
    assert order.pending_events[2].occurred_at == T0 + timedelta(seconds=9)


@pytest.mark.parametrize("make", [
    lambda o: o.reject("out of stock", now=T0, event_id="e2"),
    lambda o: o.cancel("changed mind", now=T0, event_id="e2"),
])
def test_reasons_are_kept(make) -> None:
    order = placed()
    make(order)
    assert order.reason in ("out of stock", "changed mind")
    assert isinstance(order.pending_events[-1], OrderRejected | OrderCancelled)


def test_a_blank_reason_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        placed().cancel("  ", now=T0, event_id="e2")
    assert info.value.field == "reason"


def test_events_round_trip_through_their_wire_form() -> None:
    order = placed(line("A", 2, "1.10"), line("B", 1, "3"))
    order.reject("no stock", now=T0, event_id="e-2")
    for event in order.pending_events:
        assert event_from_dict(event.to_dict()) == event


def test_replaying_the_events_rebuilds_the_same_order() -> None:
    order = placed(line("A", 2), line("B", 3))
    order.approve(now=T0, event_id="e-2")
    rebuilt = Order.from_events(order.pending_events)
    assert (rebuilt.id, rebuilt.customer_id, rebuilt.lines, rebuilt.status, rebuilt.version) == (
        order.id, order.customer_id, order.lines, order.status, order.version)


def test_a_copy_is_private_it_shares_no_pending_events_with_the_original() -> None:
    order = placed()
    clone = order.copy()
    clone.approve(now=T0, event_id="e-2")
    assert (order.status, order.version, len(order.pending_events)) == (OrderStatus.PENDING, 1, 1)
    assert (clone.status, clone.version, len(clone.pending_events)) == (OrderStatus.APPROVED, 2, 2)
