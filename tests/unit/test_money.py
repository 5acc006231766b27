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
    MAX_AMOUNT_DIGITS,
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
def test_an_orders_total_is_the_exact_sum_of_its_lines_or_the_order_is_refused(
        order: tuple[str, list[tuple[int, tuple[str, Decimal]]]]) -> None:
    currency, items = order
    lines = [OrderLine(f"S{n}", quantity, Money(price, currency)) for n, (quantity, (_, price)) in enumerate(items)]
    # The sum in whole minor units (integers), which nothing can round.
    minor = sum(quantity * int(price.scaleb(minor_unit(currency))) for quantity, (_, price) in items)
    exact = Decimal(minor).scaleb(-minor_unit(currency))
    if exact >= Decimal(10) ** MAX_AMOUNT_DIGITS:
        with pytest.raises(ValidationError, match=f"more than {MAX_AMOUNT_DIGITS} digits") as refused:
            Order.place(order_id="o", customer_id="c", currency=currency, lines=lines, now=T0, event_id="e")
        assert refused.value.field == "lines"
        return
    placed = Order.place(order_id="o", customer_id="c", currency=currency, lines=lines, now=T0, event_id="e")
    assert placed.total.amount == exact
    text = format_amount(placed.total.amount, currency)
    assert FIXED.fullmatch(text) and len(text.partition(".")[2]) == minor_unit(currency)
    summary = summarise(placed)
    assert summary.total == exact and str(summary.total) == text, "the read model prints it the same way"
    again = ORDER.from_state(ORDER.to_state(placed))
    assert again.total == placed.total
    assert [ln.unit_price for ln in again.lines] == [ln.unit_price for ln in placed.lines]


def _near_the_bound(last: str) -> list[OrderLine]:
    """MAX_QUANTITY units at the highest CLF price (999,999,999,999,999.9000 in all), and one more line."""
    top = Decimal(10**MAX_PRICE_DIGITS - 1) + Decimal("0.9999")
    return [OrderLine("TOP", MAX_QUANTITY, Money(top, "CLF")), OrderLine("LAST", 1, Money(Decimal(last), "CLF"))]


def test_the_largest_total_the_bound_allows_is_exact() -> None:
    placed = Order.place(order_id="o", customer_id="c", currency="CLF", lines=_near_the_bound("0.0999"), now=T0,
                         event_id="e")
    assert format_amount(placed.total.amount, "CLF") == "999999999999999.9999"
    assert len("999999999999999") == MAX_AMOUNT_DIGITS
    assert summarise(placed).total == placed.total.amount


def test_an_order_whose_total_passes_the_bound_is_refused_naming_its_lines() -> None:
    with pytest.raises(ValidationError, match=r"the order's total 1000000000000000\.0000 CLF has more than 15 "
                                              r"digits before the point") as refused:
        Order.place(order_id="o", customer_id="c", currency="CLF", lines=_near_the_bound("0.1000"), now=T0,
                    event_id="e")
    assert refused.value.field == "lines"


def test_money_refuses_arithmetic_that_would_round() -> None:
    with pytest.raises(ValidationError, match="cannot be computed exactly") as refused:
        Money(Decimal(10) ** 40, "EUR") + Money(Decimal("0.01"), "EUR")
    assert refused.value.field == "amount"
    with pytest.raises(ValidationError, match="cannot be computed exactly"):
        Money(Decimal("9e999999"), "EUR").times(1000)


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


@pytest.mark.parametrize("text", ["1e999999999", "9e999999", "1e-9999999", "NaN", "Infinity", "-Infinity", "sNaN",
                                  "-1.00", "0", "0.00", "1" * (MAX_PRICE_DIGITS + 1), "0.001", " 1.00", "1_000"])
def test_hostile_prices_are_refused_naming_the_field_without_computing_them(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_unit_price(text, "lines[0].unit_price", "EUR")
    assert caught.value.field == "lines[0].unit_price"


@given(CURRENCIES, st.text(alphabet="0123456789.", min_size=1, max_size=24))
def test_any_accepted_price_is_within_the_bounds_and_round_trips_exactly(currency: str, text: str) -> None:
    try:
        price = parse_unit_price(text, "unit_price", currency)
    except ValidationError:
        return
    assert 0 < price < Decimal(10) ** MAX_PRICE_DIGITS
    assert price.as_tuple().exponent == -minor_unit(currency)
    assert price == Decimal(text), "nothing was rounded"
    assert parse_unit_price(format_amount(price, currency), "unit_price", currency) == price
