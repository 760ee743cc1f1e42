"""Platform models (CER Class B) and third-party certificates (Class C): platforms and their
signers, view consents, reservations, escrows and associations.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from indexer.models (see 0001).
HASH = sa.String(66)
ADDRESS = sa.String(42)


def _id(name: str = "id") -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), autoincrement=False, nullable=False)


def _steps(created: str) -> list[sa.Column[Any]]:
    """Return who/where columns of the step that created a row and the one that closed it."""
    return [
        sa.Column(f"{created}_by", ADDRESS, nullable=False),
        sa.Column(f"{created}_block", sa.BigInteger(), nullable=False),
        sa.Column(f"{created}_tx_hash", HASH, nullable=False),
    ]


def _closing(closed: str) -> list[sa.Column[Any]]:
    return [
        sa.Column(f"{closed}_by", ADDRESS, nullable=True),
        sa.Column(f"{closed}_block", sa.BigInteger(), nullable=True),
        sa.Column(f"{closed}_tx_hash", HASH, nullable=True),
    ]


def upgrade() -> None:
    """Create the platform-model tables."""
    op.create_table(
        "platforms",
        sa.Column("address", ADDRESS, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("custodial_account_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("registered_tx_hash", HASH, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "platform_signers",
        sa.Column("platform", ADDRESS, nullable=False),
        sa.Column("signer", ADDRESS, nullable=False),
        sa.Column("added_block", sa.BigInteger(), nullable=False),
        sa.Column("added_tx_hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("platform", "signer"),
    )
    op.create_index("ix_platform_signers_signer", "platform_signers", ["signer"])
    op.create_table(
        "consents",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("platform", ADDRESS, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *_steps("granted"),
        *_closing("revoked"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consents_account_id", "consents", ["account_id"])
    op.create_index("ix_consents_platform", "consents", ["platform"])
    for table in ("reservations", "escrows"):
        op.create_table(
            table,
            _id(),
            sa.Column("account_id", sa.BigInteger(), nullable=False),
            sa.Column("platform", ADDRESS, nullable=False),
            sa.Column("quantity", sa.BigInteger(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("to_account", sa.BigInteger(), nullable=True),
            *_steps("created"),
            *_closing("closed"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(f"ix_{table}_account_id", table, ["account_id"])
        op.create_index(f"ix_{table}_platform", table, ["platform"])
    op.create_table(
        "associations",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("third_party_registry", ADDRESS, nullable=False),
        sa.Column("certificate_id", sa.String(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancellation_id", sa.BigInteger(), nullable=True),
        *_steps("created"),
        *_closing("closed"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_associations_account_id", "associations", ["account_id"])
    op.create_index(
        "ix_associations_third_party_registry", "associations", ["third_party_registry"]
    )


def downgrade() -> None:
    """Drop the platform-model tables."""
    for table in (
        "associations",
        "escrows",
        "reservations",
        "consents",
        "platform_signers",
        "platforms",
    ):
        op.drop_table(table)
