"""An account's unit blocks in serial order, so a holdings page reads only its own rows.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(
        "ix_unit_blocks_account_start", "unit_blocks", ["account_id", "start"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_unit_blocks_account_start", table_name="unit_blocks")
