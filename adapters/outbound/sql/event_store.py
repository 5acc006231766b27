"""The EventStore port on SQL: one `events` table, global position as the primary key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from adapters.outbound.sql.database import Database
from adapters.outbound.sql.prepared import Driver, execute_many, scalar
from adapters.outbound.sql.rows import event_from_payload, event_values, stored_event_from_row
from adapters.outbound.sql.schema import events
from adapters.outbound.sql.statements import APPEND_LOCK, INSERT_EVENTS, STREAM, STREAM_VERSION
from core.kernel.envelope import StoredEvent
from core.kernel.errors import ConcurrencyConflict
from core.kernel.messages import DomainEvent
from core.kernel.streams import check_append

# Any constant: the key of the PostgreSQL advisory lock that orders appends (see lock_appends).
_APPEND_LOCK = 0x6F72646572686578


def lock_appends(driver: Driver) -> None:
    """On PostgreSQL, take the transaction-scoped lock that orders appends: positions come from a
    sequence, and without the lock a later position could commit before an earlier one, so a
    reader tailing `read_all` would skip the earlier event for good. (SQLite writers are
    serialized by `BEGIN IMMEDIATE` already.) Taken once per transaction; taking it again is
    harmless but costs a round trip."""
    if driver.dialect.name == "postgresql":
        scalar(driver, APPEND_LOCK, {"key": _APPEND_LOCK})


def append_events(driver: Driver, stream_id: str, new: Sequence[DomainEvent], expected_version: int, *,
                  aggregate_type: str = "", payloads: Mapping[str, str] | None = None) -> None:
    """Append in the caller's transaction, which holds `lock_appends`. `payloads` (event id ->
    JSON) reuses text already made for the outbox. The unique (stream_id, version) index stays
    the last word on conflicts."""
    check_append(stream_id, scalar(driver, STREAM_VERSION, {"stream_id": stream_id}), new, expected_version)
    if not new:
        return
    known = payloads or {}
    try:
        execute_many(driver, INSERT_EVENTS, [event_values(event, aggregate_type, known.get(event.event_id))
                                             for event in new])
    except IntegrityError as exc:
        raise ConcurrencyConflict(stream_id, expected_version) from exc


def read_stream(connection: Connection, stream_id: str, from_version: int = 1) -> list[DomainEvent]:
    rows = connection.execute(STREAM, {"stream_id": stream_id, "from_version": from_version})
    return [event_from_payload(payload) for payload in rows.scalars()]


class SqlEventStore:
    """Standalone appends commit on their own, with no aggregate type (so `aggregate_ids` does
    not list their streams, as in every store); units of work append through the committer."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, stream_id: str, events: Sequence[DomainEvent], expected_version: int) -> None:
        with self._db.driving() as driver:
            lock_appends(driver)
            append_events(driver, stream_id, events, expected_version)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[DomainEvent]:
        with self._db.reading() as connection:
            return read_stream(connection, stream_id, from_version)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        query = (select(events.c.position, events.c.payload).where(events.c.position > after_position)
                 .order_by(events.c.position).limit(limit))
        with self._db.reading() as connection:
            return [stored_event_from_row(row) for row in connection.execute(query)]
