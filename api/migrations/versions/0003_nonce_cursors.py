"""Unordered nonces: each signer's next sequence for `prepare` (decision D33).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "api_nonce_cursors",
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("next_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signer"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("api_nonce_cursors")
