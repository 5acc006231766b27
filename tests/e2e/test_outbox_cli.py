"""`orderhex outbox parked|retry SEQ|drop SEQ` on a SQLite data directory: what a parked row is,
what an operator does with it, and one line on stderr with exit 2 for what cannot be done."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bootstrap
from adapters.outbound.memory.broker import MemoryPublisher
from adapters.outbound.memory.messaging import MemoryMessaging
from core.kernel.envelope import OutboxRecord


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith("ORDERHEX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORDERHEX_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def park_one(data_dir: Path) -> int:
    """A row the broker refuses for its size, parked by a relay on the SQLite store."""
    app = bootstrap.Application(bootstrap.load_config(env={}, overrides={"data_dir": str(data_dir)}))
    try:
        messaging = app.switchboard.get("messaging")
        assert isinstance(messaging, MemoryMessaging)
        messaging.publisher = MemoryPublisher(messaging.broker, max_message_bytes=100)
        record = OutboxRecord(event_id="big-1", aggregate_id="big", aggregate_version=1, type="orders.Test",
                              payload="x" * 500, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                              topic="orderhex.orders.events")
        [seq] = app.storage.committer.write([], [record], [], [])
        bootstrap.relay_worker(app).loop.relay.publish_batch()
        return seq
    finally:
        app.close()


def test_parked_lists_each_row_with_its_store_key_size_and_reason(data_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert bootstrap.main(["outbox", "parked"]) == 0
    assert capsys.readouterr().out.strip() == "no parked outbox rows"
    seq = park_one(data_dir)
    assert bootstrap.main(["outbox", "parked"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"orders seq {seq}: orders.Test key big") and "500 bytes" in line
    assert "over the broker's limit of 100 bytes" in line
    assert bootstrap.main(["outbox", "parked", "--json"]) == 0
    assert [row["seq"] for row in json.loads(capsys.readouterr().out)] == [seq]


def test_retry_makes_the_row_claimable_again(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = park_one(data_dir)
    assert bootstrap.main(["outbox", "retry", str(seq)]) == 0
    assert "retried" in capsys.readouterr().out
    app = bootstrap.build(None)
    try:
        assert app.storage.outbox.parked() == [] and [r.seq for r in app.storage.outbox.claim(10)] == [seq]
    finally:
        app.close()


def test_drop_deletes_the_row_for_good(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = park_one(data_dir)
    assert bootstrap.main(["outbox", "drop", str(seq), "--service", "orders"]) == 0
    assert "dropped" in capsys.readouterr().out
    app = bootstrap.build(None)
    try:
        assert app.storage.outbox.parked() == [] and app.storage.outbox.recent(10) == []
    finally:
        app.close()


@pytest.mark.parametrize(("argv", "says"), [
    (["outbox", "retry", "7"], "parked outbox row '7' not found"),
    (["outbox", "drop", "0"], "SEQ must be a whole number of at least 1"),
    (["outbox", "retry", "abc"], "SEQ must be a whole number"),
    (["outbox", "drop", "1", "--service", "billing"], "service: must be one of orders, inventory"),
])
def test_what_cannot_be_done_is_one_line_on_stderr_and_exit_2(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                               argv: list[str], says: str) -> None:
    assert bootstrap.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err
