"""Several relays sharing one PostgreSQL outbox: claims are disjoint and keep each aggregate in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.outbound.sql.storage import SqlStorage, open_sql_storage
from tests.contract.orders_fixtures import approve, place

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def relays(postgres_url: str, tmp_path: Path) -> Iterator[tuple[SqlStorage, SqlStorage]]:
    """Two stores on one database: two relay processes, each with its own connections."""
    first, second = (open_sql_storage("postgres", tmp_path, postgres_url, mode="state", snapshot_every=50)
                     for _ in range(2))
    yield first, second
    first.close()
    second.close()


def test_a_row_claimed_by_one_relay_is_skipped_by_the_other(relays: tuple[SqlStorage, SqlStorage]) -> None:
    a, b = relays
    orders = [place(a, when=i) for i in range(4)]
    claimed_a = a.outbox.claim(2)
    claimed_b = b.outbox.claim(10)
    assert [r.aggregate_id for r in claimed_a] == [o.id for o in orders[:2]]
    assert [r.aggregate_id for r in claimed_b] == [o.id for o in orders[2:]]
    a.outbox.mark_published([r.seq for r in claimed_a], NOW)
    b.outbox.mark_published([r.seq for r in claimed_b], NOW)
    assert a.outbox.pending_count() == 0


def test_a_later_event_waits_while_another_relay_holds_an_earlier_one(
    relays: tuple[SqlStorage, SqlStorage],
) -> None:
    a, b = relays
    first, other = place(a), place(a)
    approve(a, first.id)  # rows: first v1, other v1, first v2
    held = a.outbox.claim(1)
    assert [(r.aggregate_id, r.aggregate_version) for r in held] == [(first.id, 1)]
    # b may not publish first's v2 ahead of v1, which a holds
    assert [(r.aggregate_id, r.aggregate_version) for r in b.outbox.claim(10)] == [(other.id, 1)]
    a.outbox.mark_published([held[0].seq], NOW)
    assert [(r.aggregate_id, r.aggregate_version) for r in b.outbox.claim(10)] == [(other.id, 1), (first.id, 2)]


def test_rows_claimed_but_not_marked_become_claimable_again(relays: tuple[SqlStorage, SqlStorage]) -> None:
    a, b = relays
    order = place(a)
    assert len(a.outbox.claim(10)) == 1
    assert b.outbox.claim(10) == []
    a.outbox.release()  # the relay gave up (publish failed); a crash drops the connection alike
    again = b.outbox.claim(10)
    assert [r.aggregate_id for r in again] == [order.id]
    b.outbox.mark_published([again[0].seq], NOW)
    b.outbox.mark_published([again[0].seq], NOW)  # twice is harmless
    assert a.outbox.claim(10) == [] and a.outbox.pending_count() == 0


def test_the_same_relay_claiming_again_sees_its_unmarked_rows_again(relays: tuple[SqlStorage, SqlStorage]) -> None:
    a, _ = relays
    order = place(a)
    first = a.outbox.claim(10)
    second = a.outbox.claim(10)
    assert [r.seq for r in first] == [r.seq for r in second] and second[0].aggregate_id == order.id
