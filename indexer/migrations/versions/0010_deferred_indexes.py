"""The list of secondary indexes a long backfill dropped, to re-create after it or a crash.

Revision ID: 0010
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `deferred_indexes` (see `indexer.indexes`)."""
    op.create_table(
        "deferred_indexes",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("table_name", sa.String(128), nullable=False),
        sa.Column("ddl", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    """Drop `deferred_indexes`."""
    op.drop_table("deferred_indexes")
