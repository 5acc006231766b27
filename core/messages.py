"""Message base types shared by every bounded context: commands, queries and domain events."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Command:
    """An intent to change state, named in the imperative. Handled by exactly one handler."""


@dataclass(frozen=True, kw_only=True)
class Query:
    """A request to read state. Never goes through the write side."""


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """A fact that happened to an aggregate, named in the past tense.

    Subclasses add their own fields; `payload()` gives those fields as JSON-ready values and
    `from_payload()` rebuilds the event, so outbox rows and event streams round-trip exactly.
    """

    event_id: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime

    registry: ClassVar[dict[str, type[DomainEvent]]] = {}
    _META: ClassVar[tuple[str, ...]] = ("event_id", "aggregate_id", "aggregate_version", "occurred_at")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        DomainEvent.registry[cls.__name__] = cls

    @property
    def type(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        """The event's own fields (not the metadata) as JSON-ready values."""
        return {name: _to_json(getattr(self, name)) for name in _payload_fields(type(self))}

    def to_dict(self) -> dict[str, Any]:
        """Metadata and payload together, as they travel on the wire."""
        return {
            "type": self.type,
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
        raise NotImplementedError(f"{cls.__name__} cannot be rebuilt from a payload")


def event_from_dict(data: dict[str, Any]) -> DomainEvent:
    """Rebuild any registered domain event from `DomainEvent.to_dict()` output."""
    try:
        cls = DomainEvent.registry[data["type"]]
    except KeyError as exc:
        raise ValueError(f"unknown event type {data.get('type')!r}") from exc
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
