"""Commands that arrive as broker messages: how one is read, and what the sender is told back.

The message value is one JSON object: the command's type plus the same fields every other
door takes (core/orders/wire.py), e.g.

    {"type": "PlaceOrder", "customer_id": "c-1", "currency": "EUR",
     "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}
    {"type": "CancelOrder", "order_id": "...", "reason": "changed my mind"}

The type may be qualified ("orders.PlaceOrder") and may come in a `type` header instead; an
`idempotency_key` header counts like the field. A PlaceOrder with neither is keyed by its message
id (`message:<id>`), so a redelivery finds the order the first delivery placed and the reply
names it. A reply goes to the topic named in the `reply_to` header; a dead-lettered copy carries
the reason in the `error` header. A message larger than messaging.max_message_bytes is refused
unread, and its dead-letter copy is cut to that size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from core.kernel.envelope import Message
from core.kernel.errors import Refused, ValidationError
from core.orders.commands import CancelOrder, PlaceOrder
from core.orders.wire import MAX_KEY_LENGTH, cancel_order_from_json, place_order_from_json
from ports.messaging import Publisher

log = logging.getLogger("orderhex.kafka.consumer")

COMMAND_TYPES = ("PlaceOrder", "CancelOrder")
REPLY_TO_HEADER = "reply_to"
ERROR_HEADER = "error"

MESSAGE_KEY_PREFIX = "message:"
# The largest command a consumer reads, like the REST door's body limit (api.max_body_bytes).
DEFAULT_MAX_MESSAGE_BYTES = 65_536
MAX_HEADER_CHARS = 1024
DEAD_LETTER_HEADER_BYTES = 16 * 1024

IntakeCommand = PlaceOrder | CancelOrder
_TYPES: dict[str, str] = {name: name for name in COMMAND_TYPES} | {
    PlaceOrder.type_name: "PlaceOrder", CancelOrder.type_name: "CancelOrder"}


def parse_command(payload: bytes, headers: Mapping[str, str], message_id: str | None = None) -> IntakeCommand:
    """The command a message carries; ValidationError names what is wrong with it (InvalidFields
    every bad field). With `message_id`, a PlaceOrder without an idempotency key gets
    `message_key(message_id)` as its key."""
    kind, body = _read(payload, headers)
    if kind == "PlaceOrder":
        command = place_order_from_json(body, idempotency_key=headers.get("idempotency_key"))
        if command.idempotency_key is None and message_id is not None:
            return dataclasses.replace(command, idempotency_key=message_key(message_id))
        return command
    if kind == "CancelOrder":
        return cancel_order_from_json(body)
    raise ValidationError("type", f"must be one of {', '.join(COMMAND_TYPES)}, got {kind!r}")


def declared_type(payload: bytes, headers: Mapping[str, str]) -> str | None:
    """The command type a message names ("PlaceOrder"), whether or not its body is valid; None when
    it names none this intake knows (or is not a JSON object at all)."""
    try:
        kind, _ = _read(payload, headers)
    except ValidationError:
        kind = _TYPES.get(headers.get("type") or "")
    return kind if kind in COMMAND_TYPES else None


def message_key(message_id: str) -> str:
    """The idempotency key of a PlaceOrder that came without one: its message id, prefixed so it
    cannot be mistaken for a client's key; hashed if that would be longer than a key may be."""
    key = MESSAGE_KEY_PREFIX + message_id
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return f"{MESSAGE_KEY_PREFIX}sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"


def _read(payload: bytes, headers: Mapping[str, str]) -> tuple[Any, dict[str, Any]]:
    """The message's command type (short name, or what it said if unknown) and its other fields."""
    body = json_object(payload)
    kind = body.pop("type", None) or headers.get("type")
    return (_TYPES.get(kind, kind) if isinstance(kind, str) else kind), body


def message_size(message: Message) -> int:
    """Bytes a message takes on the wire, roughly: its value, key and headers."""
    return (len(message.payload) + len(message.key.encode(errors="replace"))
            + sum(len(k) + len(v) for k, v in message.headers.items()))


def check_size(message: Message, limit: int) -> None:
    """Refuse a message larger than `limit` bytes before anything reads it (a 10 MB value would
    be parsed, echoed into the reason, copied whole to the dead-letter topic)."""
    size = message_size(message)
    if size > limit:
        raise ValidationError("message", f"is {size} bytes, more than the {limit} bytes a command may take "
                                         "(messaging.max_message_bytes)")


def dead_letter(message: Message, error: Exception, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Message:
    """The copy of a refused message that goes to a dead-letter topic: the reason in its `error`
    header, where it came from beside it. A copy never exceeds about `max_bytes` plus
    DEAD_LETTER_HEADER_BYTES, whatever came in (a broker refuses records over its limit, 1 MB by
    default): a longer value is cut there and says so (`truncated`, `original_bytes`, and
    `payload_sha256` of the whole value, to find the original), and so are long headers."""
    reason = _clip(f"{type(error).__name__}: {error}", MAX_HEADER_CHARS)
    headers = _clip_headers(message.headers)
    headers |= {ERROR_HEADER: reason, "source_topic": message.topic, "source_partition": str(message.partition),
                "source_offset": str(message.offset), "original_bytes": str(len(message.payload))}
    payload = message.payload
    if len(payload) > max_bytes:
        headers |= {"truncated": "true", "payload_sha256": hashlib.sha256(payload).hexdigest()}
        payload = payload[:max_bytes]
    return dataclasses.replace(message, id=_clip(message.id, MAX_HEADER_CHARS),
                               key=_clip(message.key, MAX_HEADER_CHARS), headers=headers, payload=payload)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _clip_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers, each cut to MAX_HEADER_CHARS, as many as fit in DEAD_LETTER_HEADER_BYTES."""
    kept: dict[str, str] = {}
    budget = DEAD_LETTER_HEADER_BYTES
    for name, value in headers.items():
        short_name, short_value = _clip(name, 100), _clip(value, MAX_HEADER_CHARS)
        budget -= len(short_name) + len(short_value)
        if budget < 0:
            kept["headers_dropped"] = str(len(headers) - len(kept))
            break
        kept[short_name] = short_value
    return kept


def send_owed(publisher: Publisher, topic: str, message: Message, what: str) -> bool:
    """Publish what a consumer owes for a message it handled (its dead-letter copy, the sender's
    reply). When the broker refuses it for good (a `reply_to` that is no topic name, a record
    over its limit) retrying cannot help and the consumer must go on: said at error level, with
    the ids to find the original; False then. Unavailable is raised as ever (retried)."""
    try:
        publisher.publish(topic, [message])
    except Refused as exc:
        log.error("%s for message %s not sent: %s", what, message.id, exc.reason,
                  extra={"message_id": message.id, "topic": topic, "refused": exc.reason,
                         "source_topic": message.topic, "source_offset": message.offset})
        return False
    return True


def reply(message: Message, body: bytes) -> tuple[str, Message] | None:
    """The outcome for the sender, and the topic it asked for in `reply_to`; None if it asked none."""
    reply_to = message.headers.get(REPLY_TO_HEADER)
    if not reply_to:
        return None
    return reply_to, Message(id=f"{message.id}:reply", key=message.key or message.id, type="CommandOutcome",
                             payload=body, headers={"correlation_id": message.headers.get("correlation_id", message.id),
                                                    "causation_id": message.id})


def json_object(payload: bytes) -> dict[str, Any]:
    """A message's value as a JSON object; ValidationError("message") when it is not one."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("message", f"is not a JSON document ({exc})") from None
    if not isinstance(data, dict):
        raise ValidationError("message", f"must be a JSON object, got {type(data).__name__}")
    return dict(data)


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
