"""Rows <-> core values: outbox records, stored events, view documents. Knows no context: an
aggregate's or a document's shape comes from its codec or view."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from sqlalchemy import Row

from adapters.outbound.sql.schema import TAGS
from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.messages import DomainEvent, event_from_dict
from core.kernel.views import View

T = TypeVar("T")


# An events row's canonical text when no outbox row made it already: the standard library's,
# as core makes it (OutboxRecord.from_event), so the two are the same text.
_canonical = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


def dumps(data: Any) -> str:
    """JSON text as stored (states, sagas, history, documents): compact, since nothing but the
    adapter reads it, and by orjson, which a unit of work calls about six times (5-10x `json`)."""
    return orjson.dumps(data).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def outbox_values(record: OutboxRecord) -> dict[str, Any]:
    return {
        "event_id": record.event_id, "aggregate_id": record.aggregate_id,
        "aggregate_version": record.aggregate_version, "type": record.type, "payload": record.payload,
        "created_at": record.created_at, "published_at": record.published_at, "topic": record.topic,
    }


def outbox_from_row(row: Row[Any]) -> OutboxRecord:
    return OutboxRecord(
        seq=row.seq, event_id=row.event_id, aggregate_id=row.aggregate_id,
        aggregate_version=row.aggregate_version, type=row.type, payload=row.payload, topic=row.topic,
        created_at=row.created_at, published_at=row.published_at,
    )


def event_values(event: DomainEvent, aggregate_type: str, payload: str | None = None) -> dict[str, Any]:
    """An events row. `payload`, when given, is the event's JSON already made for its outbox row
    (the same text: OutboxRecord.from_event), so it is not serialized twice."""
    return {
        "stream_id": event.aggregate_id, "version": event.aggregate_version, "event_id": event.event_id,
        "type": event.type, "occurred_at": event.occurred_at, "aggregate_type": aggregate_type,
        "payload": payload if payload is not None else _canonical(event.to_dict()),
    }


def event_from_payload(payload: str) -> DomainEvent:
    return event_from_dict(orjson.loads(payload))


def stored_event_from_row(row: Row[Any]) -> StoredEvent:
    return StoredEvent(position=row.position, event=event_from_payload(row.payload))


def document_values(view: View[T], document: T) -> dict[str, Any]:
    """A documents row: the view's key, sort text and tags as columns, the document as JSON."""
    tags = view.tags(document)
    if len(tags) > TAGS:
        raise ValueError(f"view {view.name}: {len(tags)} tags, a document row holds {TAGS}")
    values = {"view": view.name, "key": view.key(document), "sort": view.sort(document),
              "data": dumps(view.to_json(document))}
    for number in range(1, TAGS + 1):
        values[f"tag{number}"] = tags[number - 1] if number <= len(tags) else None
    return values


def document_from_data(view: View[T], data: str) -> T:
    return view.from_json(orjson.loads(data))
