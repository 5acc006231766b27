"""On PostgreSQL every batch the relay claimed and has not marked yet holds a transaction (its row
locks), so one pooled connection. The relay bounds those (RelaySettings.claims_held) below what
the pool gives: with small batches and a long backlog it does not pile up confirmed batches
waiting for `mark_every` rows until the pool runs dry and a claim waits out the pool's timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.outbound.memory.broker import MemorySending
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.messaging import MemoryMessaging
from adapters.outbound.sql.storage import SqlStorage, open_sql_storage
from core.runtime.relay import OutboxRelay, RelaySettings
from ports.storage import OutboxRow
from tests.integration.sql.relay_doubles import Broker, PublisherBeside

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 2, 1, tzinfo=UTC)
TOPIC = "held.events"
ROWS = 120


@pytest.fixture
def storage(postgres_url: str, tmp_path: Path) -> Iterator[SqlStorage]:
    store = open_sql_storage("postgres", tmp_path, postgres_url, mode="state", snapshot_every=50)
    yield store
    store.close()


class CountsOpenClaims(PublisherBeside):
    """The memory publisher; at each hand-over it counts the sessions holding a transaction open
    on the database (the relay's claims: nothing else runs here)."""

    def __init__(self, messaging: MemoryMessaging, watcher: psycopg.Connection[Any]) -> None:
        super().__init__(messaging)
        self._watcher = watcher
        self.most = 0

    def send(self, rows: Sequence[OutboxRow], default_topic: str) -> MemorySending:
        row = self._watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                    " AND state = 'idle in transaction'").fetchone()
        assert row is not None
        self.most = max(self.most, int(row[0]))
        return self._publisher.send(rows, default_topic)


def test_small_batches_over_a_long_backlog_hold_at_most_claims_held_transactions(
    storage: SqlStorage, postgres_url: str,
) -> None:
    with psycopg.connect(postgres_url) as connection:
        connection.cursor().executemany(
            "INSERT INTO outbox (event_id, aggregate_id, aggregate_version, type, payload, created_at, topic)"
            " VALUES (%s, %s, 1, 'Thing', '{}', %s, '')", [(f"e-{n}", f"a-{n % 7}", NOW) for n in range(ROWS)])
    messaging = MemoryMessaging()
    with psycopg.connect(postgres_url, autocommit=True) as watcher:
        publisher = CountsOpenClaims(messaging, watcher)
        # One row a batch and up to 64 batches a round: before the bound, the confirmed batches
        # waited for 4000 rows to be marked while each held a connection (the pool gives 35).
        settings = RelaySettings(topic=TOPIC, batch_size=1, in_flight=8, window=64, claims_held=10)
        relay = OutboxRelay(storage=storage, messaging=Broker(publisher),  # type: ignore[arg-type]
                            settings=settings, feed=RingBufferFeed(), now=lambda: NOW)
        started = time.monotonic()
        published = 0
        for _ in range(ROWS):
            count = relay.publish_batch()
            if not count:
                break
            published += count
        elapsed = time.monotonic() - started
    assert published == ROWS and storage.outbox.pending_count() == 0
    assert 0 < publisher.most <= settings.claims_held, publisher.most
    assert elapsed < 20, f"{elapsed:.1f} s: a claim waited for a pooled connection"
    # Each aggregate's rows still went out in seq order.
    sent = [m.id for m in messaging.broker.messages(TOPIC)]
    assert sorted(sent, key=lambda event_id: int(event_id[2:])) == sent
