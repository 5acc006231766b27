"""Two real writer threads through the real bus: the store's version check turns the race into a
ConcurrencyConflict, the bus retries it, and no update is lost."""

from __future__ import annotations

import threading
from decimal import Decimal
from types import TracebackType
from typing import Any

import pytest

from core.kernel.errors import ConcurrencyConflict, IllegalTransition
from core.orders.commands import ApproveOrder, CancelOrder, LineItem, PlaceOrder
from core.orders.model import OrderStatus
from tests.integration.sql.conftest import make_app


class GatedUnitOfWork:
    """A real unit of work whose first commit waits until the other writer is ready to commit
    too, so both have read the same version: one of them must conflict."""

    def __init__(self, inner: Any, gate: threading.Barrier, first: set[int], conflicts: list[str]) -> None:
        self._inner, self._gate, self._first, self._conflicts = inner, gate, first, conflicts

    @property
    def orders(self) -> Any:
        return self._inner.orders

    @property
    def inbox(self) -> Any:
        return self._inner.inbox

    @property
    def message_id(self) -> str | None:
        return self._inner.message_id  # type: ignore[no-any-return]

    @message_id.setter
    def message_id(self, value: str | None) -> None:
        self._inner.message_id = value

    def __enter__(self) -> GatedUnitOfWork:
        self._inner.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        me = threading.get_ident()
        if me not in self._first:
            self._first.add(me)
            self._gate.wait()
        try:
            self._inner.commit()
        except ConcurrencyConflict as exc:
            self._conflicts.append(str(exc))
            raise

    def rollback(self) -> None:
        self._inner.rollback()

    def collect_new_events(self) -> list[Any]:
        return self._inner.collect_new_events()  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["state", "events"])
def test_two_writers_racing_on_one_order_lose_no_update(sql_store: dict[str, Any], mode: str) -> None:
    app = make_app(sql_store, **{"storage.orders": mode})
    try:
        for round_ in range(3):
            order_id = app.bus.handle(PlaceOrder(customer_id="c-1", currency="EUR",
                                                 lines=(LineItem("SKU-1", 1, Decimal("5.00")),))).order_id
            storage = app.storage
            gate, first, conflicts = threading.Barrier(2, timeout=20), set[int](), list[str]()
            real_factory = storage.unit_of_work
            app.bus._uow_factory = lambda f=real_factory, g=gate, s=first, c=conflicts: GatedUnitOfWork(f(), g, s, c)
            outcomes: dict[str, str] = {}

            def run(name: str, command: Any, oid: str = order_id, out: dict[str, str] = outcomes) -> None:
                try:
                    app.bus.handle(command)
                    out[name] = "ok"
                except IllegalTransition:
                    out[name] = "refused"

            writers = [threading.Thread(target=run, args=("approve", ApproveOrder(order_id=order_id))),
                       threading.Thread(target=run, args=("cancel", CancelOrder(order_id=order_id, reason="r")))]
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join(timeout=30)
            app.bus._uow_factory = app._unit_of_work

            assert len(conflicts) == 1, f"round {round_}: both writers read v1, exactly one must conflict"
            assert outcomes["cancel"] == "ok"
            history = [e.type for e in app._history(order_id)]
            expected = (["OrderPlaced", "OrderApproved", "OrderCancelled"] if outcomes["approve"] == "ok"
                        else ["OrderPlaced", "OrderCancelled"])
            assert history == expected
            summary = storage.read_model.get(order_id)
            assert summary is not None and summary.status is OrderStatus.CANCELLED
            assert summary.version == len(expected)
            assert [r.aggregate_version for r in storage.outbox.history(order_id)] == list(range(1, len(expected) + 1))
    finally:
        app.close()


def test_many_writer_threads_placing_and_changing_orders_keep_every_change(sql_store: dict[str, Any]) -> None:
    app = make_app(sql_store)
    try:
        order_ids = [app.bus.handle(PlaceOrder(customer_id=f"c-{i}", currency="EUR",
                                               lines=(LineItem("SKU-1", 1, Decimal("1.00")),))).order_id
                     for i in range(20)]
        failures: list[BaseException] = []

        def approve(ids: list[str]) -> None:
            for oid in ids:
                try:
                    app.bus.handle(ApproveOrder(order_id=oid))
                except IllegalTransition:
                    pass  # the canceller got there first
                except BaseException as exc:
                    failures.append(exc)

        def cancel(ids: list[str]) -> None:
            for oid in ids:
                try:
                    app.bus.handle(CancelOrder(order_id=oid, reason="race"))
                except BaseException as exc:
                    failures.append(exc)

        threads = [threading.Thread(target=approve, args=(order_ids,)),
                   threading.Thread(target=cancel, args=(list(reversed(order_ids)),))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        for oid in order_ids:
            rows = app.storage.outbox.history(oid)
            assert [r.aggregate_version for r in rows] == list(range(1, len(rows) + 1))
            assert rows[-1].type == "OrderCancelled"
            summary = app.storage.read_model.get(oid)
            assert summary is not None and summary.status is OrderStatus.CANCELLED and summary.version == len(rows)
    finally:
        app.close()
