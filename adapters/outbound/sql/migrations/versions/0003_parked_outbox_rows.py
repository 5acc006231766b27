"""Parked outbox rows: rows the broker refused for good, set aside for an operator.

Revision ID: 0003
Revises: 0002

- adds `outbox.parked_at` and `outbox.parked_reason` (NULL: not parked);
- adds the partial index `ix_outbox_parked` (aggregate_id, seq) over parked rows, which a claim
  probes to keep an aggregate's later rows behind its parked one.

Downgrade drops both: parked rows become ordinary unpublished rows, which the older relay
claims (and retries) again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("outbox", sa.Column("parked_at", TIMESTAMP))
    op.add_column("outbox", sa.Column("parked_reason", sa.Text))
    parked = sa.text("parked_at IS NOT NULL")
    op.create_index("ix_outbox_parked", "outbox", ["aggregate_id", "seq"],
                    sqlite_where=parked, postgresql_where=parked)


def downgrade() -> None:
    op.drop_index("ix_outbox_parked", table_name="outbox")
    # ALTER TABLE ... DROP COLUMN on both dialects (SQLite 3.35+), not a batch copy of the table,
    # which would lose SQLite's AUTOINCREMENT and the partial indexes.
    op.drop_column("outbox", "parked_reason")
    op.drop_column("outbox", "parked_at")
