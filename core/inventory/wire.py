"""The JSON wire format of inventory commands, shared by every inbound adapter.

    {"sku": "SKU-1", "quantity": 10}                                          Restock
    {"order_id": "o-1", "lines": [{"sku": "SKU-1", "quantity": 2}]}           ReserveStock
    {"order_id": "o-1"}                                                       ReleaseStock
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.inventory.commands import ReleaseStock, ReserveStock, Restock
from core.inventory.events import StockLine
from core.inventory.model import MAX_LINES, parse_quantity, parse_sku
from core.kernel.fields import FieldErrors, json_object, required_string


def restock_from_json(data: Any) -> Restock:
    obj = json_object(data, {"sku", "quantity"})
    errors = FieldErrors()
    sku = errors.read(lambda: parse_sku(obj.get("sku")))
    quantity = errors.read(lambda: parse_quantity(obj.get("quantity")))
    errors.done()
    return Restock(sku=sku, quantity=quantity)


def reserve_stock_from_json(data: Any) -> ReserveStock:
    obj = json_object(data, {"order_id", "lines"})
    errors = FieldErrors()
    order_id = errors.read(lambda: required_string(obj.get("order_id"), "order_id"))
    raw = obj.get("lines")
    lines: list[StockLine] = []
    if not isinstance(raw, list) or not raw or len(raw) > MAX_LINES:
        errors.add("lines", f"must be a list of 1..{MAX_LINES} {{sku, quantity}} objects")
    else:
        for n, item in enumerate(raw):
            lines.append(errors.read(lambda item=item, n=n: _line(item, f"lines[{n}]")))
    errors.done()
    return ReserveStock(order_id=order_id, lines=tuple(lines))


def release_stock_from_json(data: Any) -> ReleaseStock:
    obj = json_object(data, {"order_id"})
    return ReleaseStock(order_id=required_string(obj.get("order_id"), "order_id"))


def _line(item: Any, where: str) -> StockLine:
    obj: Mapping[str, Any] = json_object(item, {"sku", "quantity"}, where)
    errors = FieldErrors()
    sku = errors.read(lambda: parse_sku(obj.get("sku"), f"{where}.sku"))
    quantity = errors.read(lambda: parse_quantity(obj.get("quantity"), f"{where}.quantity"))
    errors.done()
    return StockLine(sku, quantity)
