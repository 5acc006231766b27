"""One relay per SQLite file or file store, whichever data directory a process runs with: the
lock lies beside the store, so a second `serve` on the same store does not relay it, and says
which store and which process holds it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.served import ORDERHEX, Serve


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ["sqlite", "file"])
def test_a_second_serve_with_another_data_dir_does_not_relay_the_same_store(tmp_path: Path, adapter: str) -> None:
    store = tmp_path / "shared"
    settings = {"storage.adapter": adapter, "storage.layout": "shared",
                **({"storage.url": f"sqlite:///{store}.sqlite3"} if adapter == "sqlite" else
                   {"storage.file_dir": str(store)})}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    if adapter == "sqlite":  # a database named by URL is not upgraded by serve
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")},
               "ORDERHEX_DATA_DIR": str(tmp_path / "a"), "ORDERHEX_STORAGE__ADAPTER": "sqlite",
               "ORDERHEX_STORAGE__LAYOUT": "shared", "ORDERHEX_STORAGE__URL": settings["storage.url"]}
        subprocess.run([str(ORDERHEX), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)
    first = Serve(tmp_path / "a", settings)
    try:
        second = Serve(tmp_path / "b", settings)
        try:
            shown = f"{store}.sqlite3" if adapter == "sqlite" else str(store)
            lock = f"{store}.sqlite3.relay.lock" if adapter == "sqlite" else str(store / "relay.lock")
            assert "not relaying" not in first.output()
            refusal = next((line for line in second.output().splitlines() if "not relaying" in line), None)
            assert refusal is not None, second.output()
            assert shown in refusal and f"pid {first.process.pid}" in refusal and lock in refusal
        finally:
            second.stop()
    finally:
        first.stop()
