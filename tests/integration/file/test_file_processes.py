"""Real processes on one store: the writer lock, writers taking turns, and kill -9 at random points."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from adapters.outbound.file import journal
from adapters.outbound.file.storage import FileStorage
from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.errors import Unavailable
from core.kernel.feed import FeedKind
from core.orders.model import ORDER, OrderStatus
from core.orders.queries import SUMMARIES
from tests.integration.file.conftest import place, run_child

KILL_BUDGET_SECONDS = 8
MIN_KILLS = 20
MAX_KILLS = 300


def _lines_until(child: subprocess.Popen[str], last: str) -> list[str]:
    assert child.stdout is not None
    lines = []
    while not lines or lines[-1] != last:
        line = child.stdout.readline()
        assert line, f"child exited early: {child.stderr.read() if child.stderr else ''}"
        lines.append(line.strip())
    return lines


def test_a_second_writer_process_is_kept_out_naming_the_lock_file_and_the_holder_pid(tmp_path: Path) -> None:
    child = run_child("hold", str(tmp_path), stdin=subprocess.PIPE)
    try:
        placed = _lines_until(child, "ready")[0].split()[1]
        store = FileStorage(tmp_path / "files", feed=RingBufferFeed(10))

        assert store.read_model.get(SUMMARIES, placed) is not None  # readers may read while another process writes
        with pytest.raises(Unavailable) as caught:
            place(store)
        assert str(tmp_path / "files" / journal.LOCK) in str(caught.value)
        assert f"pid {child.pid} " in str(caught.value)

        child.kill()  # kill -9: the kernel frees the lock with the process
        child.wait(10)
        place(store)
        store.close()
    finally:
        child.kill()
        child.wait(10)


@pytest.mark.parametrize("mode", ["state", "events"])
def test_writer_processes_taking_turns_on_the_lock_lose_no_update(tmp_path: Path, mode: str) -> None:
    store = FileStorage(tmp_path / "files", feed=RingBufferFeed(10), mode=mode)
    order_ids = [place(store).id for _ in range(60)]
    store.close()
    approver = run_child("turns", str(tmp_path), mode, "approve", *order_ids, stdin=subprocess.PIPE)
    rejecter = run_child("turns", str(tmp_path), mode, "reject", *reversed(order_ids), stdin=subprocess.PIPE)
    children = {"approve": approver, "reject": rejecter}
    for child in children.values():
        _lines_until(child, "ready")
    for child in children.values():
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outcomes = {}
    for action, child in children.items():
        out, err = child.communicate(timeout=90)
        assert child.returncode == 0, err
        outcomes[action] = dict(reversed(line.split()) for line in out.splitlines())

    winners = {i: [a for a in children if outcomes[a][i] == "won"] for i in order_ids}
    assert all(len(w) == 1 for w in winners.values()), winners
    assert {w[0] for w in winners.values()} == {"approve", "reject"}  # the two really interleaved
    store = FileStorage(tmp_path / "files", feed=RingBufferFeed(10), mode=mode)
    expected = {"approve": OrderStatus.APPROVED, "reject": OrderStatus.REJECTED}
    for order_id, (winner,) in winners.items():
        summary = store.read_model.get(SUMMARIES, order_id)
        assert summary is not None and summary.status == expected[winner] and summary.version == 2
        assert [r.aggregate_version for r in store.outbox.history(order_id)] == [1, 2]
    store.close()


def test_a_process_dying_halfway_through_a_record_leaves_a_torn_tail_that_is_reported_and_cut(
    tmp_path: Path,
) -> None:
    child = run_child("tear", str(tmp_path))
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGXFSZ, err
    placed = [line.split()[1] for line in out.splitlines()]
    assert len(placed) == 3
    path = tmp_path / "files" / journal.JOURNAL
    assert not path.read_bytes().endswith(b"\n")
    feed = RingBufferFeed(10)

    store = FileStorage(tmp_path / "files", feed=feed)

    (reported,) = feed.recent()
    assert reported.kind == FeedKind.ERROR and str(path) in reported.text and "100 bytes" in reported.text
    assert all(store.read_model.get(SUMMARIES, order_id) is not None for order_id in placed)
    assert len(store.read_model.list(SUMMARIES).items) == 3  # the half-written fourth order is not there
    place(store)
    store.close()
    assert path.read_bytes().endswith(b"\n")
    assert len((tmp_path / "files" / journal.TORN).read_bytes()) == 100 + 1


def test_a_write_failing_halfway_is_taken_back_so_the_store_goes_on_cleanly(tmp_path: Path) -> None:
    child = run_child("full", str(tmp_path))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    lines = out.splitlines()
    assert lines[1].startswith(f"unavailable {tmp_path / 'files' / journal.JOURNAL}") and "File too large" in lines[1]
    feed = RingBufferFeed(10)

    store = FileStorage(tmp_path / "files", feed=feed)

    assert not feed.recent()  # no torn tail: the partial line was cut before the error was raised
    assert sorted(s.order_id for s in store.read_model.list(SUMMARIES).items) == sorted(
        line.split()[1] for line in lines if line.startswith("placed"))
    store.close()


def test_a_reader_follows_a_writer_process_through_its_compactions(tmp_path: Path) -> None:
    zygote = run_child("zygote", stdin=subprocess.PIPE)
    assert zygote.stdin is not None and zygote.stdout is not None
    report = tmp_path / "report.txt"
    zygote.stdin.write(f"{tmp_path} state {report}\n")
    zygote.stdin.flush()
    pid = int(zygote.stdout.readline())
    try:
        _wait_for_lines(report, 1, pid)
        reader = FileStorage(tmp_path / "files", feed=RingBufferFeed(10))
        seen = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            count = len(reader.read_model.list(SUMMARIES, limit=500).items)
            assert count >= seen  # never a torn or half-compacted view
            seen = count
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)
        placed = [line.split()[1] for line in report.read_text().split("\n")[:-1] if line.startswith("placed")]
        assert all(reader.read_model.get(SUMMARIES, order_id) is not None for order_id in placed)
        assert seen > 0 and (tmp_path / "files" / journal.SNAPSHOT).exists()
    finally:
        zygote.kill()
        zygote.wait(10)


def _check_committed(store: FileStorage, lines: list[str]) -> None:
    """Every change the child reported (it reports after commit returned) is in the store."""
    least = {"placed": {OrderStatus.PENDING, OrderStatus.APPROVED, OrderStatus.SHIPPED},
             "approved": {OrderStatus.APPROVED, OrderStatus.SHIPPED}, "shipped": {OrderStatus.SHIPPED}}
    for line in lines:
        what, order_id = line.split()
        summary = store.read_model.get(SUMMARIES, order_id)
        assert summary is not None, f"{order_id} was reported {what} but is not in the store"
        assert summary.status in least[what], (line, summary.status)
        order = store.committer.load(ORDER, order_id)
        assert order is not None and order.status == summary.status and order.version == summary.version
        assert [r.aggregate_version for r in store.outbox.history(order_id)] == list(range(1, order.version + 1))


def _wait_for_lines(report: Path, count: int, pid: int) -> None:
    deadline = time.monotonic() + 30
    while not report.exists() or report.read_text().count("\n") < count:
        assert time.monotonic() < deadline, f"churning process {pid} stalled"
        time.sleep(0.001)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"process {pid} survived SIGKILL"
        time.sleep(0.001)


@pytest.mark.parametrize("mode", ["state", "events"])
def test_kill_9_at_random_points_loses_no_committed_change_and_leaves_no_half_record(
    tmp_path: Path, mode: str
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    feed = RingBufferFeed(1000)
    reported: list[str] = []
    kills = 0
    zygote = run_child("zygote", stdin=subprocess.PIPE)
    assert zygote.stdin is not None and zygote.stdout is not None
    started = time.monotonic()
    try:
        while kills < MIN_KILLS or (kills < MAX_KILLS and time.monotonic() - started < KILL_BUDGET_SECONDS):
            report = tmp_path / f"report-{kills}.txt"
            zygote.stdin.write(f"{tmp_path} {mode} {report}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            _wait_for_lines(report, rng.randint(1, 40), pid)
            time.sleep(rng.random() * 0.01)  # land anywhere: mid-commit, mid-fsync, mid-compaction
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
            kills += 1
            # Only whole lines count: the child writes each line after its commit returned.
            latest = report.read_text().split("\n")[:-1]
            reported += latest
            # Opening parses every file (and reports a torn tail); what was just reported must be there.
            store = FileStorage(tmp_path / "files", feed=feed, mode=mode)
            try:
                _check_committed(store, latest)
            finally:
                store.close()
    finally:
        zygote.kill()
        zygote.wait(10)
    store = FileStorage(tmp_path / "files", feed=feed, mode=mode)
    _check_committed(store, reported)  # and nothing reported earlier was lost by a later recovery
    store.close()
    assert (tmp_path / "files" / journal.SNAPSHOT).exists()  # the children compacted, so kills could land there
    torn = [e for e in feed.recent() if e.kind == FeedKind.ERROR]
    print(f"seed {seed}: {kills} kills, {len(reported)} changes reported and found, {len(torn)} torn tails")
