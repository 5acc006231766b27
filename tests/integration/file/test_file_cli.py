"""The file store behind the `orderhex` console script: separate processes, a damaged journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ORDERHEX = Path(sys.executable).with_name("orderhex")


def _orderhex(tmp_path: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORDERHEX_STORAGE__ADAPTER": "file", "ORDERHEX_STORAGE__ORDERS": mode,
           "ORDERHEX_DATA_DIR": str(tmp_path)}
    env.pop("ORDERHEX_CONFIG", None)
    return subprocess.run([str(ORDERHEX), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("mode", ["state", "events"])
def test_an_order_placed_by_one_orderhex_process_is_listed_by_the_next(tmp_path: Path, mode: str) -> None:
    placed = _orderhex(tmp_path, mode, "place", "--customer", "c-9", "--item", "SKU-1:2:9.99", "--json")
    assert placed.returncode == 0, placed.stderr
    order_id = json.loads(placed.stdout)["order_id"]

    listed = _orderhex(tmp_path, mode, "orders", "--json")

    assert listed.returncode == 0, listed.stderr
    assert order_id in listed.stdout and "c-9" in listed.stdout
    assert (tmp_path / "files" / "journal.jsonl").exists()


def test_a_damaged_store_makes_orderhex_exit_1_naming_the_file(tmp_path: Path) -> None:
    placed = _orderhex(tmp_path, "state", "place", "--customer", "c-1", "--item", "S:1:1.00")
    assert placed.returncode == 0, placed.stderr
    path = tmp_path / "files" / "journal.jsonl"
    path.write_bytes(path.read_bytes() + b"garbage\n")

    listed = _orderhex(tmp_path, "state", "orders")

    assert listed.returncode == 1
    assert str(path) in listed.stderr and "damaged" in listed.stderr
    assert len(listed.stderr.strip().splitlines()) == 1
