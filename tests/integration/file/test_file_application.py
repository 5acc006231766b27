"""The file store under the real application: threads through the bus, and the console script
across processes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import bootstrap
from core.kernel.errors import ConcurrencyConflict, IllegalTransition
from core.orders.commands import ApproveOrder, RejectOrder
from core.orders.model import OrderStatus
from core.orders.wire import place_order_from_json

ORDERHEX = Path(sys.executable).with_name("orderhex")


def _application(tmp_path: Path, mode: str) -> bootstrap.Application:
    return bootstrap.Application(bootstrap.load_config(env={}, overrides={
        "storage.adapter": "file", "storage.orders": mode, "data_dir": str(tmp_path), "storage.snapshot_every": 2,
    }))


@pytest.mark.parametrize("mode", ["state", "events"])
def test_threads_racing_through_the_bus_lose_no_update(tmp_path: Path, mode: str) -> None:
    app = _application(tmp_path, mode)
    body = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "S", "quantity": 1, "unit_price": "1.00"}]}
    order_ids = [app.ordering.place(place_order_from_json(body)).order_id for _ in range(30)]
    wins: dict[str, list[str]] = {i: [] for i in order_ids}
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def race(action: str, seed: int) -> None:
        ids = order_ids[:]
        random.Random(seed).shuffle(ids)
        start.wait()
        for order_id in ids:
            try:
                if action == "approve":
                    app.ordering.approve(ApproveOrder(order_id=order_id))
                else:
                    app.ordering.reject(RejectOrder(order_id=order_id, reason="no stock"))
                wins[order_id].append(action)
            except (IllegalTransition, ConcurrencyConflict):
                continue  # lost the race: the other change stands
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=race, args=("approve" if n % 2 else "reject", n)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not failures
    assert all(len(w) == 1 for w in wins.values()), wins
    expected = {"approve": OrderStatus.APPROVED, "reject": OrderStatus.REJECTED}
    storage = app.storage
    for order_id, (winner,) in wins.items():
        summary = storage.read_model.get(order_id)
        assert summary is not None and summary.status == expected[winner] and summary.version == 2
        assert [r.aggregate_version for r in storage.outbox.history(order_id)] == [1, 2]
    app.close()


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
    app = _application(tmp_path, "state")
    app.ordering.place(place_order_from_json(
        {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "S", "quantity": 1, "unit_price": "1.00"}]}))
    app.close()
    path = tmp_path / "files" / "journal.jsonl"
    path.write_bytes(path.read_bytes() + b"garbage\n")

    listed = _orderhex(tmp_path, "state", "orders")

    assert listed.returncode == 1
    assert str(path) in listed.stderr and "damaged" in listed.stderr
    assert len(listed.stderr.strip().splitlines()) == 1
