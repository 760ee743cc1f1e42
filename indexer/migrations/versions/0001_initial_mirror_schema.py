"""Initial mirror schema: registry state, history, raw events and the sync checkpoint.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from indexer.models, so this revision keeps creating the same
# schema whatever the models become later.
HASH = sa.String(66)
ADDRESS = sa.String(42)
UINT256 = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _id(name: str = "id") -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), autoincrement=False, nullable=False)


def upgrade() -> None:
    """Create every mirror table."""
    op.create_table(
        "accounts",
        _id(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approval_policy", sa.String(16), nullable=False),
        sa.Column("party", sa.String(8), nullable=False),
        sa.Column("holder_name", sa.String(), nullable=False),
        sa.Column("primary_representative", ADDRESS, nullable=False),
        sa.Column("opened_block", sa.BigInteger(), nullable=False),
        sa.Column("opened_tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "representatives",
        _id("account_id"),
        sa.Column("address", ADDRESS, nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("can_initiate", sa.Boolean(), nullable=False),
        sa.Column("can_approve", sa.Boolean(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "address"),
    )
    op.create_index("ix_representatives_address", "representatives", ["address"])
    op.create_table(
        "projects",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("methodology", sa.String(), nullable=False),
        sa.Column("country", sa.String(8), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "issuances",
        _id(),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("unit_type", sa.String(32), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=False),
        sa.Column("monitoring_start", sa.BigInteger(), nullable=False),
        sa.Column("monitoring_end", sa.BigInteger(), nullable=False),
        sa.Column("origin_registry", sa.String(8), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_issuances_project_id", "issuances", ["project_id"])
    op.create_table(
        "labels",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("authority", ADDRESS, nullable=False),
        sa.Column("defined_block", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "unit_blocks",
        _id("start"),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lock_id", sa.BigInteger(), nullable=False),
        sa.Column("issuance_id", sa.BigInteger(), nullable=False),
        sa.Column("labels", UINT256, nullable=False),
        sa.PrimaryKeyConstraint("start"),
    )
    op.create_index("ix_unit_blocks_account_state", "unit_blocks", ["account_id", "state"])
    op.create_index("ix_unit_blocks_state_lock", "unit_blocks", ["state", "lock_id"])
    op.create_index("ix_unit_blocks_issuance_id", "unit_blocks", ["issuance_id"])
    op.create_table(
        "transfers",
        _id(),
        sa.Column("from_account", sa.BigInteger(), nullable=False),
        sa.Column("to_account", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("initiator", ADDRESS, nullable=False),
        sa.Column("approver", ADDRESS, nullable=True),
        sa.Column("rescinded_by", ADDRESS, nullable=True),
        sa.Column("initiated_block", sa.BigInteger(), nullable=False),
        sa.Column("initiated_tx_hash", HASH, nullable=False),
        sa.Column("decided_block", sa.BigInteger(), nullable=True),
        sa.Column("decided_tx_hash", HASH, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_transfers_from_account", "transfers", ["from_account"])
    op.create_index("ix_transfers_to_account", "transfers", ["to_account"])
    op.create_table(
        "cancellations",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("beneficiary", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_cancellations_account_id", "cancellations", ["account_id"])
    op.create_table(
        "operation_ranges",
        _id("operation_id"),
        _id("start"),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("operation_id", "start"),
    )
    op.create_table(
        "label_changes",
        _id("block_number"),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("label_id", sa.SmallInteger(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    op.create_index("ix_label_changes_start", "label_changes", ["start"])
    op.create_table(
        "executed_requests",
        sa.Column("digest", HASH, nullable=False),
        sa.Column("signer", ADDRESS, nullable=False),
        sa.Column("nonce", UINT256, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_executed_requests_signer", "executed_requests", ["signer"])
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("block_hash", HASH, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("block_number", "log_index", name="uq_events_block_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_name", "events", ["name"])
    op.create_index("ix_events_tx_hash", "events", ["tx_hash"])
    op.create_table(
        "block_hashes",
        _id("number"),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("registry_address", ADDRESS, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop every mirror table."""
    for table in (
        "checkpoint",
        "block_hashes",
        "events",
        "executed_requests",
        "label_changes",
        "operation_ranges",
        "cancellations",
        "transfers",
        "unit_blocks",
        "labels",
        "issuances",
        "projects",
        "representatives",
        "accounts",
    ):
        op.drop_table(table)
