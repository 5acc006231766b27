"""Lists filtered by two tags at once (orders: customer and status) as an index range.

Revision ID: 0005
Revises: 0004

- adds the partial index `ix_documents_tag1_tag2` (view, tag1, tag2, sort, key) over documents
  that carry both tags. Before it, such a list used tag1's index and walked every document of
  that tag value to find the few that also matched tag2.

Downgrade drops it: lists still answer the same, through tag1's index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    both = sa.text("tag1 IS NOT NULL AND tag2 IS NOT NULL")
    op.create_index("ix_documents_tag1_tag2", "documents", ["view", "tag1", "tag2", "sort", "key"],
                    sqlite_where=both, postgresql_where=both)


def downgrade() -> None:
    op.drop_index("ix_documents_tag1_tag2", table_name="documents")
