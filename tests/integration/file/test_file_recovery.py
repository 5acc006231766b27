"""A torn last line is reported and cut; real damage is refused, naming the file, changing nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from adapters.outbound.file import journal
from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.errors import Unavailable
from core.kernel.feed import FeedKind
from core.orders.queries import SUMMARIES
from tests.integration.file.conftest import OpenStore, place


def _files(tmp_path: Path) -> Path:
    return tmp_path / "files"


def _snapshot_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != journal.LOCK}


def test_a_torn_last_line_is_reported_on_the_feed_ignored_and_cut_off_by_the_next_writer(
    open_store: OpenStore, tmp_path: Path, feed: RingBufferFeed
) -> None:
    store = open_store()
    kept = place(store)
    store.close()
    path = _files(tmp_path) / journal.JOURNAL
    complete = path.read_bytes()
    torn = journal.encode({"txn": 99, "aggregates": []})[:-7]  # a writer killed mid-write
    path.write_bytes(complete + torn)

    reopened = open_store()

    errors = [e for e in feed.recent() if e.kind == FeedKind.ERROR]
    assert len(errors) == 1
    assert str(path) in errors[0].text and "torn" in errors[0].text
    assert reopened.read_model.get(SUMMARIES, kept.id) is not None
    assert len([e for e in feed.recent() if e.kind == FeedKind.ERROR]) == 1  # reported once, not per read
    place(reopened)  # becoming the writer cuts the tail, so this commit lands on a clean line boundary
    reopened.close()
    assert path.read_bytes().startswith(complete)
    assert (_files(tmp_path) / journal.TORN).read_bytes() == torn + b"\n"
    with path.open("rb") as handle:
        assert len(journal.read(path, handle, 0).records) == 3
    assert "cut off and saved" in feed.recent()[-1].text


def test_a_reader_does_not_cut_a_line_the_writer_may_still_be_writing(
    open_store: OpenStore, tmp_path: Path, feed: RingBufferFeed
) -> None:
    writer = open_store()
    place(writer)  # holds the writer lock from here on
    path = _files(tmp_path) / journal.JOURNAL
    with path.open("ab") as handle:
        handle.write(b'{"crc":"0000')

    reader = open_store()

    assert reader.read_model.list(SUMMARIES).items
    assert path.read_bytes().endswith(b'{"crc":"0000')
    assert not [e for e in feed.recent() if e.kind == FeedKind.ERROR]


def test_a_damaged_line_in_the_middle_is_refused_naming_the_file_and_nothing_changes(
    open_store: OpenStore, tmp_path: Path
) -> None:
    store = open_store()
    place(store)
    place(store)
    store.close()
    path = _files(tmp_path) / journal.JOURNAL
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"SKU-1", b"SKU-2")  # same length, checksum no longer matches
    path.write_bytes(b"\n".join(lines))
    before = _snapshot_of(_files(tmp_path))

    with pytest.raises(Unavailable) as caught:
        open_store()

    assert str(path) in str(caught.value)
    assert "damaged at byte" in str(caught.value) and "restore" in str(caught.value)
    assert _snapshot_of(_files(tmp_path)) == before


def test_garbage_between_records_is_refused_and_nothing_changes(open_store: OpenStore, tmp_path: Path) -> None:
    store = open_store()
    place(store)
    place(store)
    store.close()
    path = _files(tmp_path) / journal.JOURNAL
    header, first, second, _ = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([header, first, b"\x00garbage\x00", second, b""]))
    before = _snapshot_of(_files(tmp_path))

    with pytest.raises(Unavailable, match="damaged at byte"):
        open_store()
    assert _snapshot_of(_files(tmp_path)) == before


def test_a_complete_but_damaged_last_line_is_damage_not_a_torn_write(open_store: OpenStore, tmp_path: Path) -> None:
    store = open_store()
    place(store)
    store.close()
    path = _files(tmp_path) / journal.JOURNAL
    path.write_bytes(path.read_bytes() + b"not json at all\n")
    before = _snapshot_of(_files(tmp_path))

    with pytest.raises(Unavailable, match="damaged at byte"):
        open_store()
    assert _snapshot_of(_files(tmp_path)) == before


def _compacted(open_store: OpenStore) -> None:
    store = open_store(compact_bytes=1024)
    for _ in range(5):
        place(store)
    store.close()


def test_an_unreadable_snapshot_is_refused_naming_it_and_nothing_changes(open_store: OpenStore, tmp_path: Path) -> None:
    _compacted(open_store)
    snapshot = _files(tmp_path) / journal.SNAPSHOT
    snapshot.write_bytes(snapshot.read_bytes()[:100] + b"\n")
    before = _snapshot_of(_files(tmp_path))

    with pytest.raises(Unavailable) as caught:
        open_store()

    assert str(snapshot) in str(caught.value) and "restore" in str(caught.value)
    assert _snapshot_of(_files(tmp_path)) == before


def test_a_journal_whose_snapshot_is_missing_is_refused(open_store: OpenStore, tmp_path: Path) -> None:
    _compacted(open_store)
    (_files(tmp_path) / journal.SNAPSHOT).rename(tmp_path / "elsewhere.json")

    with pytest.raises(Unavailable, match=re.escape("snapshot.json holds only 0")):
        open_store()


@pytest.mark.parametrize("name", [journal.JOURNAL, journal.SNAPSHOT])
def test_a_file_from_a_newer_format_is_refused_with_upgrade_advice(
    open_store: OpenStore, tmp_path: Path, name: str
) -> None:
    _compacted(open_store)
    path = _files(tmp_path) / name
    first, _, rest = path.read_bytes().partition(b"\n")
    header = json.loads(first)
    header["rec"]["format"] = journal.FORMAT + 1
    path.write_bytes(json.dumps(header).encode() + b"\n" + rest)
    before = _snapshot_of(_files(tmp_path))

    with pytest.raises(Unavailable) as caught:
        open_store()

    assert str(path) in str(caught.value) and "newer orderhex" in str(caught.value)
    assert "upgrade orderhex" in str(caught.value)
    assert _snapshot_of(_files(tmp_path)) == before


def test_a_store_kept_in_the_other_mode_is_refused_with_the_mode_to_use(open_store: OpenStore) -> None:
    place(open_store("state"))
    with pytest.raises(Unavailable, match=re.escape('open it in mode "state"')):
        open_store("events")


def test_a_missing_journal_next_to_a_snapshot_is_refused(open_store: OpenStore, tmp_path: Path) -> None:
    _compacted(open_store)
    (_files(tmp_path) / journal.JOURNAL).unlink()
    with pytest.raises(Unavailable, match=re.escape("journal.jsonl is unavailable: is missing")):
        open_store()


def test_check_names_the_journal_when_the_directory_has_gone(open_store: OpenStore, tmp_path: Path) -> None:
    writer = open_store()
    place(writer)
    reader = open_store()
    reader.check()
    writer.check()
    shutil.rmtree(_files(tmp_path))

    for store in (reader, writer):
        with pytest.raises(Unavailable, match=re.escape(str(_files(tmp_path) / journal.JOURNAL))):
            store.check()


@pytest.mark.parametrize("record", [
    {"txn": 2, "documents": [{"view": SUMMARIES.name, "key": "o-x"}]},  # a field lacks its parts
    {"txn": 2, "summaries": [{"order_id": "o-x"}]},  # a field format 2 does not have (format 1 had it)
])
def test_a_checksummed_record_of_an_unknown_shape_is_refused_not_half_applied(
    open_store: OpenStore, tmp_path: Path, record: dict[str, object]
) -> None:
    store = open_store()
    place(store)
    store.close()
    path = _files(tmp_path) / journal.JOURNAL
    with path.open("ab") as handle:
        handle.write(journal.encode(record))

    with pytest.raises(Unavailable, match=f"does not fit format {journal.FORMAT}"):
        open_store()
