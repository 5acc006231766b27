"""The in-memory index of a file store: everything committed, rebuilt on open by applying the
snapshot and then each journal record in order.

Commits apply the very record they wrote, through the same `apply`, so what a process sees after
committing is exactly what any process will see after replaying the journal.

The index knows no context: aggregates are JSON states keyed by (aggregate type, id), and view
documents are JSON kept with the sort text and filter tags their view computed when they were
written, so lists are filtered and ordered without knowing the document's type.

A format-2 record (a journal line; a snapshot's "state" is one record holding everything) has:
- "txn": its transaction number; "at": when it was written (for people).
- "aggregates": [{"type", "id", "version", "key", "state"}]: the aggregate's stored version,
  its idempotency key (or null) and its state: the whole state in state mode, a snapshot or
  null (none taken) in events mode.
- "events": [{"position", "event"}]: events appended to their streams, with global positions.
- "outbox": [OutboxRecord.to_json()], "outbox_seq": the highest seq ever handed out;
  "published": {"seqs", "at"}; "purged": [seq] (a parked row dropped, too);
  "parked": [{"seq", "reason", "at"}]: rows the broker refused, set aside; "unparked": [seq]:
  parked rows an operator retries; "requeued": [seq]: published rows to publish again.
- "clear": [view name] (applied first); "documents": [{"view", "key", "sort", "tags", "doc"}];
  "position": the views' position rises to at least this.
- "inbox": [message id].
- "sagas": [saga record JSON, see saga_json.py], each replacing the saga with its id;
  "saga_history": [{"saga_id", "seq", "entry"}], each seq following its saga's last one;
  "timers_cancelled": [[saga_id, step, generation]]; "timers": [timer JSON, with
  "claimed_until" only in snapshots]; "timers_claimed": {"until", "timers": [[saga_id, step,
  generation]]}: a timer worker's claim (a lease, journaled so every process on the directory
  sees it). Applied in this order.
- "reset_position": only in records translated from format 1, whose clear also reset it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from adapters.outbound.file.saga_json import record_from_json, record_to_json, timer_from_json, timer_to_json
from adapters.outbound.indexes import PendingRows, ViewDocuments
from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.messages import DomainEvent, event_from_dict
from core.runtime.saga_tables import SagaTables
from ports.sagas import HistoryRow

FIELDS = frozenset({"txn", "at", "aggregates", "events", "outbox", "outbox_seq", "published", "purged", "clear",
                    "documents", "position", "inbox", "reset_position", "parked", "unparked", "requeued",
                    "sagas", "saga_history", "timers_cancelled", "timers", "timers_claimed"})


class FileState:
    """Committed data of one store, in either mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.txn = 0
        # (aggregate type, id) -> state (state mode) or latest snapshot (events mode)
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions: dict[tuple[str, str], int] = {}
        # (aggregate type, idempotency key) -> aggregate id
        self.keys: dict[tuple[str, str], str] = {}
        self.streams: dict[str, list[DomainEvent]] = {}
        self.all_events: list[StoredEvent] = []
        # Every retained row, in seq order (records only ever add higher seqs); the unpublished
        # ones apart as well, so a claim reads only its batch.
        self.outbox: dict[int, OutboxRecord] = {}
        self.pending = PendingRows()
        self.outbox_seq = 0
        # seq -> (reason, parked at): rows the broker refused for good
        self.parked: dict[int, tuple[str, datetime]] = {}
        # view name -> its documents' JSON, with the sort text and tags their view gave them
        self.documents: dict[str, ViewDocuments[dict[str, Any]]] = {}
        self.position = 0
        self.inbox: set[str] = set()
        self.sagas = SagaTables()

    def stream_version(self, stream_id: str) -> int:
        stream = self.streams.get(stream_id)
        return stream[-1].aggregate_version if stream else 0

    def apply(self, record: dict[str, Any]) -> None:
        """Apply one format-2 record. A record of another shape raises KeyError, ValueError or
        TypeError; fields this format does not have are refused, not skipped, so a record is
        never half understood."""
        unknown = sorted(set(record) - FIELDS)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        for name in record.get("clear", ()):
            self.documents.pop(name, None)
        if record.get("reset_position"):
            self.position = 0
        for entry in record.get("aggregates", ()):
            ident = (str(entry["type"]), str(entry["id"]))
            self.versions[ident] = int(entry["version"])
            if entry["state"] is not None:
                self.states[ident] = entry["state"]
            if entry["key"] is not None:
                self.keys[(ident[0], str(entry["key"]))] = ident[1]
        for item in record.get("events", ()):
            event = event_from_dict(item["event"])
            self.streams.setdefault(event.aggregate_id, []).append(event)
            self.all_events.append(StoredEvent(position=int(item["position"]), event=event))
        for row in record.get("outbox", ()):
            outbox_record = OutboxRecord.from_json(row)
            self.outbox[outbox_record.seq] = outbox_record
            if outbox_record.published_at is None:
                self.pending.add(outbox_record)
        self.outbox_seq = max(self.outbox_seq, int(record.get("outbox_seq", 0)))
        if "published" in record:
            at = datetime.fromisoformat(record["published"]["at"])
            for seq in record["published"]["seqs"]:
                self.outbox[seq] = dataclasses.replace(self.outbox[seq], published_at=at)
                self.pending.discard(seq)
        for seq in record.get("purged", ()):
            del self.outbox[seq]
            self.pending.discard(seq)
            self.parked.pop(seq, None)
        for item in record.get("parked", ()):
            self.parked[int(item["seq"])] = (str(item["reason"]), datetime.fromisoformat(item["at"]))
        for seq in record.get("unparked", ()):
            del self.parked[seq]
        for seq in record.get("requeued", ()):
            self.outbox[seq] = dataclasses.replace(self.outbox[seq], published_at=None)
            self.pending.add(self.outbox[seq])
        for item in record.get("documents", ()):
            if not isinstance(item["doc"], dict):
                raise TypeError(f"document {item['key']!r} of view {item['view']!r} is not a JSON object")
            name = str(item["view"])
            documents = self.documents.get(name)
            if documents is None:
                documents = self.documents[name] = ViewDocuments()
            documents.put(str(item["key"]), str(item["sort"]), tuple(item["tags"]), item["doc"])
        self.position = max(self.position, int(record.get("position", 0)))
        self.inbox.update(record.get("inbox", ()))
        self._apply_sagas(record)
        self.txn = int(record["txn"])

    def _apply_sagas(self, record: dict[str, Any]) -> None:
        tables = self.sagas
        for item in record.get("sagas", ()):
            tables.save(record_from_json(item))
        for item in record.get("saga_history", ()):
            if not isinstance(item["entry"], dict):
                raise TypeError(f"history row {item['seq']!r} of saga {item['saga_id']!r} is not a JSON object")
            tables.append(HistoryRow(saga_id=str(item["saga_id"]), seq=int(item["seq"]), entry=item["entry"]))
        for saga_id, step, generation in record.get("timers_cancelled", ()):
            tables.cancel((str(saga_id), str(step), int(generation)))
        for item in record.get("timers", ()):
            tables.schedule(*timer_from_json(item))
        if "timers_claimed" in record:
            until = datetime.fromisoformat(record["timers_claimed"]["until"])
            for saga_id, step, generation in record["timers_claimed"]["timers"]:
                key = (str(saga_id), str(step), int(generation))
                if key not in tables.timers:
                    raise KeyError(f"claimed timer {list(key)} was never scheduled")
                tables.claims[key] = until

    def dump(self) -> dict[str, Any]:
        """Everything, as one record that `apply` turns back into this state on an empty index."""
        key_of = {(name, aggregate_id): key for (name, key), aggregate_id in self.keys.items()}
        return {
            "txn": self.txn,
            "aggregates": [{"type": ident[0], "id": ident[1], "version": version, "key": key_of.get(ident),
                            "state": self.states.get(ident)} for ident, version in self.versions.items()],
            "events": [{"position": s.position, "event": s.event.to_dict()} for s in self.all_events],
            "outbox": [r.to_json() for r in self.outbox.values()],
            "outbox_seq": self.outbox_seq,
            "parked": [{"seq": seq, "reason": reason, "at": at.isoformat()}
                       for seq, (reason, at) in self.parked.items()],
            "documents": [{"view": view, "key": key, "sort": sort, "tags": list(tags), "doc": doc}
                          for view, documents in self.documents.items()
                          for key, sort, tags, doc in documents.entries()],
            "position": self.position,
            "inbox": sorted(self.inbox),
            "sagas": [record_to_json(r) for r in self.sagas.sagas.values()],
            "saga_history": [{"saga_id": r.saga_id, "seq": r.seq, "entry": r.entry}
                             for rows in self.sagas.history.values() for r in rows],
            "timers": [timer_to_json(t, self.sagas.claims.get(key)) for key, t in self.sagas.timers.items()],
        }
