"""The JSON wire format of shipping commands, shared by every inbound adapter.

    {"order_id": "o-1", "customer_id": "c-1", "address": "1 Main St"}   ScheduleShipment
    {"order_id": "o-1", "reason": "order cancelled"}                     CancelShipment
    {"order_id": "o-1"}                                                  DispatchShipment
"""

from __future__ import annotations

from typing import Any

from core.kernel.fields import FieldErrors, json_object, required_string
from core.shipping.commands import CancelShipment, DispatchShipment, ScheduleShipment
from core.shipping.model import parse_address


def schedule_shipment_from_json(data: Any) -> ScheduleShipment:
    obj = json_object(data, {"order_id", "customer_id", "address"})
    errors = FieldErrors()
    order_id = errors.read(lambda: required_string(obj.get("order_id"), "order_id"))
    customer_id = errors.read(lambda: required_string(obj.get("customer_id"), "customer_id"))
    address = errors.read(lambda: parse_address(obj.get("address")))
    errors.done()
    return ScheduleShipment(order_id=order_id, customer_id=customer_id, address=address)


def cancel_shipment_from_json(data: Any) -> CancelShipment:
    obj = json_object(data, {"order_id", "reason"})
    errors = FieldErrors()
    order_id = errors.read(lambda: required_string(obj.get("order_id"), "order_id"))
    reason = errors.read(lambda: required_string(obj.get("reason"), "reason"))
    errors.done()
    return CancelShipment(order_id=order_id, reason=reason)


def dispatch_shipment_from_json(data: Any) -> DispatchShipment:
    obj = json_object(data, {"order_id"})
    return DispatchShipment(order_id=required_string(obj.get("order_id"), "order_id"))
