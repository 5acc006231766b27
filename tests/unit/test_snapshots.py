"""Event-sourcing helpers: state round trip, when to snapshot, rebuilding past states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.kernel.aggregate import snapshot_due
from core.orders.model import ORDER, OrderStatus, as_of
from tests.unit.test_order_model import line, placed

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _history():
    order = placed(line("A", 2), line("B", 1))
    order.approve(now=T0 + timedelta(seconds=10), event_id="e2")
    order.ship(now=T0 + timedelta(seconds=20), event_id="e3")
    return order, list(order.pending_events)


def test_the_state_round_trips_the_order() -> None:
    order, _ = _history()
    back = ORDER.from_state(ORDER.to_state(order))
    assert (back.id, back.lines, back.status, back.version, back.updated_at) == (
        order.id, order.lines, order.status, order.version, order.updated_at)


def test_a_state_of_another_schema_is_refused_with_what_to_do() -> None:
    order, _ = _history()
    with pytest.raises(ValueError, match="rebuild snapshots"):
        ORDER.from_state({**ORDER.to_state(order), "schema": 99})


@pytest.mark.parametrize(("before", "after", "due"), [(0, 1, False), (2, 3, True), (3, 4, False), (1, 7, True)])
def test_a_snapshot_is_due_when_a_save_crosses_a_multiple(before: int, after: int, due: bool) -> None:
    assert snapshot_due(before, after, 3) is due


def test_rebuild_replays_only_the_events_after_the_snapshot() -> None:
    _, events = _history()
    asked: list[int] = []

    def read(from_version: int) -> list:
        asked.append(from_version)
        return [e for e in events if e.aggregate_version >= from_version]

    snapshot = ORDER.to_state(placed(line("A", 2), line("B", 1)))
    rebuilt = ORDER.rebuild(snapshot, read)
    assert asked == [2] and rebuilt is not None and rebuilt.status is OrderStatus.SHIPPED
    assert rebuilt.persisted_version == rebuilt.version == 3 and rebuilt.pending_events == []
    assert ORDER.rebuild(None, lambda v: []) is None


def test_as_of_gives_past_states_by_version_and_by_time() -> None:
    _, events = _history()
    by_version = as_of(events, version=2)
    assert by_version is not None and by_version.status is OrderStatus.APPROVED
    by_time = as_of(events, at=T0 + timedelta(seconds=15))
    assert by_time is not None and by_time.status is OrderStatus.APPROVED and by_time.version == 2
    assert as_of(events, at=T0 - timedelta(seconds=1)) is None
