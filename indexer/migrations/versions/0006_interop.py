"""Inter-registry transfers: peers, transfers in and out, their messages and imported serials.

Revision ID: 0006
Revises: 0005

The interop module is new with these tables, so a mirror upgraded to them holds none of its
events yet: the reducer fills them from the first `PeerSet` on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from indexer.models (see 0001).
HASH = sa.String(66)
ADDRESS = sa.String(42)
CODE = sa.String(8)


def upgrade() -> None:
    """Create the four interop tables."""
    op.create_table(
        "interop_peers",
        sa.Column("registry_code", CODE, nullable=False),
        sa.Column("operator_address", ADDRESS, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("registry_address", ADDRESS, nullable=False),
        sa.Column("api_url", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("registry_code"),
    )
    op.create_table(
        "interop_transfers",
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("peer_registry", CODE, nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("from_account", sa.BigInteger(), nullable=True),
        sa.Column("to_account", sa.BigInteger(), nullable=True),
        sa.Column("initiator", ADDRESS, nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.Column("proposal_digest", HASH, nullable=True),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Integer(), nullable=True),
        sa.Column("answer_digest", HASH, nullable=True),
        sa.PrimaryKeyConstraint("direction", "peer_registry", "transfer_id"),
    )
    op.create_table(
        "interop_messages",
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("peer_registry", CODE, nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", HASH, nullable=True),
        sa.Column("signer", ADDRESS, nullable=True),
        sa.Column("signature", sa.String(), nullable=True),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    op.create_index("ix_interop_messages_direction", "interop_messages", ["direction"])
    op.create_index("ix_interop_messages_transfer_id", "interop_messages", ["transfer_id"])
    op.create_table(
        "interop_imports",
        sa.Column("source_registry", CODE, nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("origin_start", sa.BigInteger(), nullable=False),
        sa.Column("origin_end", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source_registry", "transfer_id", "start"),
    )


def downgrade() -> None:
    """Drop the interop tables."""
    for table in ("interop_imports", "interop_messages", "interop_transfers", "interop_peers"):
        op.drop_table(table)
