"""Everything committed is there after reopening, through compactions and event snapshots."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.outbound.file import journal
from adapters.outbound.file.storage import FileStorage
from core.orders.model import ORDER, OrderStatus
from core.orders.queries import SUMMARIES
from tests.integration.file.conftest import OpenStore, approve, new_order, place, unit_of_work

AT = datetime(2026, 1, 3, tzinfo=UTC)


def _everything(store: FileStorage, order_ids: list[str]) -> object:
    """What the ports show, in comparable form."""
    orders = [ORDER.to_state(o) if (o := store.committer.load(ORDER, i)) else None for i in order_ids]
    return (
        orders, store.aggregate_ids(ORDER),
        list(store.read_model.list(SUMMARIES, limit=500).items), store.read_model.position(),
        store.outbox.recent(1000), store.event_store.read_all(0, 10_000),
        [store.history(i) for i in order_ids],
    )


@pytest.mark.parametrize("mode", ["state", "events"])
def test_a_reopened_store_shows_every_committed_change(open_store: OpenStore, mode: str) -> None:
    store = open_store(mode)
    orders = [place(store, key=f"k-{i}") for i in range(4)]
    approve(store, orders[0].id)
    store.outbox.mark_published([1, 2], AT)
    with unit_of_work(store) as uow:
        uow.message_id = "m-1"
        uow.repository(ORDER).add(new_order())
        uow.commit()
    ids = [o.id for o in orders]
    before = _everything(store, ids)
    store.close()

    reopened = open_store(mode)

    assert _everything(reopened, ids) == before
    assert reopened.committer.seen("m-1")
    assert reopened.outbox.pending_count() == 6 - 2
    assert reopened.committer.load_by_key(ORDER, "k-2").id == orders[2].id  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["state", "events"])
def test_compaction_keeps_everything_and_restarts_the_journal(open_store: OpenStore, tmp_path: Path, mode: str) -> None:
    store = open_store(mode, compact_bytes=4096)
    orders = [place(store) for _ in range(30)]
    for order in orders[::3]:
        approve(store, order.id)
    store.outbox.purge_published(AT)
    store.outbox.mark_published([1], AT)
    ids = [o.id for o in orders]
    before = _everything(store, ids)
    store.close()

    directory = tmp_path / "files"
    assert (directory / journal.SNAPSHOT).exists()
    # Compacted once the journal outgrew both compact_bytes and the snapshot (plus one commit).
    limit = max(4096, (directory / journal.SNAPSHOT).stat().st_size)
    assert (directory / journal.JOURNAL).stat().st_size < limit + 2048
    assert _everything(open_store(mode), ids) == before


def test_a_crash_between_snapshot_and_new_journal_replays_to_the_same_state(
    open_store: OpenStore, tmp_path: Path
) -> None:
    directory = tmp_path / "files"
    store = open_store(compact_bytes=3000)
    orders = [place(store)]
    while not (directory / journal.SNAPSHOT).exists():
        shutil.copy(directory / journal.JOURNAL, tmp_path / "old-journal")
        orders.append(place(store))
    ids = [o.id for o in orders]
    before = _everything(store, ids)
    store.close()
    # As if killed after the snapshot was renamed in but before the new journal was.
    shutil.copy(tmp_path / "old-journal", directory / journal.JOURNAL)
    last = orders[-1]
    with (directory / journal.JOURNAL).open("ab") as handle:
        handle.write(journal.encode({"txn": len(orders), "aggregates": [
            {"type": ORDER.name, "id": last.id, "version": last.version, "key": None, "state": ORDER.to_state(last)}]}))

    reopened = open_store()

    assert _everything(reopened, ids) == before
    place(reopened)  # and it goes on from there


def test_events_mode_writes_a_snapshot_every_n_events_and_loads_from_it(open_store: OpenStore, tmp_path: Path) -> None:
    store = open_store("events", snapshot_every=2)
    order = place(store)
    approve(store, order.id)  # version 2: a snapshot is due
    store.close()
    records = [json.loads(line)["rec"] for line in (tmp_path / "files" / journal.JOURNAL).read_bytes().splitlines()]
    assert [[a["state"] is not None for a in r["aggregates"]] for r in records[1:]] == [[False], [True]]
    assert records[2]["aggregates"][0]["state"]["version"] == 2

    # Rebuilding starts from the snapshot: if the snapshot were ignored, the events would show APPROVED.
    records[2]["aggregates"][0]["state"]["status"] = "CANCELLED"
    lines = [journal.encode(r) for r in records]
    (tmp_path / "files" / journal.JOURNAL).write_bytes(b"".join(lines))
    loaded = open_store("events", snapshot_every=2).committer.load(ORDER, order.id)
    assert loaded is not None and loaded.status == OrderStatus.CANCELLED and loaded.version == 2


def test_a_reader_follows_the_writer_through_commits_and_compactions(open_store: OpenStore) -> None:
    writer = open_store(compact_bytes=2048)
    reader = open_store(compact_bytes=2048)
    seen = []
    for _ in range(25):
        order = place(writer)
        seen.append(reader.read_model.get(SUMMARIES, order.id))
    assert all(s is not None for s in seen)
    assert reader.read_model.list(SUMMARIES, limit=100).items == writer.read_model.list(SUMMARIES, limit=100).items
