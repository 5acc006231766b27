"""Two real writer threads through the real bus: the store's version check turns the race into a
ConcurrencyConflict, the bus retries it, and no update is lost."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from core.kernel.errors import ConcurrencyConflict, IllegalTransition
from core.orders.commands import ApproveOrder, CancelOrder, LineItem, PlaceOrder
from core.orders.model import OrderStatus
from core.orders.queries import SUMMARIES
from core.runtime.service import Service
from core.runtime.unit_of_work import UnitOfWork
from tests.integration.sql.conftest import EVENTS_TOPIC, SqlStore, orders_service


class GatedUnitOfWork(UnitOfWork):
    """A real unit of work whose thread's first commit waits until the other writer is ready to
    commit too, so both have read the same version: one of them must conflict."""

    def __init__(self, service: Service, gate: threading.Barrier, first: set[int], conflicts: list[str]) -> None:
        super().__init__(service.storage.committer, project=service.context.project, events_topic=EVENTS_TOPIC)
        self._gate, self._first, self._conflicts = gate, first, conflicts

    def commit(self) -> None:
        me = threading.get_ident()
        if me not in self._first:
            self._first.add(me)
            self._gate.wait()
        try:
            super().commit()
        except ConcurrencyConflict as exc:
            self._conflicts.append(str(exc))
            raise


class GatedService(Service):
    """The orders service whose units of work are gated while `gate` is set."""

    gate: tuple[threading.Barrier, set[int], list[str]] | None = None

    def unit_of_work(self) -> UnitOfWork:
        if self.gate is None:
            return super().unit_of_work()
        return GatedUnitOfWork(self, *self.gate)


PLACE = PlaceOrder(customer_id="c-1", currency="EUR", lines=(LineItem("SKU-1", 1, Decimal("5.00")),))


@pytest.mark.parametrize("mode", ["state", "events"])
def test_two_writers_racing_on_one_order_lose_no_update(sql_store: SqlStore, mode: str) -> None:
    storage = sql_store.open(mode)
    service = orders_service(storage, GatedService)
    try:
        for round_ in range(3):
            order_id = service.send(PLACE).order_id
            gate, first, conflicts = threading.Barrier(2, timeout=20), set[int](), list[str]()
            service.gate = (gate, first, conflicts)
            outcomes: dict[str, str] = {}

            def run(name: str, command: Any, out: dict[str, str] = outcomes) -> None:
                try:
                    service.send(command)
                    out[name] = "ok"
                except IllegalTransition:
                    out[name] = "refused"

            writers = [threading.Thread(target=run, args=("approve", ApproveOrder(order_id=order_id))),
                       threading.Thread(target=run, args=("cancel", CancelOrder(order_id=order_id, reason="r")))]
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join(timeout=30)
            service.gate = None

            assert len(conflicts) == 1, f"round {round_}: both writers read v1, exactly one must conflict"
            assert outcomes["cancel"] == "ok"
            history = [e.type for e in service.history(order_id)]
            expected = (["orders.OrderPlaced", "orders.OrderApproved", "orders.OrderCancelled"]
                        if outcomes["approve"] == "ok" else ["orders.OrderPlaced", "orders.OrderCancelled"])
            assert history == expected
            summary = storage.read_model.get(SUMMARIES, order_id)
            assert summary is not None and summary.status is OrderStatus.CANCELLED
            assert summary.version == len(expected)
            assert [r.aggregate_version for r in storage.outbox.history(order_id)] == list(range(1, len(expected) + 1))
    finally:
        storage.close()


def test_many_writer_threads_placing_and_changing_orders_keep_every_change(sql_store: SqlStore) -> None:
    storage = sql_store.open()
    service = orders_service(storage)
    try:
        order_ids = [service.send(PlaceOrder(customer_id=f"c-{i}", currency="EUR",
                                             lines=(LineItem("SKU-1", 1, Decimal("1.00")),))).order_id
                     for i in range(20)]
        failures: list[BaseException] = []

        def approve(ids: list[str]) -> None:
            for oid in ids:
                try:
                    service.send(ApproveOrder(order_id=oid))
                except IllegalTransition:
                    pass  # the canceller got there first
                except BaseException as exc:
                    failures.append(exc)

        def cancel(ids: list[str]) -> None:
            for oid in ids:
                try:
                    service.send(CancelOrder(order_id=oid, reason="race"))
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
            rows = storage.outbox.history(oid)
            assert [r.aggregate_version for r in rows] == list(range(1, len(rows) + 1))
            assert rows[-1].type == "orders.OrderCancelled"
            summary = storage.read_model.get(SUMMARIES, oid)
            assert summary is not None and summary.status is OrderStatus.CANCELLED and summary.version == len(rows)
    finally:
        storage.close()
