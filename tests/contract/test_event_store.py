"""Contract of the EventStore port, on every storage adapter."""

from __future__ import annotations

import pytest

from core.kernel.errors import ConcurrencyConflict
from core.orders.events import OrderApproved, OrderCancelled
from ports.storage import Storage
from tests.contract.orders_fixtures import at, new_id, new_order

PORT = "storage"


def _stream() -> tuple[str, list]:
    """A new order id and its first three events: placed, approved, cancelled."""
    order = new_order()
    placed = order.pending_events[0]
    approved = OrderApproved(event_id=new_id("e"), aggregate_id=order.id, aggregate_version=2, occurred_at=at(1))
    cancelled = OrderCancelled(event_id=new_id("e"), aggregate_id=order.id, aggregate_version=3, occurred_at=at(2),
                               reason="changed")
    return order.id, [placed, approved, cancelled]


def test_appended_events_read_back_in_version_order(storage: Storage) -> None:
    stream, events = _stream()
    storage.event_store.append(stream, events[:1], expected_version=0)
    storage.event_store.append(stream, events[1:], expected_version=1)
    assert storage.event_store.read_stream(stream) == events
    assert storage.event_store.read_stream(stream, from_version=2) == events[1:]
    assert storage.event_store.read_stream("unknown") == []


def test_append_with_a_stale_expected_version_raises_and_stores_nothing(storage: Storage) -> None:
    stream, events = _stream()
    storage.event_store.append(stream, events[:2], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        storage.event_store.append(stream, events[2:], expected_version=1)
    with pytest.raises(ConcurrencyConflict):
        storage.event_store.append(stream, events[:1], expected_version=0)
    assert storage.event_store.read_stream(stream) == events[:2]


def test_events_must_follow_on_without_gaps(storage: Storage) -> None:
    stream, events = _stream()
    storage.event_store.append(stream, events[:1], expected_version=0)
    with pytest.raises(ValueError, match="version"):
        storage.event_store.append(stream, events[2:], expected_version=1)
    assert storage.event_store.read_stream(stream) == events[:1]


def test_read_all_gives_every_stream_in_global_order_with_rising_positions(storage: Storage) -> None:
    before = storage.event_store.read_all()
    start = before[-1].position if before else 0
    first, first_events = _stream()
    second, second_events = _stream()
    storage.event_store.append(first, first_events[:1], 0)
    storage.event_store.append(second, second_events[:2], 0)
    storage.event_store.append(first, first_events[1:2], 1)
    stored = storage.event_store.read_all(after_position=start)
    assert [s.event for s in stored] == [first_events[0], *second_events[:2], first_events[1]]
    positions = [s.position for s in stored]
    assert positions == sorted(set(positions))
    assert [s.event for s in storage.event_store.read_all(after_position=positions[1], limit=1)] == [second_events[1]]
