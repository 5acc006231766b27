"""The CLI with every bad field at once and with money its currency cannot hold: one line on
stderr, exit 2; and money shown in fixed point."""

from __future__ import annotations

import io
import json

import pytest

import bootstrap
from adapters.inbound.cli import main as cli
from tests.unit.app_fixtures import memory_app


@pytest.fixture
def app() -> bootstrap.Application:
    return memory_app()


def run(app: bootstrap.Application, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), build=bootstrap.build, describe_config=bootstrap.describe_config,
                   extra=bootstrap.EXTRA_COMMANDS, app=app, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_every_bad_field_is_named_on_one_line_with_exit_2(app: bootstrap.Application) -> None:
    code, out, err = run(app, "place", "--customer", " ", "--currency", "euro", "--item", "SKU-1:0:9.99")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("orderhex: error: ")
    for part in ("customer_id: ", "currency: ", "lines[0].quantity: SKU-1: must be 1..1000, got 0"):
        assert part in err


@pytest.mark.parametrize(("currency", "item", "message"), [
    ("EUR", "SKU-1:2:9.999", "lines[0].unit_price: SKU-1: EUR has at most 2 decimals, got 9.999"),
    ("EUR", "SKU-1:2:0.0000001", "EUR has at most 2 decimals, got 0.0000001"),
    ("JPY", "SKU-1:2:5.5", "JPY has no decimals, got 5.5"),
    ("EUR", "SKU-1:2:1e3", "without an exponent: got '1e3'"),
])
def test_a_price_its_currency_cannot_hold_is_refused(app: bootstrap.Application, currency: str, item: str,
                                                     message: str) -> None:
    code, _, err = run(app, "place", "--customer", "c-1", "--currency", currency, "--item", item)
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize(("currency", "price", "unit_price", "total"), [
    ("EUR", "1000", "1000.00", "2000.00"), ("EUR", "9.9", "9.90", "19.80"), ("JPY", "500", "500", "1000"),
    ("KWD", "1.5", "1.500", "3.000"),
])
def test_money_is_shown_in_fixed_point_with_the_currencys_decimals(
        app: bootstrap.Application, currency: str, price: str, unit_price: str, total: str) -> None:
    code, out, err = run(app, "place", "--customer", "c-1", "--currency", currency, "--item", f"SKU-1:2:{price}",
                         "--json")
    assert code == 0, err
    order_id = json.loads(out)["order_id"]
    code, out, _ = run(app, "show", order_id, "--json")
    shown = json.loads(out)
    assert (shown["lines"][0]["unit_price"], shown["total"]) == (unit_price, total)
    code, out, _ = run(app, "show", order_id)
    assert f"{total} {currency}" in out and "E+" not in out
