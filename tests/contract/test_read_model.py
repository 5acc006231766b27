"""Contract of the ReadModel port (CQRS read side), on every storage adapter."""

from __future__ import annotations

import pytest

from core.kernel.errors import ValidationError
from core.kernel.views import Page
from core.orders.model import OrderStatus
from core.orders.queries import SUMMARIES, OrderSummary
from ports.storage import Storage
from tests.contract.orders_fixtures import approve, place


def listed(storage: Storage, *, customer_id: str | None = None, status: OrderStatus | None = None,
           cursor: str | None = None, limit: int = 50) -> Page[OrderSummary]:
    where = SUMMARIES.where(customer_id=customer_id, status=status.value if status else None)
    return storage.read_model.list(SUMMARIES, where, cursor, limit)

PORT = "storage"


def test_a_summary_shows_what_a_list_of_orders_needs(storage: Storage) -> None:
    order = place(storage, customer="c-9", when=4)
    summary = storage.read_model.get(SUMMARIES, order.id)
    assert summary is not None
    assert (summary.customer_id, summary.status, summary.currency, summary.line_count) == (
        "c-9", OrderStatus.PENDING, "EUR", 2)
    assert summary.total == order.total.amount
    assert summary.created_at == order.created_at == summary.updated_at
    assert [ln.sku for ln in summary.lines] == ["SKU-1", "SKU-2"]
    assert storage.read_model.get(SUMMARIES, "missing") is None


def test_list_is_newest_first_and_filters_by_customer_and_status(storage: Storage) -> None:
    a = place(storage, customer="alice", when=1)
    b = place(storage, customer="bob", when=2)
    c = place(storage, customer="alice", when=3)
    approve(storage, a.id)
    assert [s.order_id for s in listed(storage).items] == [c.id, b.id, a.id]
    assert [s.order_id for s in listed(storage, customer_id="alice").items] == [c.id, a.id]
    assert [s.order_id for s in listed(storage, status=OrderStatus.APPROVED).items] == [a.id]
    assert listed(storage, customer_id="alice", status=OrderStatus.APPROVED).items[0].order_id == a.id
    assert listed(storage, customer_id="nobody").items == ()


def test_paging_with_cursors_sees_every_order_once(storage: Storage) -> None:
    placed = [place(storage, when=i // 2).id for i in range(7)]  # pairs share a timestamp
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = listed(storage, cursor=cursor, limit=3)
        seen.extend(s.order_id for s in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(placed) and len(seen) == 7


def test_the_last_page_has_no_cursor(storage: Storage) -> None:
    place(storage)
    place(storage)
    assert listed(storage, limit=2).next_cursor is None
    assert listed(storage, limit=1).next_cursor is not None


def test_a_cursor_it_did_not_make_is_refused(storage: Storage) -> None:
    with pytest.raises(ValidationError) as info:
        listed(storage, cursor="not-a-cursor")
    assert info.value.field == "cursor"


def test_position_advances_with_projected_events(storage: Storage) -> None:
    assert storage.read_model.position() == 0
    order = place(storage)
    first = storage.read_model.position()
    approve(storage, order.id)
    assert storage.read_model.position() > first > 0


def test_clear_empties_one_view_and_keeps_the_position(storage: Storage) -> None:
    """A rebuild clears a view and refills it as of the same committed state."""
    order = place(storage)
    position = storage.read_model.position()
    storage.read_model.clear(SUMMARIES)
    assert storage.read_model.get(SUMMARIES, order.id) is None and listed(storage).items == ()
    assert storage.read_model.position() == position
