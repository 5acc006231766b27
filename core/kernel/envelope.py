"""What crosses a message broker, and the outbox row a message waits in until it is published.

An outbox row carries any message (a domain event, or a command another context will handle)
and the topic it is bound for, so one relay publishes every kind of outgoing message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.kernel.messages import DomainEvent

# One encoder for every message body: `json.dumps` with any non-default argument builds a new
# encoder per call, a measurable share of placing an order (three bodies each).
_canonical = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


def canonical_json(data: Any) -> str:
    """A message body's JSON text: compact, keys sorted, so equal bodies are equal text."""
    return _canonical(data)


@dataclass(frozen=True, kw_only=True)
class Message:
    """A broker message. `key` keeps one aggregate's messages in order (same partition)."""

    id: str
    key: str
    type: str
    payload: bytes
    headers: dict[str, str] = field(default_factory=dict)
    topic: str = ""
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True, kw_only=True)
class OutboxRecord:
    """One message waiting to be published. `seq` is the store's order of insertion; `topic` is
    where the message goes ("" for rows written before rows named it: the relay's default)."""

    event_id: str
    aggregate_id: str
    aggregate_version: int
    type: str
    payload: str
    created_at: datetime
    topic: str = ""
    seq: int = 0
    published_at: datetime | None = None

    @classmethod
    def from_event(cls, event: DomainEvent, topic: str = "") -> OutboxRecord:
        return cls(
            event_id=event.event_id, aggregate_id=event.aggregate_id,
            aggregate_version=event.aggregate_version, type=event.type_name,
            payload=canonical_json(event.to_dict()),
            created_at=event.occurred_at, topic=topic,
        )

    def to_json(self) -> dict[str, Any]:
        """The row as the admin API shows it and the file store keeps it."""
        return {
            "seq": self.seq, "event_id": self.event_id, "aggregate_id": self.aggregate_id,
            "aggregate_version": self.aggregate_version, "type": self.type, "payload": self.payload,
            "topic": self.topic, "created_at": self.created_at.isoformat(),
            "published_at": self.published_at.isoformat() if self.published_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboxRecord:
        published = data.get("published_at")
        return cls(
            seq=int(data["seq"]), event_id=data["event_id"], aggregate_id=data["aggregate_id"],
            aggregate_version=int(data["aggregate_version"]), type=data["type"], payload=data["payload"],
            topic=data.get("topic") or "", created_at=datetime.fromisoformat(data["created_at"]),
            published_at=datetime.fromisoformat(published) if published else None,
        )

    def to_message(self, *, topic: str = "", correlation_id: str | None = None) -> Message:
        headers = {"event_id": self.event_id, "type": self.type,
                   "aggregate_version": str(self.aggregate_version),
                   "correlation_id": correlation_id or self.aggregate_id, "causation_id": self.event_id}
        return Message(id=self.event_id, key=self.aggregate_id, type=self.type,
                       payload=self.payload.encode(), headers=headers, topic=self.topic or topic)


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """An event as the event store holds it: with its place in the global order."""

    position: int
    event: DomainEvent
