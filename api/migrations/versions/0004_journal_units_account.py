"""The journal names the account whose units a request takes, so prepare can skip them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("units_account", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_api_requests_units_account_status", ["units_account", "status"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_api_requests_units_account_status")
        batch_op.drop_column("units_account")
