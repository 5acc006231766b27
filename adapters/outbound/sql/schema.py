"""The tables the adapter reads and writes (SQLAlchemy Core). Alembic migrations create them.

Nothing here names a bounded context: an aggregate is a row (or a stream) keyed by its codec's
name, a read model is a set of documents keyed by its view's name. State and documents are JSON
text rather than a JSON column type: both dialects store text the same way, the adapter never
queries inside it, and what it filters and sorts on (version, sort, tags) has columns of its own.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from adapters.outbound.sql.types import UtcDateTime

# SQLite only auto-numbers an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Sequence64 = BigInteger().with_variant(Integer(), "sqlite")

# Text that lists are ordered by. PostgreSQL compares it in the "C" collation (byte order, which
# for UTF-8 is code point order, as Python's `<` compares), whatever collation the database was
# created with: so a view pages in the same order on every store. SQLite compares bytes anyway.
OrderedText = String().with_variant(String(collation="C"), "postgresql")

# How many filterable tags a document row carries (core.kernel.views.MAX_FILTERS).
TAGS = 3

metadata = MetaData()

# State mode: one row per aggregate, its codec's JSON state. `version` is a column of its own so
# the optimistic check is a plain `UPDATE ... WHERE version = :expected`.
aggregates = Table(
    "aggregates", metadata,
    Column("type", String, primary_key=True),
    Column("id", OrderedText, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=False),
    # SQLite: the rows live in the primary key's b-tree, one b-tree less to write per commit.
    sqlite_with_rowid=False,
)

# Both modes: the aggregate an idempotency key was first used for, unique per aggregate type.
aggregate_keys = Table(
    "aggregate_keys", metadata,
    Column("type", String, primary_key=True),
    Column("idempotency_key", String, primary_key=True),
    Column("aggregate_id", String, nullable=False),
    sqlite_with_rowid=False,
)

outbox = Table(
    "outbox", metadata,
    Column("seq", Sequence64, primary_key=True, autoincrement=True),
    Column("event_id", String, nullable=False, unique=True),
    Column("aggregate_id", String, nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    Column("type", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),
    # "" for rows written before rows named their topic: the relay's default topic.
    Column("topic", String, nullable=False, server_default=""),
    # Set while the row is parked: the broker refused it for good, it waits for an operator.
    Column("parked_at", UtcDateTime),
    Column("parked_reason", Text),
    Index("ix_outbox_aggregate", "aggregate_id", "aggregate_version"),
    # AUTOINCREMENT: a purged highest seq is never handed out again.
    sqlite_autoincrement=True,
)
Index("ix_outbox_unpublished", outbox.c.seq,
      sqlite_where=outbox.c.published_at.is_(None), postgresql_where=outbox.c.published_at.is_(None))
# The parked rows by aggregate: a claim looks up, per row, whether a parked row holds its
# aggregate. Almost always empty, so the lookup costs next to nothing.
Index("ix_outbox_parked", outbox.c.aggregate_id, outbox.c.seq,
      sqlite_where=outbox.c.parked_at.is_not(None), postgresql_where=outbox.c.parked_at.is_not(None))

# Every view's documents. Lists run newest first by (sort, key), optionally filtered on one or
# more tags: one index per way of listing, each ending in (sort, key) so a page is an index range.
# A tag's index holds only rows that have the tag (`tagN = :value` implies it, so both dialects
# still use it), so a view with fewer filters does not pay for the others' indexes on every write.
documents = Table(
    "documents", metadata,
    Column("view", String, primary_key=True),
    Column("key", OrderedText, primary_key=True),
    Column("sort", OrderedText, nullable=False),
    *(Column(f"tag{n}", String) for n in range(1, TAGS + 1)),
    Column("data", Text, nullable=False),
    Index("ix_documents_sort", "view", "sort", "key"),
    sqlite_with_rowid=False,
)
for _n in range(1, TAGS + 1):
    _tag = documents.c[f"tag{_n}"]
    Index(f"ix_documents_tag{_n}", documents.c.view, _tag, documents.c.sort, documents.c.key,
          sqlite_where=_tag.is_not(None), postgresql_where=_tag.is_not(None))
# The first two filters together (orders: customer and status): with only tag1's index, such a
# list walks every row of the customer to find the few of one status. Partial like the others, so
# a view with fewer than two filters pays nothing for it.
_BOTH_TAGS = documents.c.tag1.is_not(None) & documents.c.tag2.is_not(None)
Index("ix_documents_tag1_tag2", documents.c.view, documents.c.tag1, documents.c.tag2, documents.c.sort,
      documents.c.key, sqlite_where=_BOTH_TAGS, postgresql_where=_BOTH_TAGS)

# One row (id = 1): the outbox seq of the last event projected into the documents.
projection_position = Table(
    "projection_position", metadata,
    Column("id", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False),
)

inbox = Table(
    "inbox", metadata,
    Column("message_id", String, primary_key=True),
)

events = Table(
    "events", metadata,
    Column("position", Sequence64, primary_key=True, autoincrement=True),
    Column("stream_id", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", String, nullable=False, unique=True),
    Column("type", String, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("payload", Text, nullable=False),
    # The codec name of the stream's aggregate ("" when appended outside a unit of work), so a
    # store can list the aggregates of one type.
    Column("aggregate_type", String, nullable=False, server_default=""),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
    sqlite_autoincrement=True,
)

# Events mode: the codec's JSON state every `snapshot_every` events, so a load replays fewer.
snapshots = Table(
    "snapshots", metadata,
    Column("stream_id", String, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("data", Text, nullable=False),
)

# Sagas: the engine's instance as JSON text, with the columns people filter and sort on. `version`
# is the optimistic check, as for aggregates; `next_due` is the saga's next deadline, for people.
sagas = Table(
    "sagas", metadata,
    Column("saga_id", OrderedText, primary_key=True),
    Column("definition", String, nullable=False),
    Column("state", String, nullable=False),
    Column("instance", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("next_due", UtcDateTime),
    # Listing newest first, all or of one state, and counting by state, are index ranges.
    Index("ix_sagas_started", "started_at", "saga_id"),
    Index("ix_sagas_state_started", "state", "started_at", "saga_id"),
)

# A saga's timeline, numbered per saga from 1.
saga_history = Table(
    "saga_history", metadata,
    Column("saga_id", String, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("entry", Text, nullable=False),
    sqlite_with_rowid=False,
)

# Durable timers. `claimed_until` hides a claimed timer from other workers until its lease ends.
saga_timers = Table(
    "saga_timers", metadata,
    Column("saga_id", OrderedText, primary_key=True),
    Column("step", OrderedText, primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("due_at", UtcDateTime, nullable=False),
    Column("claimed_until", UtcDateTime),
    Index("ix_saga_timers_due", "due_at"),
)
