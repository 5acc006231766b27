"""The in-memory index of a file store: everything committed, rebuilt on open by applying the
snapshot and then each journal record in order.

Commits apply the very record they wrote, through the same `apply`, so what a process sees after
committing is exactly what any process will see after replaying the journal.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.messages import DomainEvent, event_from_dict
from core.orders.events import OrderPlaced
from core.orders.queries import OrderSummary


class FileState:
    """Committed data. `orders` holds order snapshots (state mode); streams hold events (events
    mode and the EventStore port); `order_snapshots` the event-sourcing snapshots."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.txn = 0
        self.orders: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.streams: dict[str, list[DomainEvent]] = {}
        self.all_events: list[StoredEvent] = []
        self.order_snapshots: dict[str, dict[str, Any]] = {}
        self.outbox: dict[int, OutboxRecord] = {}
        self.outbox_seq = 0
        self.summaries: dict[str, OrderSummary] = {}
        self.position = 0
        self.inbox: set[str] = set()

    def version_of(self, order_id: str) -> int:
        if self.mode == "state":
            return int(self.orders[order_id]["version"]) if order_id in self.orders else 0
        stream = self.streams.get(order_id)
        return stream[-1].aggregate_version if stream else 0

    def apply(self, record: dict[str, Any]) -> None:
        if record.get("clear_read_model"):
            self.summaries.clear()
            self.position = 0
        for snapshot in record.get("orders", ()):
            self.orders[snapshot["order_id"]] = snapshot
            if snapshot["idempotency_key"] is not None:
                self.keys[snapshot["idempotency_key"]] = snapshot["order_id"]
        for item in record.get("events", ()):
            event = event_from_dict(item["event"])
            self.streams.setdefault(event.aggregate_id, []).append(event)
            self.all_events.append(StoredEvent(position=int(item["position"]), event=event))
            if self.mode == "events" and isinstance(event, OrderPlaced) and event.idempotency_key is not None:
                self.keys[event.idempotency_key] = event.aggregate_id
        for snapshot in record.get("order_snapshots", ()):
            self.order_snapshots[snapshot["order_id"]] = snapshot
        for row in record.get("outbox", ()):
            outbox_record = OutboxRecord.from_json(row)
            self.outbox[outbox_record.seq] = outbox_record
        self.outbox_seq = max(self.outbox_seq, int(record.get("outbox_seq", 0)))
        if "published" in record:
            at = datetime.fromisoformat(record["published"]["at"])
            for seq in record["published"]["seqs"]:
                self.outbox[seq] = dataclasses.replace(self.outbox[seq], published_at=at)
        for seq in record.get("purged", ()):
            del self.outbox[seq]
        for row in record.get("summaries", ()):
            self.summaries[row["order_id"]] = OrderSummary.from_json(row)
        self.position = max(self.position, int(record.get("position", 0)))
        self.inbox.update(record.get("inbox", ()))
        self.txn = int(record["txn"])

    def dump(self) -> dict[str, Any]:
        """Everything, as one record that `apply` turns back into this state on an empty index."""
        return {
            "txn": self.txn,
            "orders": list(self.orders.values()),
            "events": [{"position": s.position, "event": s.event.to_dict()} for s in self.all_events],
            "order_snapshots": list(self.order_snapshots.values()),
            "outbox": [r.to_json() for r in self.outbox.values()],
            "outbox_seq": self.outbox_seq,
            "summaries": [s.to_json() for s in self.summaries.values()],
            "position": self.position,
            "inbox": sorted(self.inbox),
        }
