"""Money precision: a price holds no more decimals than its currency's ISO 4217 minor unit, prints
in fixed point, round-trips through text exactly, and every order total is exact."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.kernel.errors import ValidationError
from core.kernel.money import (
    MAX_PRICE_DIGITS,
    MINOR_UNITS,
    Money,
    format_amount,
    minor_unit,
    parse_unit_price,
    unit_price_pattern,
)
from core.orders.model import MAX_LINES, MAX_QUANTITY, ORDER, Order, OrderLine, merge_lines
from core.orders.projection import summarise

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CURRENCIES = st.sampled_from(["EUR", "USD", "GBP", "XYZ", *sorted(MINOR_UNITS)])
FIXED = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@st.composite
def priced(draw: st.DrawFn, currency: str | None = None) -> tuple[str, Decimal]:
    """A currency and a valid unit price in it (any magnitude the domain allows)."""
    code = currency or draw(CURRENCIES)
    minor = draw(st.integers(1, 10 ** (MAX_PRICE_DIGITS + minor_unit(code)) - 1))
    return code, Decimal(minor).scaleb(-minor_unit(code))


def test_the_minor_units_are_iso_4217s() -> None:
    assert (minor_unit("JPY"), minor_unit("EUR"), minor_unit("KWD"), minor_unit("CLF")) == (0, 2, 3, 4)
    assert minor_unit("USD") == minor_unit("NEW") == 2, "any code not listed has 2 decimals"


@given(priced())
def test_a_price_prints_in_fixed_point_with_its_currencys_decimals_and_parses_back(price: tuple[str, Decimal]) -> None:
    currency, amount = price
    text = format_amount(amount, currency)
    assert FIXED.fullmatch(text), text
    assert len(text.partition(".")[2]) == minor_unit(currency)
    parsed = parse_unit_price(text, "unit_price", currency)
    assert parsed == amount and format_amount(parsed, currency) == text


@given(priced(), st.integers(1, 3))
def test_more_decimals_than_the_currency_has_are_refused(price: tuple[str, Decimal], extra: int) -> None:
    currency, amount = price
    finer = amount + Decimal(1).scaleb(-(minor_unit(currency) + extra))
    with pytest.raises(ValidationError, match=r"no decimals|at most . decimals"):
        parse_unit_price(f"{finer:f}", "unit_price", currency)
    with pytest.raises(ValidationError, match=r"no decimals|at most . decimals"):
        merge_lines([OrderLine("S", 1, Money(finer, currency))], currency)


@given(priced(), st.sampled_from(["e", "E"]))
def test_exponent_notation_is_refused(price: tuple[str, Decimal], e: str) -> None:
    currency, amount = price
    written = f"{amount.normalize():e}".replace("e", e)
    with pytest.raises(ValidationError, match="without an exponent"):
        parse_unit_price(written, "unit_price", currency)


@given(CURRENCIES, st.text(alphabet="0123456789.-+eE_ ", max_size=18))
def test_the_parser_accepts_exactly_what_the_price_pattern_matches(currency: str, text: str) -> None:
    matches = re.fullmatch(unit_price_pattern(minor_unit(currency)), text) is not None
    try:
        parse_unit_price(text, "unit_price", currency)
    except ValidationError:
        assert not matches, text
    else:
        assert matches, text


@settings(max_examples=200)
@given(CURRENCIES.flatmap(lambda c: st.tuples(st.just(c), st.lists(
    st.tuples(st.integers(1, MAX_QUANTITY), priced(c)), min_size=1, max_size=MAX_LINES))))
def test_an_orders_total_is_the_exact_sum_of_its_lines(
        order: tuple[str, list[tuple[int, tuple[str, Decimal]]]]) -> None:
    currency, items = order
    lines = [OrderLine(f"S{n}", quantity, Money(price, currency)) for n, (quantity, (_, price)) in enumerate(items)]
    placed = Order.place(order_id="o", customer_id="c", currency=currency, lines=lines, now=T0, event_id="e")
    exact = sum((price * quantity for quantity, (_, price) in items), Decimal(0))
    assert placed.total.amount == exact
    text = format_amount(placed.total.amount, currency)
    assert FIXED.fullmatch(text) and len(text.partition(".")[2]) == minor_unit(currency)
    summary = summarise(placed)
    assert summary.total == exact and str(summary.total) == text, "the read model prints it the same way"
    again = ORDER.from_state(ORDER.to_state(placed))
    assert again.total == placed.total
    assert [ln.unit_price for ln in again.lines] == [ln.unit_price for ln in placed.lines]


def test_the_largest_order_is_still_exact() -> None:
    top = Decimal(10**MAX_PRICE_DIGITS - 1) + Decimal("0.9999")
    lines = [OrderLine(f"S{n}", MAX_QUANTITY, Money(top, "CLF")) for n in range(MAX_LINES)]
    placed = Order.place(order_id="o", customer_id="c", currency="CLF", lines=lines, now=T0, event_id="e")
    assert placed.total.amount == top * MAX_QUANTITY * MAX_LINES
    assert format_amount(placed.total.amount, "CLF") == "99999999999999990.0000"


def test_money_refuses_arithmetic_that_would_round() -> None:
    with pytest.raises(ArithmeticError):
        Money(Decimal(10) ** 40, "EUR") + Money(Decimal("0.01"), "EUR")


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("1E+3", "EUR", "1000.00"), ("2E-7", "EUR", "0.0000002"), ("19.998", "EUR", "19.998"),
    ("5", "JPY", "5"), ("1.5", "KWD", "1.500"), ("0", "EUR", "0.00"),
])
def test_amounts_stored_before_the_rules_print_in_fixed_point_without_rounding(
        amount: str, currency: str, shown: str) -> None:
    assert format_amount(Decimal(amount), currency) == shown
    assert str(Money(Decimal(amount), currency)) == f"{shown} {currency}"


def test_an_order_stored_before_the_rules_loads_unchanged() -> None:
    placed = Order.place(order_id="o", customer_id="c", currency="EUR", lines=[OrderLine("S", 2, Money(Decimal(1),
                                                                                                    "EUR"))],
                         now=T0, event_id="e")
    state = ORDER.to_state(placed)
    state["lines"][0]["unit_price"] = "9.999"  # as an earlier version may have stored it
    legacy = ORDER.from_state(state)
    assert legacy.total == Money(Decimal("19.998"), "EUR") and str(legacy.total) == "19.998 EUR"


@given(priced())
def test_a_new_line_gets_exactly_its_currencys_decimals(price: tuple[str, Decimal]) -> None:
    currency, amount = price
    [line] = merge_lines([OrderLine("S", 1, Money(amount.normalize(), currency))], currency)
    assert line.unit_price.amount == amount
    assert line.unit_price.amount.as_tuple().exponent == -minor_unit(currency)
