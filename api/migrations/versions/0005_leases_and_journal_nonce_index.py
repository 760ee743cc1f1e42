"""Leases (the one process that holds the relayer role); the journal keyed by (signer, nonce).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "api_leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.create_index("ix_api_requests_signer_nonce", ["signer", "nonce"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_api_requests_signer_nonce")
    op.drop_table("api_leases")
