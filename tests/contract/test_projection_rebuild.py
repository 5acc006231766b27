"""Rebuilding the CQRS read model gives what incremental projection built, on every store."""

from __future__ import annotations

from core.orders.projection import rebuild_from_events, rebuild_from_orders
from ports.storage import Storage
from tests.contract.orders_fixtures import approve, at, new_id, place

PORT = "storage"


def _load(storage: Storage):
    def load(order_id: str):
        with storage.unit_of_work() as uow:
            return uow.orders.get(order_id)
    return load


def _populate(storage: Storage) -> list[str]:
    orders = [place(storage, customer=f"c-{n % 3}", when=n) for n in range(7)]
    approve(storage, orders[1].id)
    with storage.unit_of_work() as uow:
        order = uow.orders.get(orders[2].id)
        assert order is not None
        order.cancel("changed mind", now=at(50), event_id=new_id("e"))
        uow.commit()
    return [o.id for o in orders]


def test_order_ids_lists_every_stored_order(storage: Storage) -> None:
    ids = _populate(storage)
    assert sorted(storage.order_ids()) == sorted(ids)


def test_rebuilding_from_the_orders_equals_the_incremental_model(storage: Storage, orders_mode: str) -> None:
    ids = _populate(storage)
    incremental = {i: storage.read_model.get(i) for i in ids}
    position = storage.read_model.position()
    assert rebuild_from_orders(storage.read_model, storage.order_ids(), _load(storage)) == 7
    assert {i: storage.read_model.get(i) for i in ids} == incremental
    assert storage.read_model.position() == position


def test_rebuilding_from_the_event_store_equals_the_incremental_model(storage: Storage, orders_mode: str) -> None:
    if orders_mode != "events":
        return  # state storage keeps no event stream to replay; the test above covers it
    ids = _populate(storage)
    incremental = {i: storage.read_model.get(i) for i in ids}
    assert rebuild_from_events(storage.read_model, storage.event_store) == 9
    assert {i: storage.read_model.get(i) for i in ids} == incremental
    assert [s.order_id for s in storage.read_model.list(limit=100).items] == sorted(
        ids, key=lambda i: (incremental[i].created_at, i), reverse=True)
