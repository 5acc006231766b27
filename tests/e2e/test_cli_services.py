"""The CLI of inventory, payments and shipping as a person runs it: separate `orderhex` processes
on one data directory, text and --json, bad input as one line on stderr with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ORDERHEX = Path(sys.executable).with_name("orderhex")


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update({"ORDERHEX_DATA_DIR": str(tmp_path), "ORDERHEX_STORAGE__ADAPTER": "sqlite"})

    def orderhex(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ORDERHEX), *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60, check=False)

    return orderhex


def test_stock_and_accounts_are_kept_between_commands_in_each_services_own_database(run, tmp_path: Path) -> None:
    assert run("stock", "restock", "SKU-1", "7").returncode == 0
    shown = run("stock", "show", "SKU-1", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["available"] == 7
    opened = run("accounts", "open", "c-9", "--limit", "250.00")
    assert opened.returncode == 0 and "available 250.00" in opened.stdout
    assert json.loads(run("accounts", "show", "c-9", "--json").stdout)["credit_limit"] == "250.00"
    assert (tmp_path / "orderhex-inventory.sqlite3").exists() and (tmp_path / "orderhex-payments.sqlite3").exists()


def test_seed_adds_demo_data_once(run) -> None:
    first = json.loads(run("seed", "--json").stdout)
    again = json.loads(run("seed", "--json").stdout)
    assert first["stock"] and first["accounts"] and again == {"stock": [], "accounts": []}


@pytest.mark.parametrize(("args", "needles"), [
    (("stock", "restock", "SKU-1", "0"), ("quantity", "1..")),
    (("stock", "restock", "SKU-1", "two"), ("two",)),
    (("accounts", "open", "c-1", "--limit", "9.999"), ("credit_limit", "at most 2 decimals")),
    (("accounts", "open", "c-1", "--limit", "1e3"), ("credit_limit", "exponent")),
    (("stock", "show", "never"), ("never", "not found")),
    (("shipments", "dispatch", "never"), ("shipment", "not found")),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(run, args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    done = run(*args)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert all(needle in line for needle in needles), line
