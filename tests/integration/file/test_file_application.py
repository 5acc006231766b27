"""The file store under the real application: threads through the bus, and separate processes
one after the other."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from core.kernel.errors import ConcurrencyConflict, IllegalTransition, Unavailable
from core.orders.commands import ApproveOrder, RejectOrder
from core.orders.model import OrderStatus
from core.orders.queries import SUMMARIES, ListOrders
from core.orders.wire import place_order_from_json
from tests.integration.file.child import Application
from tests.integration.file.conftest import run_child

BODY = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "S", "quantity": 1, "unit_price": "1.00"}]}


@pytest.mark.parametrize("mode", ["state", "events"])
def test_threads_racing_through_the_bus_lose_no_update(tmp_path: Path, mode: str) -> None:
    app = Application(str(tmp_path), mode, snapshot_every=2)
    order_ids = [app.ordering.send(place_order_from_json(BODY)).order_id for _ in range(30)]
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
                    app.ordering.send(ApproveOrder(order_id=order_id))
                else:
                    app.ordering.send(RejectOrder(order_id=order_id, reason="no stock"))
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
    # Approving an approved order is a harmless no-op (the saga retries its pivot), so several
    # approvers may "win"; what must never happen is an approve and a reject both taking effect.
    assert all(len(set(w)) == 1 for w in wins.values()), wins
    expected = {"approve": OrderStatus.APPROVED, "reject": OrderStatus.REJECTED}
    storage = app.storage
    for order_id, (winner, *_) in wins.items():
        summary = storage.read_model.get(SUMMARIES, order_id)
        assert summary is not None and summary.status == expected[winner] and summary.version == 2
        assert [r.aggregate_version for r in storage.outbox.history(order_id)] == [1, 2]
    app.close()


@pytest.mark.parametrize("mode", ["state", "events"])
def test_an_order_placed_by_one_process_is_listed_by_the_next(tmp_path: Path, mode: str) -> None:
    placer = run_child("place", str(tmp_path), mode, "c-9")
    out, err = placer.communicate(timeout=60)
    assert placer.returncode == 0, err
    order_id = out.strip()

    lister = run_child("list", str(tmp_path), mode)
    out, err = lister.communicate(timeout=60)

    assert lister.returncode == 0, err
    assert out.splitlines() == [f"{order_id} c-9"]
    assert (tmp_path / "files" / "journal.jsonl").exists()


def test_a_damaged_store_is_refused_with_one_line_naming_the_file(tmp_path: Path) -> None:
    app = Application(str(tmp_path), "state")
    app.ordering.send(place_order_from_json(BODY))
    app.close()
    path = tmp_path / "files" / "journal.jsonl"
    path.write_bytes(path.read_bytes() + b"garbage\n")

    with pytest.raises(Unavailable) as caught:
        Application(str(tmp_path), "state").ordering.list(ListOrders())

    # One line, so a command line can print it as its one line on stderr.
    assert str(path) in str(caught.value) and "damaged" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
