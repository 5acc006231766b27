"""The CLI inbound adapter: every command, and every kind of bad input, in one process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bootstrap
from adapters.inbound.cli import main as cli
from tests.unit.app_fixtures import memory_app


class Cli:
    """Runs command lines against one application, like a shell session would."""

    def __init__(self) -> None:
        self.app = memory_app()

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.run(list(argv), build=bootstrap.build, describe_config=bootstrap.describe_config,
                       extra=bootstrap.EXTRA_COMMANDS, app=self.app, out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def place(self, *extra: str) -> str:
        code, out, err = self("place", "--customer", "c-1", "--item", "SKU-1:2:9.99", "--json", *extra)
        assert code == 0, err
        return str(json.loads(out)["order_id"])


@pytest.fixture
def run() -> Cli:
    return Cli()


def test_place_show_list_and_cancel_in_one_process(run: Cli) -> None:
    code, out, _ = run("place", "--customer", "c-1", "--item", "SKU-1:2:9.99", "--item", "SKU-2:1:0.50")
    assert code == 0 and out.startswith("placed ")
    order_id = out.split()[1]

    code, out, _ = run("show", order_id)
    assert code == 0 and "PENDING" in out and "20.48 EUR" in out and "SKU-2" in out

    code, out, _ = run("orders", "--json")
    assert code == 0 and [o["order_id"] for o in json.loads(out)["items"]] == [order_id]

    code, out, _ = run("cancel", order_id, "--reason", "changed mind")
    assert (code, out.strip()) == (0, f"cancelled {order_id}")
    code, out, _ = run("show", order_id, "--json")
    assert json.loads(out)["status"] == "CANCELLED" and json.loads(out)["reason"] == "changed mind"


def test_orders_filter_by_customer_and_status(run: Cli) -> None:
    first = run.place()
    run("place", "--customer", "c-2", "--item", "A:1:1")
    run("approve", first)
    code, out, _ = run("orders", "--customer", "c-1", "--status", "approved", "--json")
    assert code == 0 and [o["order_id"] for o in json.loads(out)["items"]] == [first]
    code, out, _ = run("orders", "--customer", "nobody")
    assert (code, out.strip()) == (0, "no orders")


def test_the_idempotency_key_returns_the_same_order(run: Cli) -> None:
    first = run.place("--idempotency-key", "k-1")
    code, out, _ = run("place", "--customer", "c-1", "--item", "SKU-1:2:9.99", "--idempotency-key", "k-1")
    assert (code, out.strip()) == (0, f"already placed {first}")


def test_approve_ship_reject_and_history(run: Cli) -> None:
    order_id = run.place()
    assert run("approve", order_id)[0] == 0
    assert run("ship", order_id)[0] == 0
    code, out, _ = run("history", order_id, "--json")
    assert code == 0 and [e["type"] for e in json.loads(out)] == [
        "orders.OrderPlaced", "orders.OrderApproved", "orders.OrderShipped"]
    other = run.place()
    assert run("reject", other, "--reason", "no stock")[0] == 0


def test_adapters_lists_every_port(run: Cli) -> None:
    code, out, _ = run("adapters", "--json")
    ports = {p["port"]: p for p in json.loads(out)}
    stores = {f"{service}.storage" for service in bootstrap.CONTEXTS}  # a database per service
    assert code == 0 and set(ports) == stores | set(bootstrap.REGISTRY) - {"storage"}
    assert all(ports[store]["available"] == list(bootstrap.STORAGE_ADAPTERS) for store in stores)


@pytest.mark.parametrize(("argv", "needle"), [
    ((), "a command is required"),
    (("frobnicate",), "invalid choice"),
    (("place", "--item", "A:1:1"), "--customer"),
    (("place", "--customer", "c"), "--item"),
    (("place", "--customer", "c", "--item", "A:1"), "expected SKU:QTY:PRICE"),
    (("place", "--customer", "c", "--item", "A:x:1"), "not a whole number"),
    (("place", "--customer", "c", "--item", "A:0:1"), "must be 1..1000"),
    (("place", "--customer", "c", "--item", "A:1001:1"), "must be 1..1000"),
    (("place", "--customer", "c", "--item", "A:1:abc"), "decimal number"),
    (("place", "--customer", "c", "--item", "A:1:0"), "greater than 0"),
    (("place", "--customer", "c", "--item", "A:1:1", "--currency", "euro"), "three-letter"),
    (("place", "--customer", " ", "--item", "A:1:1"), "customer_id"),
    (("show", "missing"), "order 'missing' not found"),
    (("cancel", "missing", "--reason", "r"), "not found"),
    (("cancel", "x"), "--reason"),
    (("orders", "--status", "lost"), "invalid choice"),
    (("orders", "--limit", "0"), "limit"),
    (("orders", "--cursor", "garbage"), "cursor"),
])
def test_bad_input_prints_one_line_on_stderr_and_exits_2(run: Cli, argv: tuple[str, ...], needle: str) -> None:
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_an_illegal_transition_names_the_state(run: Cli) -> None:
    order_id = run.place()
    run("cancel", order_id, "--reason", "r")
    code, _, err = run("ship", order_id)
    assert code == 2 and f"order {order_id} is CANCELLED: cannot ship" in err


def test_reusing_a_key_for_different_content_exits_2(run: Cli) -> None:
    run.place("--idempotency-key", "k")
    code, _, err = run("place", "--customer", "c-1", "--item", "OTHER:1:1", "--idempotency-key", "k")
    assert code == 2 and "different content" in err


def _console(*argv: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The console script with only `env`'s ORDERHEX_* settings, in the test's data directory (so an
    orderhex.toml of the checkout or the caller's settings do not apply), or in `cwd`."""
    script = Path(sys.executable).with_name("orderhex")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    return subprocess.run([str(script), *argv], check=False, capture_output=True, text=True, timeout=60,
                          cwd=cwd or env["ORDERHEX_DATA_DIR"], env={**inherited, **env})


def test_the_console_script_reports_bad_config_in_one_line_with_exit_2(tmp_path: Path) -> None:
    done = _console("orders", env={"ORDERHEX_STORAGE__ADAPTER": "oracle", "ORDERHEX_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "storage.adapter" in done.stderr and "'oracle'" in done.stderr and "memory" in done.stderr


def test_the_console_script_prints_where_each_setting_came_from(tmp_path: Path) -> None:
    config = tmp_path / "orderhex.toml"
    config.write_text('[api]\nport = 9001\n')
    done = _console("--config", str(config), "config", "--json", env={"ORDERHEX_DATA_DIR": str(tmp_path)})
    settings = json.loads(done.stdout)
    assert done.returncode == 0
    assert settings["api.port"] == {"value": 9001, "source": f"file {config}"}
    assert settings["data_dir"] == {"value": str(tmp_path), "source": "env ORDERHEX_DATA_DIR"}


def test_the_console_script_rejects_bad_input_without_a_traceback(tmp_path: Path) -> None:
    done = _console("place", "--customer", "c", "--item", "A:1:1.5.5", env={"ORDERHEX_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_show_as_of_a_version_or_a_time_rebuilds_the_past_state(run: Cli) -> None:
    order_id = run.place()
    run("approve", order_id)
    run("ship", order_id)
    history = json.loads(run("history", order_id, "--json")[1])
    code, out, _ = run("show", order_id, "--as-of-version", "2", "--json")
    assert code == 0 and (json.loads(out)["status"], json.loads(out)["version"]) == ("APPROVED", 2)
    code, out, _ = run("show", order_id, "--as-of", history[0]["occurred_at"], "--json")
    assert code == 0 and json.loads(out)["status"] == "PENDING"
    code, _, err = run("show", order_id, "--as-of", "2000-01-01T00:00:00")
    assert code == 2 and "not found" in err
    code, _, err = run("show", order_id, "--as-of", "yesterday")
    assert code == 2 and "ISO 8601" in err and err.count("\n") == 1


def test_projections_rebuild_gives_the_same_listing(run: Cli) -> None:
    ids = [run.place() for _ in range(3)]
    run("cancel", ids[0], "--reason", "r")
    before = run("orders", "--json")[1]
    code, out, _ = run("projections", "rebuild")
    assert (code, out.strip()) == (0, "read model rebuilt from 3 items")
    assert run("orders", "--json")[1] == before


def test_config_never_prints_secrets(tmp_path: Path) -> None:
    env = {"ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_API__ADMIN_TOKEN": "s3cret-token",
           "ORDERHEX_API__API_KEY": "s3cret-key"}
    for argv in (("config",), ("config", "--json")):
        done = _console(*argv, env=env)
        assert done.returncode == 0 and "s3cret" not in done.stdout and "***" in done.stdout


def test_config_masks_the_password_of_a_database_url(tmp_path: Path) -> None:
    env = {"ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_STORAGE__URL": "postgresql://app:hunter2@db.example:5432/orders"}
    text = _console("config", env=env)
    assert text.returncode == 0 and "hunter2" not in text.stdout
    assert "postgresql://app:***@db.example:5432/orders" in text.stdout
    shown = json.loads(_console("config", "--json", env=env).stdout)
    assert shown["storage.url"] == {"value": "postgresql://app:***@db.example:5432/orders",
                                    "source": "env ORDERHEX_STORAGE__URL"}


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://u:p%40ss@h/db?sslmode=require", "postgresql+psycopg://u:***@h/db?sslmode=require"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql:///db?host=/tmp&password=s3cret", "postgresql:///db?host=/tmp&password=***"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("sqlite:////var/lib/orderhex.sqlite3", "sqlite:////var/lib/orderhex.sqlite3"),
    ("embedded", "embedded"),
])
def test_every_form_of_url_password_is_masked(url: str, shown: str) -> None:
    out = io.StringIO()
    cli._print_config([("storage.url", url, "default")], True, out)
    assert json.loads(out.getvalue())["storage.url"]["value"] == shown


def test_the_console_script_reads_orderhex_toml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "orderhex.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n[storage]\nadapter = "sqlite"\n')
    place = _console("place", "--customer", "c-1", "--item", "A:1:1.00", env={}, cwd=tmp_path)
    assert place.returncode == 0, place.stderr
    assert (tmp_path / "data" / "orderhex.sqlite3").exists()
    listed = _console("orders", "--json", env={}, cwd=tmp_path)
    assert [o["order_id"] for o in json.loads(listed.stdout)["items"]] == [place.stdout.split()[1]]
