"""Reading stores written in format 1, when the file store kept only orders.

A format-1 record named orders in its fields: "orders" (an order's state, state mode),
"order_snapshots" (event-sourcing snapshots), "summaries" (the order list's documents),
"clear_read_model", and events with bare type names ("OrderPlaced"). `translate` rewrites one
such record (a journal line, or the "state" of a format-1 snapshot) into the format-2 record
that means the same, so replaying an old directory gives exactly what the old code showed.

The old shapes are written out here literally, on purpose: this module describes files that
exist on disk, which must keep reading the same even when the orders context changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.kernel.views import sort_time

# What format 1 stored, named as format 2 names it.
ORDER_TYPE = "orders.Order"
SUMMARIES_VIEW = "orders.summaries"
_EVENT_TYPES = {name: f"orders.{name}" for name in
                ("OrderPlaced", "OrderApproved", "OrderRejected", "OrderCancelled", "OrderShipped")}

# Fields that mean the same in both formats, and the ones only format 1 has.
_SAME = ("txn", "at", "outbox", "outbox_seq", "published", "purged", "position", "inbox")
_RENAMED = ("orders", "events", "order_snapshots", "summaries", "clear_read_model")


def translate(record: dict[str, Any], mode: str) -> dict[str, Any]:
    """The format-2 record meaning what format-1 `record` meant in a store of that `mode`.

    Raises KeyError, ValueError or TypeError for a record format 1 could not have written (the
    caller reports the file as damaged)."""
    unknown = sorted(set(record) - {*_SAME, *_RENAMED})
    if unknown:
        raise ValueError(f"format 1 has no field {unknown[0]!r}")
    out = {name: record[name] for name in _SAME if name in record}
    if record.get("clear_read_model"):
        # Format 1 cleared the summaries and set the position back to 0 in one go.
        out["clear"] = [SUMMARIES_VIEW]
        out["reset_position"] = True
    events = [{"position": item["position"], "event": _qualified(item["event"])} for item in record.get("events", ())]
    if events:
        out["events"] = events
    aggregates = _aggregates(record, events, mode)
    if aggregates:
        out["aggregates"] = aggregates
    documents = [_summary_document(row) for row in record.get("summaries", ())]
    if documents:
        out["documents"] = documents
    return out


def _qualified(event: dict[str, Any]) -> dict[str, Any]:
    name = event["type"]
    return {**event, "type": _EVENT_TYPES.get(name, name)}


def _aggregates(record: dict[str, Any], events: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    """The orders a format-1 record changed, as format-2 aggregate entries.

    State mode: each "orders" item is the order's whole state (its version and idempotency key
    inside). Events mode: an order's version was the last version of its stream and its key the
    one its OrderPlaced carried; "order_snapshots" were its snapshots. Events appended in state
    mode (through the EventStore port alone) changed no order, as in format 1.
    """
    entries: dict[str, dict[str, Any]] = {}
    for state in record.get("orders", ()):
        entries[state["order_id"]] = {"type": ORDER_TYPE, "id": state["order_id"], "version": int(state["version"]),
                                      "key": state["idempotency_key"], "state": state}
    if mode == "events":
        for item in events:
            event = item["event"]
            entry = entries.setdefault(event["aggregate_id"], {"type": ORDER_TYPE, "id": event["aggregate_id"],
                                                               "key": None, "state": None})
            entry["version"] = int(event["aggregate_version"])
            if event["type"] == _EVENT_TYPES["OrderPlaced"]:
                entry["key"] = event["payload"].get("idempotency_key")
    for state in record.get("order_snapshots", ()):
        entry = entries.setdefault(state["order_id"], {"type": ORDER_TYPE, "id": state["order_id"],
                                                       "version": int(state["version"]), "key": None})
        entry["state"] = state
    return list(entries.values())


def _summary_document(row: dict[str, Any]) -> dict[str, Any]:
    """An order summary as a document of the orders.summaries view: sorted by creation time,
    filtered by (customer_id, status), the JSON as format 1 stored it."""
    created_at = datetime.fromisoformat(row["created_at"])
    return {"view": SUMMARIES_VIEW, "key": row["order_id"], "sort": sort_time(created_at),
            "tags": [row["customer_id"], row["status"]], "doc": row}
