"""Money: exact amounts in one currency, with no more decimals than the currency has (ISO 4217).

Shared by every context that handles amounts (orders price lines, payments hold credit), so an
amount is read, checked and shown the same way everywhere. Amounts travel as decimal strings in
the currency's minor unit ("9.99" EUR, "500" JPY), never as floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from core.kernel.errors import ValidationError

# Digits before the decimal point of a unit price (up to 999,999,999,999).
MAX_PRICE_DIGITS = 12
# Digits before the decimal point of an order's total (unit prices and credit limits stay within
# MAX_PRICE_DIGITS): up to 999,999,999,999,999. With at most 4 decimals (ISO 4217's largest minor unit) an
# amount has at most 19 significant digits, so Decimal's default 28-digit context (read models,
# available credit) adds a billion of them without rounding, and a client that reads amounts as
# doubles still keeps every whole unit exactly (2**53 > 10**15). Every store writes amounts as
# decimal text, which keeps them exactly. An order whose total would need more is refused.
MAX_AMOUNT_DIGITS = 15
_CURRENCY = re.compile(r"[A-Z]{3}")

# ISO 4217 minor units (how many decimals a currency's amounts have): every currency whose
# exponent is not 2 is listed; every other three-letter code gets DEFAULT_MINOR_UNIT. Unknown codes
# are not refused: 2 is right for every other ISO 4217 currency, and codes ISO adds later (VES,
# MRU, STN, SLE, ZWG were all 2) then work without a release. Keeping a currency register is a
# catalogue's job, not this service's; what this table guards is precision.
MINOR_UNITS: dict[str, int] = {
    # no minor unit
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # thousandths
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # ten-thousandths (units of account)
    "CLF": 4, "UYW": 4,
}
DEFAULT_MINOR_UNIT = 2


def parse_currency(value: Any, field: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValidationError(field, f"must be a three-letter ISO 4217 code like EUR, got {value!r}")
    return value


def minor_unit(currency: str) -> int:
    """How many decimals `currency`'s amounts have (ISO 4217): JPY 0, EUR 2, KWD 3."""
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNIT)


def unit_price_pattern(places: int) -> str:
    """The regular expression of a unit price in a currency with `places` decimals: a plain,
    positive decimal string (no sign, exponent, spaces or leading zeros), at most MAX_PRICE_DIGITS
    digits before the point and `places` after it. It is written for both Python (`fullmatch`) and
    JSON Schema (ECMA 262), so the request schema and the parser are one definition."""
    whole = f"[1-9][0-9]{{0,{MAX_PRICE_DIGITS - 1}}}"
    if places == 0:
        return f"^{whole}$"
    # Below 1: "0." then at most `places` digits, not all of them zeros.
    below_one = "|".join("0" * zeros + "[1-9]" + (f"[0-9]{{0,{places - 1 - zeros}}}" if zeros < places - 1 else "")
                         for zeros in range(places))
    return rf"^(?:{whole}(?:\.[0-9]{{1,{places}}})?|0\.(?:{below_one}))$"


_PRICE_PATTERNS = {places: re.compile(unit_price_pattern(places))
                   for places in {*MINOR_UNITS.values(), DEFAULT_MINOR_UNIT}}
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_EXPONENT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


def places_text(currency: str, places: int) -> str:
    return f"{currency} has no decimals" if places == 0 else f"{currency} has at most {places} decimals"


def parse_unit_price(value: Any, field: str, currency: str | None = None, sku: str | None = None) -> Decimal:
    """A unit price as the wire carries it: a decimal string, like "9.99" (EUR) or "500" (JPY),
    with no more decimals than the currency has. Returned with exactly the currency's decimals
    ("9.9" EUR -> Decimal("9.90")), so every amount derived from it prints in fixed point.

    Floats and JSON numbers are refused: money is never a float. With `currency` None (the
    order's own currency is invalid) only the form is checked; `sku` prefixes the messages."""
    if currency is None:
        amount = parse_amount(value, field)
        if amount <= 0:
            raise ValidationError(field, (f"{sku}: " if sku else "") + f"must be greater than 0, got {value}")
        return amount
    if not isinstance(value, str):
        raise ValidationError(field, f'must be a decimal string like "9.99", not {type(value).__name__} {value!r}')
    places = minor_unit(currency)
    pattern = _PRICE_PATTERNS.get(places) or re.compile(unit_price_pattern(places))
    if not pattern.fullmatch(value):
        raise ValidationError(field, (f"{sku}: " if sku else "") + _why_not_a_price(value, currency, places))
    return Decimal(value).quantize(Decimal(1).scaleb(-places))


def _why_not_a_price(value: str, currency: str | None, places: int | None) -> str:
    """The most helpful reason `value` is not a unit price (it failed the price pattern)."""
    if _EXPONENT.fullmatch(value):
        return f"must be written out in plain digits, without an exponent: got {value!r}"
    if not _DECIMAL.fullmatch(value):
        return f'must be a decimal number like "9.99", got {value!r}'
    if Decimal(value) <= 0:
        return f"must be greater than 0, got {value}"
    whole, _, decimals = value.partition(".")
    if currency is not None and places is not None and len(decimals) > places:
        return f"{places_text(currency, places)}, got {value}"
    if len(whole.lstrip("0")) > MAX_PRICE_DIGITS:
        return f"at most {MAX_PRICE_DIGITS} digits before the point, got {value}"
    if whole.startswith("0") and whole != "0":
        return f"must have no leading zeros, got {value!r}"
    return f'must be a decimal number like "9.99", got {value!r}'


def parse_amount(value: Any, field: str) -> Decimal:
    """The form of an amount, whatever its currency: a plain decimal string (no exponent, no
    float). The CLI checks an --item's price with it before the currency is known."""
    if not isinstance(value, str):
        raise ValidationError(field, f'must be a decimal string like "9.99", not {type(value).__name__} {value!r}')
    if not _DECIMAL.fullmatch(value):
        raise ValidationError(field, _why_not_a_price(value, None, None))
    return Decimal(value)


def format_amount(amount: Decimal, currency: str) -> str:
    """`amount` in fixed point with at least `currency`'s decimals: "2000.00", never "2E+3".
    Digits beyond the currency's (stored before its precision was enforced) are shown, not rounded."""
    exponent = amount.as_tuple().exponent
    places = max(minor_unit(currency), -exponent if isinstance(exponent, int) else 0)
    return f"{amount:.{places}f}"


# Wide enough for any product or sum of in-bound amounts (19 digits) and far past it, so an amount
# over the bound is computed exactly and then refused by `check_amount`, never rounded first.
_EXACT = Context(prec=40, traps=[Inexact, InvalidOperation, Overflow])


def check_amount(amount: Decimal, currency: str, field: str, what: str = "amount") -> Decimal:
    """`amount` unchanged if it has at most MAX_AMOUNT_DIGITS digits before the point."""
    if abs(amount) >= Decimal(10) ** MAX_AMOUNT_DIGITS:
        raise ValidationError(field, f"{what} {format_amount(amount, currency)} {currency} has more than "
                                     f"{MAX_AMOUNT_DIGITS} digits before the point")
    return amount


def _exactly(operation: Callable[[], Decimal], what: str) -> Decimal:
    try:
        return operation()
    except ArithmeticError as exc:  # Inexact, Overflow, InvalidOperation: the result would be wrong
        raise ValidationError("amount", f"{what} cannot be computed exactly ({type(exc).__name__})") from None


@dataclass(frozen=True)
class Money:
    """An exact amount in one currency. Arithmetic across currencies is refused, and so is any
    that would round (a ValidationError: the bounds on amounts keep every order's sums exact)."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        parse_currency(self.currency)
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise ValidationError("amount", f"must be a finite Decimal, got {self.amount!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0).scaleb(-minor_unit(currency)), currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValidationError("currency", f"cannot add {other.currency} to {self.currency}")
        return Money(_exactly(lambda: _EXACT.add(self.amount, other.amount), "a sum"), self.currency)

    def times(self, quantity: int) -> Money:
        return Money(_exactly(lambda: _EXACT.multiply(self.amount, Decimal(quantity)), "a product"), self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency)} {self.currency}"
