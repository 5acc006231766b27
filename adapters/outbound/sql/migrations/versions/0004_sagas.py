"""Durable sagas: their state, their timelines and their timers.

Revision ID: 0004
Revises: 0003

- `sagas` (saga_id pk, definition, state, instance JSON text, version, started_at, updated_at,
  next_due) with indexes for listing newest first, all (`ix_sagas_started`) or of one state
  (`ix_sagas_state_started`);
- `saga_history` (saga_id, seq, entry JSON text; pk (saga_id, seq));
- `saga_timers` (saga_id, step, generation, due_at, claimed_until; pk (saga_id, step,
  generation)) with `ix_saga_timers_due` for the timer worker's claims.

Downgrade drops the three tables: an older orderhex runs no sagas.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
# Compared in byte order on PostgreSQL, as schema.OrderedText says.
ORDERED = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sagas",
        sa.Column("saga_id", ORDERED, primary_key=True),
        sa.Column("definition", sa.String, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("instance", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("next_due", TIMESTAMP),
    )
    op.create_index("ix_sagas_started", "sagas", ["started_at", "saga_id"])
    op.create_index("ix_sagas_state_started", "sagas", ["state", "started_at", "saga_id"])
    op.create_table(
        "saga_history",
        sa.Column("saga_id", sa.String, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("entry", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "saga_timers",
        sa.Column("saga_id", ORDERED, primary_key=True),
        sa.Column("step", ORDERED, primary_key=True),
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("claimed_until", TIMESTAMP),
    )
    op.create_index("ix_saga_timers_due", "saga_timers", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_saga_timers_due", table_name="saga_timers")
    op.drop_table("saga_timers")
    op.drop_table("saga_history")
    op.drop_index("ix_sagas_state_started", table_name="sagas")
    op.drop_index("ix_sagas_started", table_name="sagas")
    op.drop_table("sagas")
