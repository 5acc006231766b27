"""Contract of the ReadModel and Outbox ports where stores index rather than scan: a page found
by its cursor alone is the page a walk reaches, through ties, filters and changes; a claim
behind thousands of published rows still hands out the oldest unpublished ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.kernel.envelope import OutboxRecord
from core.kernel.views import View, encode_cursor, sort_time
from core.orders.model import OrderStatus
from core.orders.queries import SUMMARIES, OrderSummary
from ports.storage import Storage
from tests.contract.conftest import open_storage
from tests.contract.orders_fixtures import approve, at, place, unit_of_work

PORT = ("storage",)
CUSTOMERS = ("alice", "bob", "carol")


@pytest.fixture
def state_storage(request: pytest.FixtureRequest, storage_adapter: str, tmp_path: Path) -> Iterator[Storage]:
    """Every storage adapter, keeping orders as state (the outbox and views do not depend on it)."""
    store = open_storage(request, storage_adapter, tmp_path)
    yield store
    store.close()


def _pages(storage: Storage, limit: int, customer: str | None = None,
           status: OrderStatus | None = None) -> list[tuple[str | None, list[str]]]:
    """Every page of a walk, each with the cursor it was asked with."""
    where = SUMMARIES.where(customer_id=customer, status=status.value if status else None)
    pages: list[tuple[str | None, list[str]]] = []
    cursor = None
    for _ in range(100):
        page = storage.read_model.list(SUMMARIES, where, cursor, limit)
        pages.append((cursor, [s.order_id for s in page.items]))
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("the walk did not end")


def _newest_first(summaries: list[OrderSummary]) -> list[str]:
    return [s.order_id for s in sorted(summaries, key=lambda s: (sort_time(s.created_at), s.order_id), reverse=True)]


@pytest.fixture
def shop(state_storage: Storage) -> list[OrderSummary]:
    """30 orders of three customers, three to a timestamp, every third approved."""
    placed = [place(state_storage, customer=CUSTOMERS[n % 3], when=n // 3) for n in range(30)]
    for order in placed[::3]:
        approve(state_storage, order.id)
    summaries = [state_storage.read_model.get(SUMMARIES, o.id) for o in placed]
    assert all(s is not None for s in summaries)
    return [s for s in summaries if s is not None]


def test_pages_walk_newest_first_through_equal_timestamps(state_storage: Storage, shop: list[OrderSummary]) -> None:
    pages = _pages(state_storage, limit=4)
    assert [key for _, ids in pages for key in ids] == _newest_first(shop)


def test_a_page_asked_by_its_cursor_alone_is_the_page_the_walk_reached(
        state_storage: Storage, shop: list[OrderSummary]) -> None:
    pages = _pages(state_storage, limit=4)
    for cursor, ids in pages[1:]:
        again = state_storage.read_model.list(SUMMARIES, SUMMARIES.where(), cursor, 4)
        assert [s.order_id for s in again.items] == ids


def test_a_walk_filtered_by_customer_and_status_sees_exactly_its_orders_in_order(
        state_storage: Storage, shop: list[OrderSummary]) -> None:
    for customer in CUSTOMERS:
        for status in (OrderStatus.PENDING, OrderStatus.APPROVED):
            expected = _newest_first([s for s in shop if s.customer_id == customer and s.status == status])
            pages = _pages(state_storage, limit=2, customer=customer, status=status)
            assert [key for _, ids in pages for key in ids] == expected, (customer, status)


def test_a_cursor_between_two_orders_of_one_timestamp_continues_after_it(
        state_storage: Storage, shop: list[OrderSummary]) -> None:
    ordered = _newest_first(shop)
    middle = next(s for s in shop if s.order_id == ordered[10])
    cursor = encode_cursor(sort_time(middle.created_at), middle.order_id)
    page = state_storage.read_model.list(SUMMARIES, SUMMARIES.where(), cursor, 5)
    assert [s.order_id for s in page.items] == ordered[11:16]


def test_an_order_that_changes_status_moves_between_filtered_lists(
        state_storage: Storage, shop: list[OrderSummary]) -> None:
    pending = _pages(state_storage, limit=50, customer="bob", status=OrderStatus.PENDING)[0][1]
    approve(state_storage, pending[0])
    now_pending = _pages(state_storage, limit=50, customer="bob", status=OrderStatus.PENDING)[0][1]
    approved = _pages(state_storage, limit=50, customer="bob", status=OrderStatus.APPROVED)[0][1]
    assert now_pending == pending[1:]
    assert pending[0] in approved
    assert approved == _newest_first([s for s in shop if s.customer_id == "bob" and (
        s.status == OrderStatus.APPROVED or s.order_id == pending[0])])


# A view whose documents may move: their sort text and tag change when they are put again.
MOVING = View[dict[str, Any]](
    name="tests.moving", key=lambda d: d["id"], sort=lambda d: sort_time(at(d["at"])), filters=("colour",),
    tags=lambda d: (d["colour"],), to_json=dict, from_json=dict)


def test_a_document_put_again_with_another_sort_and_tag_moves_in_every_list(state_storage: Storage) -> None:
    views = state_storage.read_model
    for n, colour in enumerate(["red", "blue", "red", "blue"]):
        views.put(MOVING, {"id": f"d{n}", "at": n, "colour": colour}, position=n + 1)
    assert [d["id"] for d in views.list(MOVING, MOVING.where()).items] == ["d3", "d2", "d1", "d0"]
    assert [d["id"] for d in views.list(MOVING, MOVING.where(colour="red")).items] == ["d2", "d0"]
    views.put(MOVING, {"id": "d0", "at": 9, "colour": "blue"}, position=5)
    assert [d["id"] for d in views.list(MOVING, MOVING.where()).items] == ["d0", "d3", "d2", "d1"]
    assert [d["id"] for d in views.list(MOVING, MOVING.where(colour="red")).items] == ["d2"]
    assert [d["id"] for d in views.list(MOVING, MOVING.where(colour="blue")).items] == ["d0", "d3", "d1"]


ROWS = 10_000


def _send(storage: Storage, count: int) -> list[int]:
    with unit_of_work(storage) as uow:
        for n in range(count):
            uow.send(OutboxRecord(event_id=f"m-{n:05d}", aggregate_id=f"a-{n % 50}", aggregate_version=1 + n // 50,
                                  type="orders.Pinged", payload="{}", created_at=at(n), topic="t"))
        uow.commit()
    return [row.seq for row in storage.outbox.recent(count)][::-1]


def _mark(storage: Storage, seqs: list[int]) -> None:
    for start in range(0, len(seqs), 500):  # as the relay marks them
        storage.outbox.mark_published(seqs[start:start + 500], at(ROWS + 1))


def test_a_claim_after_many_published_rows_returns_the_oldest_unpublished(state_storage: Storage) -> None:
    seqs = _send(state_storage, ROWS)
    kept = seqs[-5:]
    _mark(state_storage, seqs[:-5])
    assert [row.seq for row in state_storage.outbox.claim(3)] == kept[:3]
    assert state_storage.outbox.pending_count() == 5
    assert state_storage.outbox.oldest_pending_at() == at(ROWS - 5)


def test_rows_left_unpublished_between_published_ones_are_claimed_in_seq_order(state_storage: Storage) -> None:
    seqs = _send(state_storage, ROWS)
    kept = seqs[::997]
    _mark(state_storage, [seq for seq in seqs if seq not in set(kept)][::-1])  # newest first: out of order
    assert [row.seq for row in state_storage.outbox.claim(len(kept) + 5)] == kept
    assert state_storage.outbox.pending_count() == len(kept)
    assert state_storage.outbox.requeue_published() == ROWS - len(kept)
    assert [row.seq for row in state_storage.outbox.claim(20)] == seqs[:20]
    assert state_storage.outbox.pending_count() == ROWS
