"""The message bus: one handler per command, many per event, errors, retries, threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.errors import ConcurrencyConflict, ValidationError
from core.kernel.feed import FeedKind
from core.kernel.messages import Command
from core.orders.commands import ApproveOrder, CancelOrder
from core.orders.events import OrderApproved, OrderPlaced
from core.orders.handlers import place_order
from core.orders.model import ORDER, OrderStatus
from core.orders.queries import GetOrder
from core.runtime.bus import MessageBus
from ports.storage import UnitOfWork
from tests.unit.app_fixtures import memory_app, place_cmd


@dataclass(frozen=True, kw_only=True)
class Unknown(Command):
    pass


def test_a_command_without_a_handler_is_an_error() -> None:
    app = memory_app()
    with pytest.raises(LookupError, match="no handler for command Unknown"):
        app.bus.handle(Unknown())


def test_a_command_error_propagates_and_is_reported_on_the_feed() -> None:
    app = memory_app()
    with pytest.raises(ValidationError):
        app.bus.handle(place_cmd(qty=0))
    [failed] = [e for e in app.feed.recent() if e.kind is FeedKind.COMMAND]
    assert failed.data["outcome"] == "ValidationError" and "PlaceOrder failed" in failed.text


def test_events_go_to_every_handler_and_a_failing_one_does_not_stop_the_others() -> None:
    app = memory_app()
    feed = RingBufferFeed()
    seen: list[str] = []

    def broken(event: OrderPlaced, uow: object) -> None:
        raise RuntimeError("reaction failed")

    def record(event: OrderPlaced, uow: object) -> None:
        seen.append(event.aggregate_id)

    bus = MessageBus(
        uow_factory=app.orders.unit_of_work,
        command_handlers={type(place_cmd()): lambda c, uow: place_order(c, uow, now=_now, new_id=_ids())},
        event_handlers={OrderPlaced: [broken, record]}, feed=feed, now=_now,
    )
    result = bus.handle(place_cmd())
    assert seen == [result.order_id]
    errors = [e for e in feed.recent() if e.kind is FeedKind.ERROR]
    assert len(errors) == 1 and "reaction failed" in errors[0].text and errors[0].data["event"] == "orders.OrderPlaced"


def test_events_caused_by_event_handlers_are_dispatched_too() -> None:
    app = memory_app()
    approved: list[str] = []

    def approve_on_place(event: OrderPlaced, uow: UnitOfWork) -> None:
        with uow:
            order = uow.repository(ORDER).get(event.aggregate_id)
            assert order is not None
            order.approve(now=app.clock.now(), event_id=app.ids.new_id())
            uow.commit()

    bus = MessageBus(uow_factory=app.orders.unit_of_work, command_handlers=app.bus._command_handlers,
                     event_handlers={OrderPlaced: [approve_on_place],
                                     OrderApproved: [lambda e, uow: approved.append(e.aggregate_id)]},
                     feed=app.feed, now=app.clock.now)
    result = bus.handle(place_cmd())
    assert approved == [result.order_id]
    assert app.ordering.get(GetOrder(order_id=result.order_id)).status is OrderStatus.APPROVED


def test_a_conflict_is_retried_then_reported() -> None:
    app = memory_app()
    attempts: list[int] = []

    def always_conflicts(command: CancelOrder, uow: object) -> None:
        attempts.append(1)
        raise ConcurrencyConflict(command.order_id, 1, 2)

    bus = MessageBus(uow_factory=app.orders.unit_of_work, command_handlers={CancelOrder: always_conflicts},
                     event_handlers={}, feed=app.feed, now=app.clock.now, conflict_retries=3)
    with pytest.raises(ConcurrencyConflict):
        bus.handle(CancelOrder(order_id="o-1", reason="r"))
    assert len(attempts) == 4


def test_one_bus_serves_many_threads_without_losing_or_mixing_events() -> None:
    app = memory_app(ids="uuid7", clock="system")
    published: list[str] = []
    lock = threading.Lock()
    bus = MessageBus(uow_factory=app.orders.unit_of_work, command_handlers=app.bus._command_handlers,
                     event_handlers={OrderPlaced: [lambda e, uow: _append(lock, published, e.aggregate_id)]},
                     feed=app.feed, now=app.clock.now)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait(timeout=10)
        for i in range(100):
            r = bus.handle(place_cmd(customer=f"c-{n}", key=f"{n}-{i}"))
            _append(lock, results, r.order_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == len(set(results)) == 800
    assert sorted(published) == sorted(results)  # each placed order's event dispatched exactly once
    assert app.storage.outbox.pending_count() == 800


def test_concurrent_changes_to_one_order_all_land_through_retries() -> None:
    app = memory_app(ids="uuid7", clock="system")
    order_id = app.ordering.send(place_cmd()).order_id
    errors: list[Exception] = []
    barrier = threading.Barrier(2)

    def approve() -> None:
        barrier.wait(timeout=10)
        try:
            app.ordering.send(ApproveOrder(order_id=order_id))
        except Exception as exc:  # the loser sees an illegal transition, never a lost update
            errors.append(exc)

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    summary = app.ordering.get(GetOrder(order_id=order_id))
    assert summary.status is OrderStatus.APPROVED and summary.version == 2
    assert [type(e).__name__ for e in errors] in ([], ["IllegalTransition"])
    assert [r.type for r in app.storage.outbox.claim(10)] == ["orders.OrderPlaced", "orders.OrderApproved"]


def _append(lock: threading.Lock, items: list[str], item: str) -> None:
    with lock:
        items.append(item)


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def _ids():
    import itertools

    counter = itertools.count(1)
    return lambda: f"id-{next(counter)}"


def test_an_unexpected_error_is_reported_on_the_feed_and_propagates() -> None:
    app = memory_app()

    def broken_store(command: CancelOrder, uow: object) -> None:
        raise OSError("disk full")

    bus = MessageBus(uow_factory=app.orders.unit_of_work, command_handlers={CancelOrder: broken_store},
                     event_handlers={}, feed=app.feed, now=app.clock.now)
    with pytest.raises(OSError, match="disk full"):
        bus.handle(CancelOrder(order_id="o-1", reason="r"))
    [failed] = [e for e in app.feed.recent() if e.kind is FeedKind.COMMAND]
    assert failed.data["outcome"] == "OSError" and "disk full" in failed.text
