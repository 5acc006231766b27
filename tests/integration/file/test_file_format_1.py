"""Directories written by the previous file store (format 1: orders only) open and show the same
data, and the first write upgrades them to the current format.

The format-1 files here are written by hand, field by field as the old code wrote them, so they
keep describing the old files whatever the current code does.
"""

from __future__ import annotations

import json
import shutil
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.outbound.file import journal
from adapters.outbound.file.storage import FileStorage
from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.errors import IllegalTransition
from core.orders.commands import ApproveOrder, RejectOrder, ShipOrder
from core.orders.events import OrderApproved, OrderPlaced, PlacedLine
from core.orders.model import ORDER, OrderStatus
from core.orders.queries import SUMMARIES, OrderSummary
from tests.integration.file.child import ordering

PLACED_1 = "2026-01-01T10:00:00+00:00"
APPROVED_1 = "2026-01-01T11:00:00+00:00"
# 09:30 UTC: placed before o-1, though its text sorts after o-1's. Lists must follow the time.
PLACED_2 = "2026-01-01T10:30:00+01:00"
PUBLISHED = "2026-01-01T12:00:00+00:00"
LINES = [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]


def _line(record: dict[str, Any]) -> bytes:
    """One journal line as format 1 framed it: the record's compact JSON and its CRC-32."""
    raw = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
    return b'{"crc":"%08x","rec":%s}\n' % (zlib.crc32(raw), raw)


def _header(mode: str, base_txn: int = 0) -> dict[str, Any]:
    return {"format": 1, "orders": mode, "base_txn": base_txn, "created_at": "2026-01-01T09:00:00+00:00"}


def _order(order_id: str, customer_id: str, status: str, version: int, created_at: str, updated_at: str,
           key: str | None) -> dict[str, Any]:
    """An order's state (state mode's "orders", events mode's "order_snapshots")."""
    return {"schema": 1, "order_id": order_id, "customer_id": customer_id, "currency": "EUR", "status": status,
            "version": version, "created_at": created_at, "updated_at": updated_at, "reason": None,
            "idempotency_key": key, "lines": LINES}


def _event(type_name: str, event_id: str, order_id: str, version: int, at: str,
           payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_name, "event_id": event_id, "aggregate_id": order_id, "aggregate_version": version,
            "occurred_at": at, "payload": payload}


def _placed(event_id: str, order_id: str, customer_id: str, at: str, key: str | None) -> dict[str, Any]:
    return _event("OrderPlaced", event_id, order_id, 1, at,
                  {"customer_id": customer_id, "currency": "EUR", "lines": LINES, "idempotency_key": key})


def _outbox(seq: int, event: dict[str, Any]) -> dict[str, Any]:
    """An outbox row as format 1 kept it: no topic, the event's bare type name."""
    return {"seq": seq, "event_id": event["event_id"], "aggregate_id": event["aggregate_id"],
            "aggregate_version": event["aggregate_version"], "type": event["type"],
            "payload": json.dumps(event, separators=(",", ":"), sort_keys=True), "created_at": event["occurred_at"],
            "published_at": None}


def _summary(order_id: str, customer_id: str, status: str, version: int, created_at: str,
             updated_at: str) -> dict[str, Any]:
    return {"order_id": order_id, "customer_id": customer_id, "status": status, "total": "19.98", "currency": "EUR",
            "line_count": 1, "lines": LINES, "reason": None, "version": version, "created_at": created_at,
            "updated_at": updated_at}


PLACE_1 = _placed("e-1", "o-1", "c-1", PLACED_1, "k-1")
APPROVE_1 = _event("OrderApproved", "e-2", "o-1", 2, APPROVED_1, {})
PLACE_2 = _placed("e-3", "o-2", "c-2", PLACED_2, None)


def _state_records() -> list[dict[str, Any]]:
    """What format 1 wrote in state mode for: place o-1 (key k-1), approve o-1 (as message m-1),
    publish its first event, place o-2."""
    return [
        {"txn": 1, "at": PLACED_1, "orders": [_order("o-1", "c-1", "PENDING", 1, PLACED_1, PLACED_1, "k-1")],
         "outbox": [_outbox(1, PLACE_1)], "outbox_seq": 1,
         "summaries": [_summary("o-1", "c-1", "PENDING", 1, PLACED_1, PLACED_1)], "position": 1},
        {"txn": 2, "at": APPROVED_1, "orders": [_order("o-1", "c-1", "APPROVED", 2, PLACED_1, APPROVED_1, "k-1")],
         "outbox": [_outbox(2, APPROVE_1)], "outbox_seq": 2,
         "summaries": [_summary("o-1", "c-1", "APPROVED", 2, PLACED_1, APPROVED_1)], "position": 2,
         "inbox": ["m-1"]},
        {"txn": 3, "at": PUBLISHED, "published": {"seqs": [1], "at": PUBLISHED}},
        {"txn": 4, "at": PLACED_2, "orders": [_order("o-2", "c-2", "PENDING", 1, PLACED_2, PLACED_2, None)],
         "outbox": [_outbox(3, PLACE_2)], "outbox_seq": 3,
         "summaries": [_summary("o-2", "c-2", "PENDING", 1, PLACED_2, PLACED_2)], "position": 3},
    ]


def _events_records() -> list[dict[str, Any]]:
    """The same history in events mode, with a snapshot every 2 events (taken at o-1's approval)."""
    return [
        {"txn": 1, "at": PLACED_1, "events": [{"position": 1, "event": PLACE_1}], "order_snapshots": [],
         "outbox": [_outbox(1, PLACE_1)], "outbox_seq": 1,
         "summaries": [_summary("o-1", "c-1", "PENDING", 1, PLACED_1, PLACED_1)], "position": 1},
        {"txn": 2, "at": APPROVED_1, "events": [{"position": 2, "event": APPROVE_1}],
         "order_snapshots": [_order("o-1", "c-1", "APPROVED", 2, PLACED_1, APPROVED_1, "k-1")],
         "outbox": [_outbox(2, APPROVE_1)], "outbox_seq": 2,
         "summaries": [_summary("o-1", "c-1", "APPROVED", 2, PLACED_1, APPROVED_1)], "position": 2,
         "inbox": ["m-1"]},
        {"txn": 3, "at": PUBLISHED, "published": {"seqs": [1], "at": PUBLISHED}},
        {"txn": 4, "at": PLACED_2, "events": [{"position": 3, "event": PLACE_2}], "order_snapshots": [],
         "outbox": [_outbox(3, PLACE_2)], "outbox_seq": 3,
         "summaries": [_summary("o-2", "c-2", "PENDING", 1, PLACED_2, PLACED_2)], "position": 3},
    ]


RECORDS = {"state": _state_records, "events": _events_records}


def _write_v1_journal(directory: Path, mode: str) -> None:
    directory.mkdir(parents=True)
    lines = [_line(_header(mode)), *(_line(r) for r in RECORDS[mode]())]
    (directory / journal.JOURNAL).write_bytes(b"".join(lines))


def _write_v1_compacted(directory: Path, mode: str) -> None:
    """Format 1 after a compaction at transaction 2: the snapshot holds transactions 1 and 2 (as
    format 1's dump wrote them: every field, lists possibly empty), the journal the rest."""
    first, second, *rest = RECORDS[mode]()
    events = [*first.get("events", []), *second.get("events", [])]
    state = {"txn": 2, "orders": second.get("orders", []), "events": events,
             "order_snapshots": second.get("order_snapshots", []),
             "outbox": [*first["outbox"], *second["outbox"]], "outbox_seq": 2,
             "summaries": second["summaries"], "position": 2, "inbox": ["m-1"]}
    directory.mkdir(parents=True)
    (directory / journal.SNAPSHOT).write_bytes(_line({"format": 1, "orders": mode, "last_txn": 2, "state": state}))
    (directory / journal.JOURNAL).write_bytes(b"".join([_line(_header(mode, base_txn=2)), *map(_line, rest)]))


def _assert_shows_the_v1_data(store: FileStorage) -> None:
    o1 = store.committer.load(ORDER, "o-1")
    assert o1 is not None and o1.status == OrderStatus.APPROVED and o1.version == 2
    assert ORDER.to_state(o1) == _order("o-1", "c-1", "APPROVED", 2, PLACED_1, APPROVED_1, "k-1")
    assert store.committer.load_by_key(ORDER, "k-1").id == "o-1"  # type: ignore[union-attr]
    assert store.aggregate_ids(ORDER) == ["o-1", "o-2"]
    assert store.committer.seen("m-1") and not store.committer.seen("m-2")

    assert store.read_model.get(SUMMARIES, "o-1") == OrderSummary.from_json(
        _summary("o-1", "c-1", "APPROVED", 2, PLACED_1, APPROVED_1))
    assert store.read_model.position() == 3
    assert [s.order_id for s in store.read_model.list(SUMMARIES).items] == ["o-1", "o-2"]
    assert [s.order_id for s in store.read_model.list(SUMMARIES, SUMMARIES.where(customer_id="c-1")).items] == ["o-1"]
    assert [s.order_id for s in store.read_model.list(SUMMARIES, SUMMARIES.where(status="PENDING")).items] == ["o-2"]
    first = store.read_model.list(SUMMARIES, limit=1)
    assert first.next_cursor is not None
    assert [s.order_id for s in store.read_model.list(SUMMARIES, cursor=first.next_cursor, limit=1).items] == ["o-2"]

    assert [r.seq for r in store.outbox.claim(10)] == [2, 3]
    assert [(r.seq, r.type, r.topic) for r in store.outbox.recent(10)] == [
        (3, "OrderPlaced", ""), (2, "OrderApproved", ""), (1, "OrderPlaced", "")]
    assert store.outbox.recent(10)[2].published_at == datetime.fromisoformat(PUBLISHED)

    placed = OrderPlaced(event_id="e-1", aggregate_id="o-1", aggregate_version=1,
                         occurred_at=datetime(2026, 1, 1, 10, tzinfo=UTC), customer_id="c-1", currency="EUR",
                         lines=(PlacedLine("SKU-1", 2, Decimal("9.99")),), idempotency_key="k-1")
    approved = OrderApproved(event_id="e-2", aggregate_id="o-1", aggregate_version=2,
                             occurred_at=datetime(2026, 1, 1, 11, tzinfo=UTC))
    assert store.history("o-1") == [placed, approved]


@pytest.mark.parametrize("mode", ["state", "events"])
def test_a_format_1_journal_opens_and_shows_the_same_data(tmp_path: Path, mode: str) -> None:
    _write_v1_journal(tmp_path / "files", mode)

    store = FileStorage(tmp_path / "files", feed=RingBufferFeed(10), mode=mode, snapshot_every=2)

    _assert_shows_the_v1_data(store)
    if mode == "events":
        assert [(s.position, s.event.type_name) for s in store.event_store.read_all()] == [
            (1, "orders.OrderPlaced"), (2, "orders.OrderApproved"), (3, "orders.OrderPlaced")]
    store.close()


@pytest.mark.parametrize("mode", ["state", "events"])
def test_a_compacted_format_1_store_opens_and_shows_the_same_data(tmp_path: Path, mode: str) -> None:
    _write_v1_compacted(tmp_path / "files", mode)

    store = FileStorage(tmp_path / "files", feed=RingBufferFeed(10), mode=mode, snapshot_every=2)

    _assert_shows_the_v1_data(store)
    store.close()


def test_a_reader_follows_a_format_1_journal_as_it_grows(tmp_path: Path) -> None:
    directory = tmp_path / "files"
    _write_v1_journal(directory, "state")
    reader = FileStorage(directory, feed=RingBufferFeed(10))
    assert reader.read_model.position() == 3
    ship = {"txn": 5, "at": APPROVED_1, "orders": [_order("o-1", "c-1", "SHIPPED", 3, PLACED_1, APPROVED_1, "k-1")],
            "summaries": [_summary("o-1", "c-1", "SHIPPED", 3, PLACED_1, APPROVED_1)], "position": 4}

    with (directory / journal.JOURNAL).open("ab") as handle:  # as a format-1 writer would append it
        handle.write(_line(ship))

    assert reader.read_model.get(SUMMARIES, "o-1").status == OrderStatus.SHIPPED  # type: ignore[union-attr]
    assert reader.committer.load(ORDER, "o-1").version == 3  # type: ignore[union-attr]
    reader.close()


def test_format_1_clearing_the_read_model_cleared_the_summaries_and_the_position(tmp_path: Path) -> None:
    directory = tmp_path / "files"
    _write_v1_journal(directory, "state")
    with (directory / journal.JOURNAL).open("ab") as handle:
        handle.write(_line({"txn": 5, "at": APPROVED_1, "clear_read_model": True}))
        handle.write(_line({"txn": 6, "at": APPROVED_1,
                            "summaries": [_summary("o-2", "c-2", "PENDING", 1, PLACED_2, PLACED_2)], "position": 1}))

    store = FileStorage(directory, feed=RingBufferFeed(10))

    assert [s.order_id for s in store.read_model.list(SUMMARIES).items] == ["o-2"]
    assert store.read_model.position() == 1
    store.close()


@pytest.mark.parametrize("mode", ["state", "events"])
def test_the_first_write_upgrades_a_format_1_store_and_goes_on_from_its_data(tmp_path: Path, mode: str) -> None:
    directory = tmp_path / "files"
    _write_v1_journal(directory, mode)
    store = FileStorage(directory, feed=RingBufferFeed(10), mode=mode, snapshot_every=2)
    orders = ordering(store)

    with pytest.raises(IllegalTransition):
        orders.send(RejectOrder(order_id="o-1", reason="late"))  # the old state stands: o-1 is approved already
    orders.send(ShipOrder(order_id="o-1"))
    orders.send(ApproveOrder(order_id="o-2"))
    store.close()

    header = json.loads((directory / journal.JOURNAL).read_bytes().split(b"\n")[0])["rec"]
    assert (header["format"], header["mode"], header["base_txn"]) == (journal.FORMAT, mode, 4)
    assert json.loads((directory / journal.SNAPSHOT).read_bytes())["rec"]["format"] == journal.FORMAT
    reopened = FileStorage(directory, feed=RingBufferFeed(10), mode=mode, snapshot_every=2)
    assert reopened.committer.load(ORDER, "o-1").status == OrderStatus.SHIPPED  # type: ignore[union-attr]
    assert [e.aggregate_version for e in reopened.history("o-1")] == [1, 2, 3]
    assert [r.seq for r in reopened.outbox.claim(10)] == [2, 3, 4, 5]
    assert reopened.read_model.get(SUMMARIES, "o-2").status == OrderStatus.APPROVED  # type: ignore[union-attr]
    assert reopened.read_model.position() == 5
    reopened.close()


def test_a_crash_in_the_middle_of_the_upgrade_leaves_a_store_that_opens_and_upgrades_again(tmp_path: Path) -> None:
    directory = tmp_path / "files"
    _write_v1_journal(directory, "state")
    shutil.copy(directory / journal.JOURNAL, tmp_path / "v1-journal")
    store = FileStorage(directory, feed=RingBufferFeed(10))
    ordering(store).send(ShipOrder(order_id="o-1"))
    store.close()
    # As if killed after the format-2 snapshot was renamed in, before the format-2 journal was.
    shutil.copy(tmp_path / "v1-journal", directory / journal.JOURNAL)

    reopened = FileStorage(directory, feed=RingBufferFeed(10))

    _assert_shows_the_v1_data(reopened)
    ordering(reopened).send(ShipOrder(order_id="o-1"))
    assert reopened.committer.load(ORDER, "o-1").status == OrderStatus.SHIPPED  # type: ignore[union-attr]
    reopened.close()
    header = json.loads((directory / journal.JOURNAL).read_bytes().split(b"\n")[0])["rec"]
    assert header["format"] == journal.FORMAT
