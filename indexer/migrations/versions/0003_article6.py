"""Article 6: Parties and their administrators, cooperative approaches, authorizations, actions.

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

# Spelled out rather than imported from indexer.models (see 0001).
HASH = sa.String(66)
ADDRESS = sa.String(42)


def _id(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), autoincrement=False, nullable=False)


def upgrade() -> None:
    """Create the Article 6 mirror tables."""
    op.create_table(
        "article6_parties",
        sa.Column("party", sa.String(8), nullable=False),
        sa.Column("registry_id", sa.String(8), nullable=False),
        sa.Column("label_authority", ADDRESS, nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("party"),
    )
    op.create_table(
        "article6_party_administrators",
        sa.Column("party", sa.String(8), nullable=False),
        sa.Column("address", ADDRESS, nullable=False),
        sa.PrimaryKeyConstraint("party", "address"),
    )
    op.create_index(
        "ix_article6_party_administrators_address", "article6_party_administrators", ["address"]
    )
    op.create_table(
        "article6_approaches",
        sa.Column("approach_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("approach_id"),
    )
    op.create_table(
        "article6_approach_parties",
        sa.Column("approach_id", sa.String(32), nullable=False),
        sa.Column("party", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("approach_id", "party"),
    )
    op.create_table(
        "article6_authorizations",
        _id("id"),
        sa.Column("party", sa.String(8), nullable=False),
        sa.Column("approach_id", sa.String(32), nullable=False),
        sa.Column("letter_id", sa.String(32), nullable=False),
        sa.Column("purposes", sa.String(16), nullable=False),
        sa.Column("first_transfer_definition", sa.String(32), nullable=False),
        sa.Column("authorized_at", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_article6_authorizations_party", "article6_authorizations", ["party"])
    op.create_table(
        "article6_actions",
        _id("block_number"),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("operation_id", sa.BigInteger(), nullable=False),
        sa.Column("authorization_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("party", sa.String(8), nullable=False),
        sa.Column("counterparty", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    op.create_index(
        "ix_article6_actions_party_block", "article6_actions", ["party", "block_number"]
    )
    op.create_index(
        "ix_article6_actions_authorization_id", "article6_actions", ["authorization_id"]
    )
    op.create_table(
        "article6_itmo_transfers",
        _id("transfer_id"),
        sa.Column("authorization_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("transfer_id"),
    )
    op.create_table(
        "article6_config",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ndc_label", sa.SmallInteger(), nullable=True),
        sa.Column("oimp_label", sa.SmallInteger(), nullable=True),
        sa.Column("first_transferred_label", sa.SmallInteger(), nullable=True),
        sa.Column("pending_account", sa.BigInteger(), nullable=True),
        sa.Column("holding_account", sa.BigInteger(), nullable=True),
        sa.Column("cancellation_account", sa.BigInteger(), nullable=True),
        sa.Column("omge_cancellation_account", sa.BigInteger(), nullable=True),
        sa.Column("share_of_proceeds_account", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "article64_issuances",
        _id("issuance_id"),
        sa.Column("cancellation_id", sa.BigInteger(), nullable=False),
        sa.Column("pending_account", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("share_of_proceeds", sa.BigInteger(), nullable=False),
        sa.Column("omge", sa.BigInteger(), nullable=False),
        sa.Column("forwarded", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("issuance_id"),
    )
    op.create_table(
        "article64_parts",
        _id("issuance_id"),
        _id("start"),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("share", sa.String(32), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuance_id", "start"),
    )


def downgrade() -> None:
    """Drop the Article 6 mirror tables."""
    for table in (
        "article64_parts",
        "article64_issuances",
        "article6_config",
        "article6_itmo_transfers",
        "article6_actions",
        "article6_authorizations",
        "article6_approach_parties",
        "article6_approaches",
        "article6_party_administrators",
        "article6_parties",
    ):
        op.drop_table(table)
