"""The README's examples, extracted from it and run as written against a fresh data directory,
with what the README says they print.

Covered: every `orderhex` line of "Using it from the command line" and the TOML example of
"Configuration". Not here: the curl lines of "The HTTP API" (tests/e2e/test_serve.py runs the
HTTP API) and the Kafka records of "Messaging" (the intake tests).
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from tests.fixtures_kafka import orderhex_env

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
ORDERHEX = Path(sys.executable).with_name("orderhex")
WRITTEN = ".venv/bin/orderhex"
LONG_RUNNING = ("relay", "consume")  # they run until SIGTERM/SIGINT and need a broker
# What each command's line is said to print (its comment in the README, the sections around it).
# An example of another command only has to exit 0 (a long-running one belongs in LONG_RUNNING).
PROMISED = {
    "place": ["placed {order_id}"],
    "orders": ["{order_id}", "PENDING", "24.48"],
    "show": ["{order_id}", "PENDING", "24.48 EUR", "SKU-1", "SKU-2",
             "saga      place-order waiting: pending: waiting for inventory and payments"],
    "history": ["OrderPlaced"],
    "projections": ["read model rebuilt from 1 items"],
    "db": ["already at"],
    "adapters": ["storage", "sqlite", "messaging", "memory"],
    "config": ["data_dir", "env ORDERHEX_DATA_DIR", "storage.adapter"],
}


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def cli_examples() -> list[list[str]]:
    """Each `orderhex` example line as the shell would split it (comments dropped)."""
    lines = [line for block in _blocks(_section("Using it from the command line"), "sh")
             for line in block.splitlines() if line.startswith(WRITTEN)]
    return [shlex.split(line, comments=True) for line in lines]


def _env(data_dir: Path, **settings: Any) -> dict[str, str]:
    return orderhex_env({"data_dir": data_dir, **settings})


def _as_run(argv: list[str], order_id: str) -> list[str]:
    assert argv[0] == WRITTEN
    return [str(ORDERHEX), *(order_id if arg == "ORDER_ID" else arg for arg in argv[1:])]


def test_the_readme_has_the_examples_this_test_runs() -> None:
    commands = [argv[1] for argv in cli_examples()]
    assert commands[0] == "place" and set(commands) >= set(PROMISED) | set(LONG_RUNNING)


def test_the_command_line_examples_run_as_written(tmp_path: Path) -> None:
    env, order_id = _env(tmp_path / "data"), ""
    for argv in cli_examples():
        command = argv[1]
        if command in LONG_RUNNING:
            continue
        done = subprocess.run(_as_run(argv, order_id), capture_output=True, text=True, timeout=60, check=False,
                              cwd=tmp_path, env=env)
        assert done.returncode == 0, f"{shlex.join(argv)}: {done.stderr}"
        if command == "place":
            order_id = done.stdout.split()[1]
        for needle in PROMISED.get(command, []):
            assert needle.format(order_id=order_id) in done.stdout, f"{shlex.join(argv)} printed {done.stdout!r}"


def test_every_command_line_example_takes_json(tmp_path: Path) -> None:
    """"Every command takes `--json`": each example with --json prints one JSON document."""
    env, order_id = _env(tmp_path / "data"), ""
    for argv in cli_examples():
        if argv[1] in LONG_RUNNING:
            continue
        done = subprocess.run([*_as_run(argv, order_id), "--json"], capture_output=True, text=True, timeout=60,
                              check=False, cwd=tmp_path, env=env)
        assert done.returncode == 0, f"{shlex.join(argv)} --json: {done.stderr}"
        payload = json.loads(done.stdout)
        if argv[1] == "place":
            order_id = payload["order_id"]


@pytest.mark.kafka
@pytest.mark.parametrize("command", LONG_RUNNING)
def test_the_long_running_examples_run_until_sigterm(tmp_path: Path, kafka_config: dict[str, Any],
                                                     command: str) -> None:
    """`orderhex relay` and `orderhex consume` as written, with messaging.adapter = "kafka" (the README
    says they need it): they keep running, and SIGTERM stops them with exit 0."""
    [argv] = [argv for argv in cli_examples() if argv[1] == command]
    process = subprocess.Popen(_as_run(argv, ""), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=tmp_path, env=_env(tmp_path / "data", **kafka_config))
    try:
        assert process.stderr is not None
        select.select([process.stderr], [], [], 30)  # it says what it does, then keeps doing it
        time.sleep(1)
        assert process.poll() is None, process.communicate()[1]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def test_as_written_relay_and_consume_refuse_the_in_memory_broker(tmp_path: Path) -> None:
    """With the default messaging.adapter (memory) they exit 2 and name the setting to change."""
    for argv in (argv for argv in cli_examples() if argv[1] in LONG_RUNNING):
        done = subprocess.run(_as_run(argv, ""), capture_output=True, text=True, timeout=60, check=False,
                              cwd=tmp_path, env=_env(tmp_path / "data"))
        assert done.returncode == 2 and "messaging.adapter" in done.stderr, done.stderr


def test_the_configuration_example_loads_and_shows_the_defaults(tmp_path: Path) -> None:
    [example] = _blocks(_section("Configuration"), "toml")
    path = tmp_path / "orderhex.toml"
    path.write_text(example)
    config = bootstrap.load_config(path, env={})  # every key is a setting and every value allowed
    from_file = {key for key, source in config.sources.items() if source == f"file {path}"}
    assert from_file and {key: config[key] for key in from_file} == {
        key: bootstrap.SETTINGS[key].default for key in from_file}
    assert os.path.expanduser(config["data_dir"]) == str(config.data_dir)


def test_the_parked_row_examples_run_as_written(tmp_path: Path) -> None:
    """The Messaging section's `orderhex outbox` lines: listing works on a fresh store, and retry or
    drop of a row that is not parked is refused on one line with exit 2 (tests/e2e/test_outbox_cli.py
    parks real rows)."""
    lines = [shlex.split(line, comments=True) for block in _blocks(_section(
        "Messaging: the outbox relay and the Kafka command intake"), "sh")
        for line in block.splitlines() if line.startswith(WRITTEN)]
    assert [argv[1:3] for argv in lines] == [["outbox", "parked"], ["outbox", "retry"], ["outbox", "drop"]]
    env = _env(tmp_path / "data")
    for argv in lines:
        done = subprocess.run([str(ORDERHEX), *("1" if arg == "SEQ" else arg for arg in argv[1:])],
                              capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path, env=env)
        if argv[2] == "parked":
            assert done.returncode == 0, done.stderr
        else:
            assert done.returncode == 2 and done.stderr.count("\n") == 1 and "1" in done.stderr, done.stderr


@pytest.mark.parametrize(("mode", "code", "said"), [("orchestration", 2, "held by saga"),
                                                     ("choreography", 0, "cancelled ")])
def test_cancel_waits_for_the_saga_and_acts_at_once_in_choreography(tmp_path: Path, mode: str, code: int,
                                                                      said: str) -> None:
    """What the README says of `cancel` while the place-order saga runs, and without a coordinator."""
    env = _env(tmp_path / "data", **{"saga.mode": mode})
    placed = subprocess.run([str(ORDERHEX), "place", "--customer", "c-1", "--item", "SKU-1:1:9.99"],
                            capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path, env=env)
    order_id = placed.stdout.split()[1]
    done = subprocess.run([str(ORDERHEX), "cancel", order_id, "--reason", "changed mind"], capture_output=True,
                          text=True, timeout=60, check=False, cwd=tmp_path, env=env)
    assert done.returncode == code, done.stderr
    assert said in (done.stderr if code else done.stdout)
    if code:
        assert done.stderr.count("\n") == 1 and "place-order" in done.stderr


def test_the_saga_examples_run_as_written(tmp_path: Path) -> None:
    """"Watch a saga"'s `orderhex sagas` lines, on an order placed with the CLI (no relay runs, so its
    saga waits for its participants), with what the README says each shows."""
    lines = [shlex.split(line, comments=True) for block in _blocks(_section("Watch a saga"), "sh")
             for line in block.splitlines() if line.startswith(WRITTEN)]
    assert [argv[1:3] for argv in lines] == [["sagas", "list"], ["sagas", "show"], ["sagas", "pause"],
                                              ["sagas", "resume"], ["sagas", "graph"]]
    env = _env(tmp_path / "data")
    placed = subprocess.run([str(ORDERHEX), "place", "--customer", "c-1", "--item", "SKU-1:2:9.99"],
                            capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path, env=env)
    order_id = placed.stdout.split()[1]
    promised = {"list": [order_id, "place-order", "waiting", "……··", "waiting for inventory and payments"],
                "show": [f"saga:{order_id}:reserve-stock:command:1", "still to run: approve-order"],
                "pause": ["paused", "operator: paused"], "resume": ["waiting", "operator: resumed"],
                "graph": ["flowchart TD", "approve-order (pivot)"]}
    for argv in lines:
        done = subprocess.run(_as_run(argv, order_id), capture_output=True, text=True, timeout=60, check=False,
                              cwd=tmp_path, env=env)
        assert done.returncode == 0, f"{shlex.join(argv)}: {done.stderr}"
        for needle in promised[argv[2]]:
            assert needle in done.stdout, f"{shlex.join(argv)} printed {done.stdout!r}"
