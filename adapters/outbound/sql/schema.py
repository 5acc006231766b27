"""The tables the adapter reads and writes (SQLAlchemy Core). Alembic migrations create them.

Order lines live in their own table rather than as JSON in the order row: lines never change
after an order is placed, so a state change updates one narrow row, and lines stay queryable
(which SKU sells) with plain SQL on both dialects.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
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

metadata = MetaData()

orders = Table(
    "orders", metadata,
    Column("id", String, primary_key=True),
    Column("customer_id", String, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("reason", Text),
    Column("idempotency_key", String, unique=True),
)

order_lines = Table(
    "order_lines", metadata,
    Column("order_id", String, ForeignKey("orders.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String, nullable=False),
    Column("quantity", Integer, nullable=False),
    # Decimal text: exact on both dialects (SQLite has no exact decimal type).
    Column("unit_price", String, nullable=False),
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
    Index("ix_outbox_aggregate", "aggregate_id", "aggregate_version"),
    # AUTOINCREMENT: a purged highest seq is never handed out again.
    sqlite_autoincrement=True,
)
Index("ix_outbox_unpublished", outbox.c.seq,
      sqlite_where=outbox.c.published_at.is_(None), postgresql_where=outbox.c.published_at.is_(None))

order_summaries = Table(
    "order_summaries", metadata,
    Column("order_id", String, primary_key=True),
    Column("customer_id", String, nullable=False),
    Column("status", String, nullable=False),
    Column("total", String, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("reason", Text),
    Column("lines", Text, nullable=False),
    Index("ix_summaries_newest", "created_at", "order_id"),
    Index("ix_summaries_customer", "customer_id", "created_at", "order_id"),
    Index("ix_summaries_status", "status", "created_at", "order_id"),
)

# One row (id = 1): the global sequence of the last event projected into order_summaries.
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
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
    sqlite_autoincrement=True,
)

# Event-sourced orders find their order by idempotency key here (state mode uses orders).
order_keys = Table(
    "order_keys", metadata,
    Column("idempotency_key", String, primary_key=True),
    Column("order_id", String, nullable=False),
)

snapshots = Table(
    "snapshots", metadata,
    Column("stream_id", String, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("data", Text, nullable=False),
)
