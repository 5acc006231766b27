"""Orders' saga consumer takes a polled batch of replies a lane per saga, lanes at once: the replies
of different sagas share the store's transactions (the commit queue), one saga's replies keep their
order, and the outcome is the one the replies taken one by one give. Real SQLite store, memory
broker, real relay, consumers and timer worker (tests/integration/saga_harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.inbound.kafka.consumer import handled_prefix
from core.runtime.commit_queue import CommitQueue
from tests.integration.saga_harness import Shop, stepping_shop

ORDERS = 40


@pytest.fixture
def shops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], Shop]]:
    built: list[Shop] = []

    def make(lanes: int) -> Shop:
        shop = stepping_shop(tmp_path / f"lanes-{lanes}", monkeypatch, storage="sqlite", **{"saga.reply_lanes": lanes})
        built.append(shop)
        shop.stock("SKU-1", ORDERS)  # enough for every order but the last two, which stay short
        shop.account("c-1", "100000.00")
        return shop

    yield make
    for shop in built:
        shop.close()


def run(shop: Shop) -> tuple[dict[str, object], int, int]:
    """Place the orders, settle the shop; the outcome, and the orders store's units of work and
    transactions while the sagas ran."""
    order_ids = [shop.place("c-1", "SKU-1", 1) for _ in range(ORDERS - 2)]
    order_ids += [shop.place("c-1", "SKU-1", ORDERS) for _ in range(2)]
    committer = shop.app.orders.storage.committer
    assert isinstance(committer, CommitQueue)
    units, batches = committer.units, committer.batches
    shop.pump()
    outcome = {
        "orders": [shop.order(order_id).status.value for order_id in order_ids],
        "sagas": [shop.saga(order_id).state for order_id in order_ids],
        "reserved": shop.reserved("SKU-1"),
        "held": str(shop.held("c-1")),
    }
    return outcome, committer.units - units, committer.batches - batches


def test_replies_of_many_sagas_share_transactions_and_end_as_they_would_one_by_one(
    shops: Callable[[int], Shop],
) -> None:
    one_by_one, units_alone, transactions_alone = run(shops(1))
    in_lanes, units, transactions = run(shops(8))
    assert in_lanes == one_by_one
    assert in_lanes["sagas"].count("completed") == ORDERS - 2  # type: ignore[attr-defined]
    assert in_lanes["sagas"][-2:] == ["compensated", "compensated"]  # type: ignore[index]
    assert transactions_alone == units_alone, "taken one by one, each unit of work commits alone"
    assert units == units_alone and transactions < units, (
        f"{units} units of work in {transactions} transactions: the lanes' commits never met")


def test_only_the_replies_handled_without_a_gap_are_acknowledged() -> None:
    assert list(handled_prefix(5, {0, 1, 2, 3, 4})) == [0, 1, 2, 3, 4]
    assert list(handled_prefix(5, {0, 1, 3, 4})) == [0, 1], "reply 2 failed: 3 and 4 come again"
    assert list(handled_prefix(3, {1, 2})) == []
