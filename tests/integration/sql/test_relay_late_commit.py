"""PostgreSQL hands out sequence numbers at insert, not at commit: a transaction that took a lower
seq can commit after a higher one was already published. The relay keeps per-row claims there
(no high-water mark across rounds), so such a row is published late, never skipped."""

from __future__ import annotations

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
TOPIC = "late.events"


@pytest.fixture
def storage(postgres_url: str, tmp_path: Path) -> Iterator[SqlStorage]:
    store = open_sql_storage("postgres", tmp_path, postgres_url, mode="state", snapshot_every=50)
    yield store
    store.close()


def insert(connection: psycopg.Connection[Any], name: str) -> int:
    """One outbox row in the connection's open transaction; returns the seq it took."""
    row = connection.execute(
        "INSERT INTO outbox (event_id, aggregate_id, aggregate_version, type, payload, created_at, topic)"
        " VALUES (%s, %s, 1, 'Thing', '{}', %s, '') RETURNING seq", (name, name, NOW)).fetchone()
    assert row is not None
    return int(row[0])


class CommitsOnFirstSend(PublisherBeside):
    """The memory publisher, and on the relay's first hand-over a transaction commits elsewhere:
    the late row becomes visible while the relay's round is under way, below its claims."""

    def __init__(self, messaging: MemoryMessaging, late: psycopg.Connection[Any]) -> None:
        super().__init__(messaging)
        self._late: psycopg.Connection[Any] | None = late
        self.sent: list[str] = []

    def send(self, rows: Sequence[OutboxRow], default_topic: str) -> MemorySending:
        sending = self._publisher.send(rows, default_topic)
        self.sent.extend(row.event_id for row in rows)
        if self._late is not None:
            self._late.commit()
            self._late = None
        return sending


def test_a_lower_seq_committed_after_a_higher_one_was_published_is_published_not_skipped(
    storage: SqlStorage, postgres_url: str,
) -> None:
    messaging = MemoryMessaging()
    with psycopg.connect(postgres_url) as early, psycopg.connect(postgres_url) as late:
        low = insert(late, "low")  # takes the lower seq, and stays uncommitted for now
        high = insert(early, "high")
        later = insert(early, "later")
        early.commit()
        assert low < high < later
        publisher = CommitsOnFirstSend(messaging, late)
        relay = OutboxRelay(storage=storage, messaging=Broker(publisher),  # type: ignore[arg-type]
                            settings=RelaySettings(topic=TOPIC, batch_size=1, in_flight=1, window=8),
                            feed=RingBufferFeed(), now=lambda: NOW)
        # The round claims "high" (the only committed row), hands it over (then "low" commits,
        # below the round's mark), and goes on above it with "later".
        assert relay.publish_batch() == 2
        assert publisher.sent == ["high", "later"]
        assert storage.outbox.pending_count() == 1, "the late row is still waiting, not lost"
        # The next round starts again from the lowest unpublished row.
        assert relay.publish_batch() == 1
    assert publisher.sent == ["high", "later", "low"]
    assert [m.id for m in messaging.broker.messages(TOPIC)] == ["high", "later", "low"]
    assert storage.outbox.pending_count() == 0
    assert {r.event_id: r.published_at for r in storage.outbox.recent(10)} == {"low": NOW, "high": NOW, "later": NOW}
