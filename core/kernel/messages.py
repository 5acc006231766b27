"""Message base types shared by every bounded context: commands, queries and domain events.

Every message type has a qualified name, `<context>.<ClassName>` ("orders.OrderPlaced"), so two
contexts may both own a `Reserved`. A context declares its name once, on a base class of its own
(`class OrderEvent(DomainEvent, context="orders")`); subclasses inherit it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar


class _Named:
    """Gives a message class its context and qualified type name."""

    context: ClassVar[str] = ""
    type_name: ClassVar[str] = ""

    def __init_subclass__(cls, *, context: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if context is not None:
            cls.context = context
        cls.type_name = f"{cls.context}.{cls.__name__}" if cls.context else cls.__name__

    @property
    def type(self) -> str:
        return self.type_name


@dataclass(frozen=True, kw_only=True)
class Command(_Named):
    """An intent to change state, named in the imperative. Handled by exactly one handler."""


@dataclass(frozen=True, kw_only=True)
class Query(_Named):
    """A request to read state. Never goes through the write side."""


@dataclass(frozen=True, kw_only=True)
class DomainEvent(_Named):
    """A fact that happened to an aggregate, named in the past tense.

    Subclasses add their own fields; `payload()` gives those fields as JSON-ready values and
    `from_payload()` rebuilds the event, so outbox rows and event streams round-trip exactly.
    """

    event_id: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime

    _META: ClassVar[tuple[str, ...]] = ("event_id", "aggregate_id", "aggregate_version", "occurred_at")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)

    def payload(self) -> dict[str, Any]:
        """The event's own fields (not the metadata) as JSON-ready values."""
        return {name: _to_json(getattr(self, name)) for name in _payload_fields(type(self))}

    def to_dict(self) -> dict[str, Any]:
        """Metadata and payload together, as they travel on the wire."""
        return {
            "type": self.type_name,
            "event_id": self.event_id,
            "aggregate_id": self.aggregate_id,
            "aggregate_version": self.aggregate_version,
            "occurred_at": self.occurred_at.isoformat(),
            "payload": self.payload(),
        }

    @classmethod
    def from_payload(
        cls, *, event_id: str, aggregate_id: str, aggregate_version: int, occurred_at: datetime,
        payload: dict[str, Any],
    ) -> DomainEvent:
        raise NotImplementedError(f"{cls.type_name} cannot be rebuilt from a payload")


# Qualified name -> class; and bare name -> class for names only one context uses, so rows and
# messages written before names were qualified ("OrderPlaced") still read.
_EVENTS: dict[str, type[DomainEvent]] = {}
_BARE: dict[str, type[DomainEvent] | None] = {}


def _register(cls: type[DomainEvent]) -> None:
    _EVENTS[cls.type_name] = cls
    bare = cls.__name__
    _BARE[bare] = cls if _BARE.get(bare, cls) is cls else None


def event_class(type_name: str) -> type[DomainEvent]:
    """The event class a (qualified, or unambiguous bare) type name names; ValueError if none."""
    cls = _EVENTS.get(type_name) or _BARE.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    return cls


def is_event_type(type_name: str) -> bool:
    """Whether a (qualified, or unambiguous bare) type name names a registered event."""
    return type_name in _EVENTS or _BARE.get(type_name) is not None


def event_from_dict(data: dict[str, Any]) -> DomainEvent:
    """Rebuild any registered domain event from `DomainEvent.to_dict()` output."""
    cls = event_class(str(data.get("type")))
    return cls.from_payload(
        event_id=data["event_id"],
        aggregate_id=data["aggregate_id"],
        aggregate_version=int(data["aggregate_version"]),
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        payload=data["payload"],
    )


@cache
def _payload_fields(cls: type[DomainEvent]) -> tuple[str, ...]:
    # Introspecting dataclass fields costs more than the rest of payload(); events are hot.
    return tuple(f.name for f in fields(cls) if f.name not in DomainEvent._META)


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if hasattr(value, "to_json"):
        return value.to_json()
    return value
