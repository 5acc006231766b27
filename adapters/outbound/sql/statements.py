"""Statements built once: the writes and the document lists run through prepared.py (compiled
once per dialect, so they must live at module level), the other reads through
`Connection.execute`, which memoizes a prebuilt statement's cache key."""

from __future__ import annotations

from itertools import combinations

from sqlalchemy import BigInteger, Insert, Select, bindparam, case, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.outbound.sql.schema import (
    TAGS,
    aggregate_keys,
    aggregates,
    documents,
    events,
    inbox,
    outbox,
    projection_position,
    saga_history,
    saga_timers,
    sagas,
    snapshots,
)

INSERT_AGGREGATE = insert(aggregates)
# WHERE parameters carry a `where_` prefix so they never collide with the SET values.
SAVE_AGGREGATE = (update(aggregates)
                  .where(aggregates.c.type == bindparam("where_type"), aggregates.c.id == bindparam("where_id"),
                         aggregates.c.version == bindparam("where_version"))
                  .values(version=bindparam("version"), state=bindparam("state")))
INSERT_KEY = insert(aggregate_keys)
INSERT_OUTBOX = insert(outbox).returning(outbox.c.seq)
INSERT_INBOX = insert(inbox)
INSERT_SNAPSHOT = insert(snapshots)
INSERT_EVENTS = insert(events)
STREAM_VERSION = select(func.coalesce(func.max(events.c.version), 0)).where(
    events.c.stream_id == bindparam("stream_id"))
APPEND_LOCK = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def _upsert_document(dialect_insert: Insert) -> Insert:
    """INSERT ... ON CONFLICT (view, key) DO UPDATE: one statement whether or not the document
    exists, so a writer never reads it first. Both dialects spell it the same; SQLAlchemy has a
    construct per dialect, hence one statement per dialect."""
    excluded = dialect_insert.excluded  # type: ignore[attr-defined]
    return dialect_insert.on_conflict_do_update(  # type: ignore[attr-defined,no-any-return]
        index_elements=[documents.c.view, documents.c.key],
        set_={column.name: excluded[column.name] for column in documents.c
              if column.name not in ("view", "key")})


UPSERT_DOCUMENT = {
    "sqlite": _upsert_document(sqlite.insert(documents)),
    "postgresql": _upsert_document(postgresql.insert(documents)),
}

_POSITION = projection_position.c.position
_NEW_POSITION = bindparam("new_position", type_=BigInteger)
ADVANCE_POSITION = (update(projection_position).where(projection_position.c.id == bindparam("row", 1))
                    .values(position=case((_NEW_POSITION > _POSITION, _NEW_POSITION), else_=_POSITION)))
SELECT_POSITION = select(_POSITION).where(projection_position.c.id == 1)

STATE_BY_ID = select(aggregates.c.state).where(aggregates.c.type == bindparam("type"),
                                               aggregates.c.id == bindparam("id"))
STATE_BY_KEY = (select(aggregates.c.state)
                .join(aggregate_keys, (aggregate_keys.c.type == aggregates.c.type)
                      & (aggregate_keys.c.aggregate_id == aggregates.c.id))
                .where(aggregate_keys.c.type == bindparam("type"),
                       aggregate_keys.c.idempotency_key == bindparam("key")))
ID_BY_KEY = select(aggregate_keys.c.aggregate_id).where(aggregate_keys.c.type == bindparam("type"),
                                                        aggregate_keys.c.idempotency_key == bindparam("key"))
LATEST_SNAPSHOT = (select(snapshots.c.data).where(snapshots.c.stream_id == bindparam("id"))
                   .order_by(snapshots.c.version.desc()).limit(1))
STREAM = (select(events.c.payload)
          .where(events.c.stream_id == bindparam("stream_id"), events.c.version >= bindparam("from_version"))
          .order_by(events.c.version))


def _list_documents(tags: tuple[int, ...], after: bool) -> Select[tuple[str]]:
    """A page of a view's documents, newest first by (sort, key), whose `tag<n>` equals `:tag<n>`
    for each n in `tags`, after the cursor `(:after_sort, :after_key)` when `after`.

    The cursor is a row value: both SQLite (3.15+) and PostgreSQL seek the index to it and read
    just the page, at any depth and through any run of equal sort texts. Spelled with OR
    (`sort < :s OR (sort = :s AND key < :k)`) neither sees a range, and a deep page walks the
    index from the newest row.
    """
    column = documents.c
    query = select(column.data).where(column.view == bindparam("view"))
    for number in tags:
        query = query.where(column[f"tag{number}"] == bindparam(f"tag{number}"))
    if after:
        query = query.where(tuple_(column.sort, column.key) < tuple_(bindparam("after_sort"), bindparam("after_key")))
    return query.order_by(column.sort.desc(), column.key.desc()).limit(bindparam("limit"))


# (tag numbers filtered on, whether a cursor is given) -> the list statement.
LIST_DOCUMENTS = {(tags, after): _list_documents(tags, after)
                  for size in range(TAGS + 1) for tags in combinations(range(1, TAGS + 1), size)
                  for after in (False, True)}
DOCUMENT = select(documents.c.data).where(documents.c.view == bindparam("view"), documents.c.key == bindparam("key"))
INBOX_HAS = select(inbox.c.message_id).where(inbox.c.message_id == bindparam("message_id"))
STATE_IDS = select(aggregates.c.id).where(aggregates.c.type == bindparam("type"))
STREAM_IDS = select(events.c.stream_id).where(events.c.aggregate_type == bindparam("type")).distinct()

# Sagas (written by the committer with the rest of a unit of work).
INSERT_SAGA = insert(sagas)
SAVE_SAGA = (update(sagas)
             .where(sagas.c.saga_id == bindparam("where_saga_id"), sagas.c.version == bindparam("where_version"))
             .values({column.name: bindparam(column.name) for column in sagas.c if column.name != "saga_id"}))
LAST_HISTORY_SEQ = select(func.coalesce(func.max(saga_history.c.seq), 0)).where(
    saga_history.c.saga_id == bindparam("saga_id"))
INSERT_HISTORY = insert(saga_history)
_TIMER = (saga_timers.c.saga_id == bindparam("saga_id"), saga_timers.c.step == bindparam("step"),
          saga_timers.c.generation == bindparam("generation"))
CANCEL_TIMER = delete(saga_timers).where(*_TIMER)
CLAIM_TIMER = (update(saga_timers)
               .where(saga_timers.c.saga_id == bindparam("where_saga_id"),
                      saga_timers.c.step == bindparam("where_step"),
                      saga_timers.c.generation == bindparam("where_generation"))
               .values(claimed_until=bindparam("claimed_until")))


def _upsert_timer(dialect_insert: Insert) -> Insert:
    """Scheduling a timer again keeps one row: the new due time, and no claim."""
    excluded = dialect_insert.excluded  # type: ignore[attr-defined]
    return dialect_insert.on_conflict_do_update(  # type: ignore[attr-defined,no-any-return]
        index_elements=[saga_timers.c.saga_id, saga_timers.c.step, saga_timers.c.generation],
        set_={"due_at": excluded.due_at, "claimed_until": None})


UPSERT_TIMER = {
    "sqlite": _upsert_timer(sqlite.insert(saga_timers)),
    "postgresql": _upsert_timer(postgresql.insert(saga_timers)),
}
# Columns named, not `select(sagas)`: sagas.py unpacks the driver's row in this order.
SAGA_BY_ID = select(sagas.c.saga_id, sagas.c.definition, sagas.c.state, sagas.c.instance, sagas.c.version,
                    sagas.c.started_at, sagas.c.updated_at, sagas.c.next_due).where(
    sagas.c.saga_id == bindparam("saga_id"))
