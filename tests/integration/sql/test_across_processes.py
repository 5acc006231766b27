"""Orders outlive the process: `orderhex place` in one process, `orderhex orders` in the next."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ORDERHEX = Path(sys.executable).with_name("orderhex")


def orderhex(env: dict[str, str], *argv: str) -> Any:
    done = subprocess.run([str(ORDERHEX), *argv, "--json"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("mode", ["state", "events"])
def test_an_order_placed_by_one_process_is_listed_by_the_next(sql_store: dict[str, Any], mode: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORDERHEX_")}
    env |= {"ORDERHEX_STORAGE__ADAPTER": sql_store["storage.adapter"], "ORDERHEX_DATA_DIR": sql_store["data_dir"],
            "ORDERHEX_STORAGE__URL": sql_store.get("storage.url", ""), "ORDERHEX_STORAGE__ORDERS": mode}

    placed = orderhex(env, "place", "--customer", "c-42", "--item", "SKU-1:2:9.99", "--item", "SKU-2:1:4.50",
                      "--idempotency-key", "k-1")
    assert placed["created"] is True
    orderhex(env, "approve", placed["order_id"])
    again = orderhex(env, "place", "--customer", "c-42", "--item", "SKU-1:2:9.99", "--item", "SKU-2:1:4.50",
                     "--idempotency-key", "k-1")
    listed = orderhex(env, "orders", "--customer", "c-42")

    assert again == {"order_id": placed["order_id"], "created": False}
    assert [(row["order_id"], row["status"], row["total"]) for row in listed["items"]] == [
        (placed["order_id"], "APPROVED", "24.48")]
    if sql_store["storage.adapter"] == "sqlite":
        assert (Path(sql_store["data_dir"]) / "orderhex.sqlite3").exists()
