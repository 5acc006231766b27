"""Rebuilding the CQRS views gives what incremental projection built, on every store and mode."""

from __future__ import annotations

from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.system.clock import SystemClock
from adapters.outbound.system.ids import Uuid7Ids
from core.orders.model import ORDER
from core.orders.queries import SUMMARIES
from core.orders.service import CONTEXT
from core.runtime.service import Service
from ports.storage import Storage
from tests.contract.orders_fixtures import TOPIC, approve, at, new_id, orders, place, unit_of_work

PORT = "storage"


def _populate(storage: Storage) -> list[str]:
    placed = [place(storage, customer=f"c-{n % 3}", when=n) for n in range(7)]
    approve(storage, placed[1].id)
    with unit_of_work(storage) as uow:
        order = orders(uow).get(placed[2].id)
        assert order is not None
        order.cancel("changed mind", now=at(50), event_id=new_id("e"))
        uow.commit()
    return [o.id for o in placed]


def _service(storage: Storage) -> Service:
    return Service(CONTEXT, storage=storage, feed=RingBufferFeed(100), clock=SystemClock(), ids=Uuid7Ids(),
                   events_topic=TOPIC)


def test_aggregate_ids_lists_every_stored_order(storage: Storage) -> None:
    ids = _populate(storage)
    assert sorted(storage.aggregate_ids(ORDER)) == sorted(ids)


def test_history_gives_an_orders_events_in_version_order(storage: Storage) -> None:
    ids = _populate(storage)
    assert [e.type_name for e in storage.history(ids[1])] == ["orders.OrderPlaced", "orders.OrderApproved"]
    assert storage.history("missing") == []


def test_rebuilding_the_views_equals_the_incremental_model(storage: Storage, orders_mode: str) -> None:
    """From the event streams in events mode, from the orders' state in state mode."""
    ids = _populate(storage)
    incremental = {i: storage.read_model.get(SUMMARIES, i) for i in ids}
    position = storage.read_model.position()
    replayed = _service(storage).rebuild_views()
    assert replayed == (9 if orders_mode == "events" else 7)
    assert {i: storage.read_model.get(SUMMARIES, i) for i in ids} == incremental
    assert storage.read_model.position() == position
    listed = storage.read_model.list(SUMMARIES, (None, None), None, 100).items
    assert [s.order_id for s in listed] == sorted(ids, key=lambda i: (incremental[i].created_at, i), reverse=True)
