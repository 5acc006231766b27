"""Commands that arrive as broker messages: how one is read, and what the sender is told back.

The message value is one JSON object: the command's type plus the same fields every other
door takes (core/orders/wire.py), e.g.

    {"type": "PlaceOrder", "customer_id": "c-1", "currency": "EUR",
     "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}
    {"type": "CancelOrder", "order_id": "...", "reason": "changed my mind"}

The type may be qualified ("orders.PlaceOrder") and may come in a `type` header instead; an
`idempotency_key` header counts like the field. A reply goes to the topic named in the
`reply_to` header; a dead-lettered copy carries the reason in the `error` header.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.kernel.errors import ValidationError
from core.orders.commands import CancelOrder, PlaceOrder
from core.orders.wire import cancel_order_from_json, place_order_from_json

COMMAND_TYPES = ("PlaceOrder", "CancelOrder")
REPLY_TO_HEADER = "reply_to"
ERROR_HEADER = "error"

IntakeCommand = PlaceOrder | CancelOrder


def parse_command(payload: bytes, headers: Mapping[str, str]) -> IntakeCommand:
    """The command a message carries; ValidationError names what is wrong with it."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("message", f"is not a JSON document ({exc})") from None
    if not isinstance(data, dict):
        raise ValidationError("message", f"must be a JSON object, got {type(data).__name__}")
    body = dict(data)
    kind = body.pop("type", None) or headers.get("type")
    if kind in ("PlaceOrder", PlaceOrder.type_name):
        return place_order_from_json(body, idempotency_key=headers.get("idempotency_key"))
    if kind in ("CancelOrder", CancelOrder.type_name):
        return cancel_order_from_json(body)
    raise ValidationError("type", f"must be one of {', '.join(COMMAND_TYPES)}, got {kind!r}")


def accepted(message_id: str, command: IntakeCommand, order_id: str | None, *, duplicate: bool = False) -> bytes:
    """The reply to a command whose effect is committed (now, or by an earlier delivery)."""
    body: dict[str, Any] = {"message_id": message_id, "command": type(command).__name__, "status": "accepted",
                            "order_id": order_id}
    if duplicate:
        body["duplicate"] = True
    return _encode(body)


def rejected(message_id: str, command_type: str | None, error: Exception) -> bytes:
    """The reply to a command that had no effect and never will: it is malformed or invalid."""
    return _encode({"message_id": message_id, "command": command_type, "status": "rejected",
                    "reason": str(error), "error": type(error).__name__})


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
