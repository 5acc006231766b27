"""Orders outlive the process: placed by one process, approved by the next, listed by a third."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.outbound.sql.engine import SQLITE_FILE
from tests.integration.sql.conftest import SqlStore

ROOT = Path(__file__).resolve().parents[3]


def in_a_new_process(store: SqlStore, mode: str, action: str, argument: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.sql.child", store.adapter, str(store.data_dir), store.url, mode,
         action, argument], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("mode", ["state", "events"])
def test_an_order_placed_by_one_process_is_listed_by_the_next(sql_store: SqlStore, mode: str) -> None:
    placed = in_a_new_process(sql_store, mode, "place", "k-1")
    assert placed["created"] is True
    in_a_new_process(sql_store, mode, "approve", placed["order_id"])
    again = in_a_new_process(sql_store, mode, "place", "k-1")
    listed = in_a_new_process(sql_store, mode, "list", "c-42")

    assert again == {"order_id": placed["order_id"], "created": False}
    assert [(row["order_id"], row["status"], row["total"]) for row in listed] == [
        (placed["order_id"], "APPROVED", "24.48")]
    if sql_store.adapter == "sqlite":
        assert (sql_store.data_dir / SQLITE_FILE).exists()
