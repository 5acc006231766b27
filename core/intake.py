"""Commands that arrive as broker messages: how one is read, and what the sender is told back.

The message value is one JSON object: the command's type plus the same fields every other
door takes (core/orders/wire.py), e.g.

    {"type": "PlaceOrder", "customer_id": "c-1", "currency": "EUR",
     "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}
    {"type": "CancelOrder", "order_id": "...", "reason": "changed my mind"}

The type may come in a `type` header instead; an `idempotency_key` header counts like the field.
Also here: the unit of work that lets one transaction carry a whole polled batch (group commit).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from core.errors import AlreadyProcessed, ValidationError
from core.messages import DomainEvent
from core.orders.commands import CancelOrder, PlaceOrder
from core.orders.wire import cancel_order_from_json, place_order_from_json

if TYPE_CHECKING:
    from ports.inbox import Inbox
    from ports.ordering import Ordering
    from ports.repository import OrderRepository
    from ports.unit_of_work import UnitOfWork

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
    if kind == "PlaceOrder":
        return place_order_from_json(body, idempotency_key=headers.get("idempotency_key"))
    if kind == "CancelOrder":
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


class BatchUnitOfWork:
    """The UnitOfWork port for many commands in one transaction (group commit).

    Each command's handler enters, stages and "commits" as usual, but nothing is written until
    `flush()`: one commit for the whole batch. Handlers stage nothing before they fail (they
    validate first), so a command rejected by the domain leaves no trace in the batch. A
    message id seen twice, or any error while staging, marks the batch `tainted`: the caller
    must then abandon it and run the commands one by one, which isolates the culprit.
    """

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner
        self._ids: set[str] = set()
        self.message_id: str | None = None
        self.tainted = False
        inner.__enter__()

    @property
    def orders(self) -> OrderRepository:
        return self._inner.orders

    @property
    def inbox(self) -> Inbox:
        return self._inner.inbox

    def seen(self, message_id: str) -> bool:
        """Whether the message's effect is committed or already staged in this batch."""
        return message_id in self._ids or self._inner.inbox.contains(message_id)

    def __enter__(self) -> BatchUnitOfWork:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def commit(self) -> None:
        if self.message_id is None:
            return
        try:
            if self.message_id in self._ids:
                raise AlreadyProcessed(self.message_id)
            self._inner.inbox.add(self.message_id)
        except BaseException:
            self.tainted = True
            raise
        self._ids.add(self.message_id)

    def rollback(self) -> None:
        self.tainted = True

    def collect_new_events(self) -> list[DomainEvent]:
        return []

    def flush(self) -> list[DomainEvent]:
        """Commit every staged command at once; returns their events."""
        self._inner.commit()
        return self._inner.collect_new_events()

    def abandon(self) -> None:
        self._inner.rollback()


class GroupCommit:
    """Runs commands inside one BatchUnitOfWork per batch and thread.

    `ordering` is an Ordering whose bus takes its unit of work from `unit_of_work_in_batch`,
    so commands sent through it during `batch()` join that batch.
    """

    def __init__(self, unit_of_work: Callable[[], UnitOfWork],
                 make_ordering: Callable[[Callable[[], UnitOfWork]], Ordering]) -> None:
        self._unit_of_work = unit_of_work
        self._local = threading.local()
        self.ordering = make_ordering(self.unit_of_work_in_batch)

    def unit_of_work_in_batch(self) -> UnitOfWork:
        batch: BatchUnitOfWork | None = getattr(self._local, "batch", None)
        if batch is None:
            raise RuntimeError("a group-commit command ran outside GroupCommit.batch()")
        return batch

    @contextmanager
    def batch(self) -> Iterator[BatchUnitOfWork]:
        batch = BatchUnitOfWork(self._unit_of_work())
        self._local.batch = batch
        try:
            yield batch
        except BaseException:
            batch.abandon()
            raise
        finally:
            self._local.batch = None
