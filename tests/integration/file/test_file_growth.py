"""A growing file store: the journal is compacted as often as the store doubles, not every few
kilobytes, and the list indexes of a reading process follow the writer's commits and
compactions."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.outbound.file import journal
from core.orders.model import OrderStatus
from core.orders.queries import SUMMARIES
from tests.integration.file.conftest import OpenStore, approve, place


def test_the_snapshot_is_rewritten_about_once_per_doubling_of_the_store(open_store: OpenStore, tmp_path: Path) -> None:
    store = open_store(compact_bytes=4096)
    snapshot = tmp_path / "files" / journal.SNAPSHOT
    written: list[int] = []
    for _ in range(400):
        place(store)
        if snapshot.exists() and (not written or os.stat(snapshot).st_ino != written[-1]):
            written.append(os.stat(snapshot).st_ino)
    journal_bytes = (tmp_path / "files" / journal.JOURNAL).stat().st_size
    # 400 orders make about 600 KB of journal lines: compacting every 4 KiB would rewrite the
    # snapshot over a hundred times; doubling from 4 KiB to 600 KB takes about eight.
    assert 4 <= len(written) <= 12, len(written)
    assert journal_bytes <= snapshot.stat().st_size + 4096


def test_a_reader_lists_what_the_writer_commits_after_it_first_listed(open_store: OpenStore) -> None:
    writer = open_store(compact_bytes=16_384)
    first = [place(writer) for _ in range(5)]
    reader = open_store()
    pending = SUMMARIES.where(customer_id="c-1", status=OrderStatus.PENDING.value)
    approved = SUMMARIES.where(customer_id="c-1", status=OrderStatus.APPROVED.value)
    assert len(reader.read_model.list(SUMMARIES, pending).items) == 5  # builds the reader's index
    later = [place(writer) for _ in range(60)]  # through at least one compaction: the reader reloads
    approve(writer, first[0].id)
    approve(writer, later[-1].id)
    listed = [s.order_id for s in reader.read_model.list(SUMMARIES, pending, limit=500).items]
    assert sorted(listed) == sorted(o.id for o in [*first[1:], *later[:-1]])
    assert {s.order_id for s in reader.read_model.list(SUMMARIES, approved).items} == {first[0].id, later[-1].id}
    assert listed == [s.order_id for s in writer.read_model.list(SUMMARIES, pending, limit=500).items]
