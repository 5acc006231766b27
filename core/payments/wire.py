"""The JSON wire format of payments commands, shared by every inbound adapter. Amounts are decimal
strings in the currency's minor unit, never numbers.

    {"customer_id": "c-1", "credit_limit": "500.00", "currency": "EUR"}                 OpenAccount
    {"order_id": "o-1", "customer_id": "c-1", "amount": "19.98", "currency": "EUR"}     AuthorizePayment
    {"order_id": "o-1"}                                                  VoidPayment, CapturePayment
"""

from __future__ import annotations

from typing import Any

from core.kernel.fields import FieldErrors, json_object, required_string
from core.kernel.money import parse_currency
from core.payments.commands import AuthorizePayment, CapturePayment, OpenAccount, VoidPayment
from core.payments.model import parse_customer, parse_money


def open_account_from_json(data: Any) -> OpenAccount:
    obj = json_object(data, {"customer_id", "credit_limit", "currency"})
    errors = FieldErrors()
    customer_id = errors.read(lambda: parse_customer(obj.get("customer_id")))
    currency = errors.read(lambda: parse_currency(obj.get("currency", "EUR")))
    limit = errors.read(lambda: parse_money(obj.get("credit_limit"), "credit_limit", currency or "EUR"))
    errors.done()
    return OpenAccount(customer_id=customer_id, credit_limit=limit, currency=currency)


def authorize_payment_from_json(data: Any) -> AuthorizePayment:
    obj = json_object(data, {"order_id", "customer_id", "amount", "currency"})
    errors = FieldErrors()
    order_id = errors.read(lambda: required_string(obj.get("order_id"), "order_id"))
    customer_id = errors.read(lambda: parse_customer(obj.get("customer_id")))
    currency = errors.read(lambda: parse_currency(obj.get("currency", "EUR")))
    amount = errors.read(lambda: parse_money(obj.get("amount"), "amount", currency or "EUR"))
    errors.done()
    return AuthorizePayment(order_id=order_id, customer_id=customer_id, amount=amount, currency=currency)


def void_payment_from_json(data: Any) -> VoidPayment:
    obj = json_object(data, {"order_id"})
    return VoidPayment(order_id=required_string(obj.get("order_id"), "order_id"))


def capture_payment_from_json(data: Any) -> CapturePayment:
    obj = json_object(data, {"order_id"})
    return CapturePayment(order_id=required_string(obj.get("order_id"), "order_id"))
