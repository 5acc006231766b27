"""Initial schema: orders and lines, idempotency keys, outbox, read model, inbox, events, snapshots.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("customer_id", sa.String, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("idempotency_key", sa.String, unique=True),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String, sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.String, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", SEQUENCE, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String, nullable=False, unique=True),
        sa.Column("aggregate_id", sa.String, nullable=False),
        sa.Column("aggregate_version", sa.Integer, nullable=False),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("published_at", TIMESTAMP),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_aggregate", "outbox", ["aggregate_id", "aggregate_version"])
    op.create_index("ix_outbox_unpublished", "outbox", ["seq"],
                    sqlite_where=sa.text("published_at IS NULL"), postgresql_where=sa.text("published_at IS NULL"))
    op.create_table(
        "order_summaries",
        sa.Column("order_id", sa.String, primary_key=True),
        sa.Column("customer_id", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("total", sa.String, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("lines", sa.Text, nullable=False),
    )
    op.create_index("ix_summaries_newest", "order_summaries", ["created_at", "order_id"])
    op.create_index("ix_summaries_customer", "order_summaries", ["customer_id", "created_at", "order_id"])
    op.create_index("ix_summaries_status", "order_summaries", ["status", "created_at", "order_id"])
    position = op.create_table(
        "projection_position",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(position, [{"id": 1, "position": 0}])
    op.create_table("inbox", sa.Column("message_id", sa.String, primary_key=True))
    op.create_table(
        "events",
        sa.Column("position", SEQUENCE, primary_key=True, autoincrement=True),
        sa.Column("stream_id", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String, nullable=False, unique=True),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "order_keys",
        sa.Column("idempotency_key", sa.String, primary_key=True),
        sa.Column("order_id", sa.String, nullable=False),
    )
    op.create_table(
        "snapshots",
        sa.Column("stream_id", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("snapshots", "order_keys", "events", "inbox", "projection_position", "order_summaries",
                  "outbox", "order_lines", "orders"):
        op.drop_table(table)
