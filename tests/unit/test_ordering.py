"""The ordering use cases through the real bus and in-memory adapters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.kernel.errors import IdempotencyConflict, IllegalTransition, NotFound, ValidationError
from core.orders.commands import ApproveOrder, CancelOrder, LineItem, PlaceOrder, RejectOrder, ShipOrder
from core.orders.model import OrderStatus
from core.orders.queries import GetOrder, ListOrders
from tests.unit.app_fixtures import memory_app, place_cmd


def test_placing_an_order_makes_it_readable_and_queues_its_event() -> None:
    app = memory_app()
    result = app.ordering.send(PlaceOrder(customer_id="c-1", currency="EUR", lines=(
        LineItem(sku="A", quantity=2, unit_price=Decimal("9.99")),
        LineItem(sku="A", quantity=1, unit_price=Decimal("9.99")))))
    assert result.created
    summary = app.ordering.get(GetOrder(order_id=result.order_id))
    assert (summary.status, summary.total, summary.line_count) == (OrderStatus.PENDING, Decimal("29.97"), 1)
    assert [r.type for r in app.storage.outbox.claim(10)] == ["orders.OrderPlaced"]


def test_the_same_idempotency_key_returns_the_same_order_and_records_no_second_event() -> None:
    app = memory_app()
    first = app.ordering.send(place_cmd(key="k-1"))
    again = app.ordering.send(place_cmd(key="k-1"))
    assert (again.order_id, again.created) == (first.order_id, False)
    assert app.storage.outbox.pending_count() == 1
    assert len(app.ordering.list(ListOrders()).items) == 1


def test_the_same_key_with_different_content_is_refused() -> None:
    app = memory_app()
    first = app.ordering.send(place_cmd(key="k-1", qty=1))
    with pytest.raises(IdempotencyConflict) as info:
        app.ordering.send(place_cmd(key="k-1", qty=2))
    assert info.value.order_id == first.order_id and "different content" in str(info.value)


def test_the_lifecycle_runs_through_the_use_cases() -> None:
    app = memory_app()
    order_id = app.ordering.send(place_cmd()).order_id
    app.ordering.send(ApproveOrder(order_id=order_id))
    app.ordering.send(ShipOrder(order_id=order_id))
    with pytest.raises(IllegalTransition):
        app.ordering.send(CancelOrder(order_id=order_id, reason="late"))
    other = app.ordering.send(place_cmd(customer="c-2")).order_id
    app.ordering.send(RejectOrder(order_id=other, reason="no stock"))
    assert app.ordering.get(GetOrder(order_id=other)).reason == "no stock"
    assert [e.type for e in app.ordering.history(order_id)] == [
        "orders.OrderPlaced", "orders.OrderApproved", "orders.OrderShipped"]


def test_unknown_orders_are_not_found() -> None:
    app = memory_app()
    with pytest.raises(NotFound):
        app.ordering.send(CancelOrder(order_id="nope", reason="x"))
    with pytest.raises(NotFound):
        app.ordering.get(GetOrder(order_id="nope"))
    with pytest.raises(NotFound):
        app.ordering.history("nope")


def test_list_filters_and_pages_from_the_read_model() -> None:
    app = memory_app()
    ids = [app.ordering.send(place_cmd(customer="a" if n % 2 else "b")).order_id for n in range(5)]
    app.ordering.send(CancelOrder(order_id=ids[0], reason="x"))
    page = app.ordering.list(ListOrders(limit=2))
    assert [s.order_id for s in page.items] == [ids[4], ids[3]] and page.next_cursor
    rest = app.ordering.list(ListOrders(limit=10, cursor=page.next_cursor))
    assert [s.order_id for s in rest.items] == [ids[2], ids[1], ids[0]]
    assert {s.order_id for s in app.ordering.list(ListOrders(customer_id="a")).items} == {ids[1], ids[3]}
    assert [s.order_id for s in app.ordering.list(ListOrders(status=OrderStatus.CANCELLED)).items] == [ids[0]]


@pytest.mark.parametrize("limit", [0, 501])
def test_a_page_size_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(ValidationError) as info:
        memory_app().ordering.list(ListOrders(limit=limit))
    assert info.value.field == "limit"


def test_event_sourced_orders_behave_the_same_and_keep_full_history() -> None:
    app = memory_app(**{"storage.orders": "events", "storage.snapshot_every": 2})
    order_id = app.ordering.send(place_cmd()).order_id
    app.ordering.send(ApproveOrder(order_id=order_id))
    app.ordering.send(ShipOrder(order_id=order_id))
    assert app.ordering.get(GetOrder(order_id=order_id)).status is OrderStatus.SHIPPED
    assert [e.aggregate_version for e in app.ordering.history(order_id)] == [1, 2, 3]


def test_a_cursor_with_a_time_of_no_timezone_is_refused_not_crashed_on() -> None:
    import base64

    forged = base64.urlsafe_b64encode(b"2020-01-01T00:00:00|x").decode().rstrip("=")
    app = memory_app()
    app.ordering.send(place_cmd())
    with pytest.raises(ValidationError) as info:
        app.ordering.list(ListOrders(cursor=forged))
    assert info.value.field == "cursor"


def test_a_summary_and_its_outbox_row_round_trip_through_their_json() -> None:
    import json

    from core.kernel.envelope import OutboxRecord
    from core.orders.queries import OrderSummary

    app = memory_app()
    order_id = app.ordering.send(place_cmd()).order_id
    app.ordering.send(CancelOrder(order_id=order_id, reason="changed mind"))
    summary = app.ordering.get(GetOrder(order_id=order_id))
    assert OrderSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary
    app.storage.outbox.mark_published([app.storage.outbox.claim(1)[0].seq], app.clock.now())
    for row in app.storage.outbox.recent(10):
        assert OutboxRecord.from_json(json.loads(json.dumps(row.to_json()))) == row
