"""The embedded broker's life: its binary in the data directory, `orderhex broker status|stop`,
and a pid in broker.json that is now another process: reported, never signalled."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

import bootstrap
from adapters.inbound.cli import main as cli
from adapters.outbound.kafka import broker_command
from adapters.outbound.kafka.embedded import (
    STATE_FILE,
    BrokerRecord,
    answers,
    embedded_status,
    ensure_embedded,
    stop_embedded,
)

pytestmark = pytest.mark.kafka


def status_of(data_dir: Path) -> tuple[int, dict[str, object]]:
    out = _Capture()
    code = broker_command.run(argparse.Namespace(action="status", json=True), data_dir, out=out)
    return code, json.loads(out.text)


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        return None


def test_the_shared_broker_runs_its_binary_from_the_data_directory_until_stopped(tmp_path: Path) -> None:
    assert status_of(tmp_path) == (3, {"state": "stopped", "directory": str(tmp_path / "tansu"),
                                       "detail": "no broker recorded"})
    servers = ensure_embedded(tmp_path)
    try:
        record = json.loads((tmp_path / "tansu" / STATE_FILE).read_text())
        assert Path(record["binary"]).parent == tmp_path / "tansu" / "bin"
        assert record["started"] > 0
        code, status = status_of(tmp_path)
        assert code == 0 and status["state"] == "running" and status["bootstrap_servers"] == servers
        assert status["pid"] == record["pid"]
    finally:
        out = _Capture()
        assert broker_command.run(argparse.Namespace(action="stop", json=True), tmp_path, out=out) == 0
    assert json.loads(out.text)["stopped"] is True
    assert not answers(record["port"])
    assert status_of(tmp_path)[1]["state"] == "stopped"


def test_a_recorded_pid_that_is_now_another_process_is_not_signalled(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        directory = tmp_path / "tansu"
        directory.mkdir()
        # What a crash leaves behind when the kernel hands the broker's pid to another process.
        (directory / STATE_FILE).write_text(json.dumps(BrokerRecord(pid=other.pid, port=9, binary="/x/tansu",
                                                                    started=1.0).to_json()))
        status = embedded_status(tmp_path)
        assert status.state == "stale" and f"pid {other.pid} is now another process" in status.detail
        assert stop_embedded(tmp_path) is False
        assert other.poll() is None, "the other process was left alone"
        assert not (directory / STATE_FILE).exists(), "the stale record is gone"
        # ... and the next start does not trust it either: it starts a broker of its own.
        servers = ensure_embedded(tmp_path)
        assert answers(int(servers.rsplit(":", 1)[1]))
        assert stop_embedded(tmp_path)
    finally:
        other.kill()
        other.wait()


def test_a_record_of_a_pid_that_exited_is_stopped_state(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "tansu").mkdir()
    (tmp_path / "tansu" / STATE_FILE).write_text(json.dumps({"pid": gone.pid, "port": 9}))  # an old-format file
    assert embedded_status(tmp_path).state == "stopped"
    assert stop_embedded(tmp_path) is False


def test_the_broker_and_postgres_commands_parse_and_run_through_the_cli(tmp_path: Path) -> None:
    out, err = _Capture(), _Capture()
    extra = {"broker": cli.ExtraCommand(help=broker_command.HELP, configure=broker_command.configure,
                                        run=lambda args, _app: broker_command.run(args, tmp_path, out=out),
                                        needs_app=False)}
    code = cli.run(["broker", "status"], build=lambda _: None, describe_config=lambda _: [], extra=extra,
                   out=out, err=err)  # type: ignore[arg-type]
    assert code == 3 and out.text.startswith("embedded broker stopped: no broker recorded")
    assert cli.run(["broker", "restart"], build=lambda _: None, describe_config=lambda _: [], extra=extra,
                   out=out, err=err) == 2  # type: ignore[arg-type]


def test_bootstrap_offers_the_broker_and_postgres_commands() -> None:
    assert {"broker", "postgres"} <= set(bootstrap.EXTRA_COMMANDS)
