"""The embedded PostgreSQL's life beyond the processes that use it: a user killed with SIGKILL
no longer keeps it running forever, `orderhex postgres status|stop` shows and stops it, and a
postmaster.pid naming a pid that is now another process is never signalled."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.outbound.sql import postgres_command
from adapters.outbound.sql.embedded import PIDFILE, postgres_status, start_embedded, stop_postgres

pytestmark = pytest.mark.postgres

HOLDER = """
import sys, time
from pathlib import Path
from adapters.outbound.sql.embedded import start_embedded
start_embedded(Path(sys.argv[1]))
print("up", flush=True)
time.sleep(600)
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's temp root: see tests/fixtures_postgres.py for why.
    directory = Path(tempfile.mkdtemp(prefix="orderhex-pg-life-"))
    yield directory
    stop_postgres(directory / "postgres")
    shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # pid 1 here may not reap orphans
    except psutil.NoSuchProcess:
        return False


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        return None


def command(action: str, data_dir: Path, *, force: bool = False) -> tuple[int, str, str]:
    out, err = _Capture(), _Capture()
    code = postgres_command.run(argparse.Namespace(action=action, json=False, force=force), data_dir, out=out, err=err)
    return code, out.text, err.text


def test_a_server_whose_user_was_killed_is_shown_and_stopped(data_dir: Path) -> None:
    directory = data_dir / "postgres"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
    code, text, _ = command("status", data_dir)
    assert code == 0 and text.startswith("embedded PostgreSQL running:") and f"pid(s) {holder.pid}" in text
    code, _, err = command("stop", data_dir)
    assert code == 1 and f"in use by pid(s) {holder.pid}" in err, "in use: stopped only with --force"

    holder.kill()  # SIGKILL: the wheel's exit handler never runs, the server stays up
    holder.wait()
    status = postgres_status(directory)
    assert status.state == "running" and status.users == [], "a dead user does not count"
    pid = status.pid

    code, text, _ = command("stop", data_dir)
    assert code == 0 and text.startswith("embedded PostgreSQL stopped")
    assert postgres_status(directory).state == "stopped"
    assert pid is not None and not _alive(pid)
    assert command("status", data_dir)[0] == 3

    # The next user starts it again, and leaving it (normally) stops it: the dead pid was forgotten.
    start_embedded(directory)
    assert json.loads((directory / ".handle_pids.json").read_text()) == [__import__("os").getpid()]


def test_a_postmaster_pid_that_is_now_another_process_is_not_signalled_and_does_not_block_a_start(
    data_dir: Path,
) -> None:
    directory = data_dir / "postgres"
    start_embedded(directory)
    assert stop_postgres(directory)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # What a crash leaves behind when the kernel hands the postmaster's pid to another process.
        (directory / PIDFILE).write_text(f"{other.pid}\n{directory}\n{int(time.time())}\n\n/tmp\n\n0 0\nready\n")
        status = postgres_status(directory)
        assert status.state == "stale" and f"pid {other.pid} is now another process" in status.detail
        assert stop_postgres(directory) is False
        assert other.poll() is None, "the other process was left alone"
        (directory / PIDFILE).write_text(f"{other.pid}\n{directory}\n{int(time.time())}\n\n/tmp\n\n0 0\nready\n")
        url = start_embedded(directory)  # PostgreSQL would refuse: "is another postmaster running?"
        assert url.startswith("postgresql://")
        assert postgres_status(directory).state == "running"
    finally:
        other.kill()
        other.wait()
