"""A context reacting to another context's events (as its consumer does): each handler's effect
once per message, errors propagate so the message is redelivered, conflicts retried."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from adapters.outbound.memory.determinism import SequentialIds, SteppingClock
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.storage import MemoryStorage
from core.kernel.errors import ConcurrencyConflict
from core.orders.events import OrderPlaced
from core.runtime.service import Service
from ports.storage import UnitOfWork
from tests.counters.context import CONTEXT, TOTALS, Increment, increment

PLACED = OrderPlaced(event_id="e-1", aggregate_id="o-1", aggregate_version=1,
                     occurred_at=datetime(2026, 1, 1, tzinfo=UTC), customer_id="c-1", currency="EUR", lines=())


def counting_orders(extra: object = None) -> tuple[Service, MemoryStorage]:
    """The counters context, reacting to orders' OrderPlaced by counting per customer."""

    def count_order(event: OrderPlaced, uow: UnitOfWork, now: object, new_id: object) -> None:
        if extra is not None:
            extra()  # type: ignore[operator]
        increment(Increment(counter_id=event.customer_id), uow, now, new_id)  # type: ignore[arg-type]

    context = dataclasses.replace(CONTEXT, event_handlers={OrderPlaced: [count_order]})
    storage = MemoryStorage()
    service = Service(context, storage=storage, feed=RingBufferFeed(100), clock=SteppingClock(),
                      ids=SequentialIds("r"), events_topic="orderhex.counters.events")
    return service, storage


def test_a_reaction_takes_effect_once_however_often_the_event_is_delivered() -> None:
    service, storage = counting_orders()
    assert service.reacts_to(OrderPlaced) and context_subscribes_to_orders(service)
    assert service.react(PLACED, "orderhex.orders.events:0:7") == 1
    assert service.react(PLACED, "orderhex.orders.events:0:7") == 0
    assert storage.read_model.get(TOTALS, "c-1").value == 1
    assert service.react(PLACED, "another-delivery-id") == 1, "a different message is a different effect"
    assert storage.read_model.get(TOTALS, "c-1").value == 2


def test_a_failing_reaction_propagates_leaves_no_trace_and_takes_effect_on_redelivery() -> None:
    failures = [OSError("disk full")]

    def fail_once() -> None:
        if failures:
            raise failures.pop()

    service, storage = counting_orders(extra=fail_once)
    with pytest.raises(OSError, match="disk full"):
        service.react(PLACED, "m-1")
    assert storage.read_model.get(TOTALS, "c-1") is None
    assert service.react(PLACED, "m-1") == 1, "the redelivered message is not mistaken for a handled one"
    assert storage.read_model.get(TOTALS, "c-1").value == 1


def test_a_conflicting_reaction_is_retried() -> None:
    attempts: list[int] = []

    def conflict_twice() -> None:
        attempts.append(1)
        if len(attempts) <= 2:
            raise ConcurrencyConflict("c-1", 0, 1)

    service, storage = counting_orders(extra=conflict_twice)
    assert service.react(PLACED, "m-1") == 1
    assert len(attempts) == 3 and storage.read_model.get(TOTALS, "c-1").value == 1


def context_subscribes_to_orders(service: Service) -> bool:
    return service.context.subscriptions == ("orders",)
