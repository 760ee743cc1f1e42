"""Account transactions: one row per operation with the accounts it touched and its signer.

Revision ID: 0005
Revises: 0004

A mirror that already holds events gets the table filled from the operation tables (and, for
the signer of issuances and cancellations, from the raw events once, here), so it equals what
the reducer writes without a rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from indexer.models (see 0001).
HASH = sa.String(66)
ADDRESS = sa.String(42)

_COLUMNS = (
    "type, operation_id, status, from_account, to_account, quantity, initiated_by, approved_by, "
    "rescinded_by, decided_by, tx_hash, block_number, decided_tx_hash, decided_block_number, "
    "platform, reference, range_start, range_end"
)

# Each operation table's rows as account transactions, columns in `_COLUMNS` order.
_BACKFILL = (
    "SELECT 'transfer', id, status, from_account, to_account, quantity, initiator, approver, "
    "rescinded_by, COALESCE(approver, rescinded_by), initiated_tx_hash, initiated_block, "
    "decided_tx_hash, decided_block, NULL, NULL, NULL, NULL FROM transfers",
    "SELECT 'issuance', id, 'completed', NULL, account_id, quantity, NULL, NULL, NULL, NULL, "
    'tx_hash, block_number, NULL, NULL, NULL, NULL, start, "end" FROM issuances',
    "SELECT 'cancellation', id, 'completed', account_id, NULL, quantity, NULL, NULL, NULL, NULL, "
    "tx_hash, block_number, NULL, NULL, NULL, NULL, NULL, NULL FROM cancellations",
    "SELECT 'reservation', id, status, account_id, to_account, quantity, created_by, NULL, NULL, "
    "closed_by, created_tx_hash, created_block, closed_tx_hash, closed_block, platform, NULL, "
    "NULL, NULL FROM reservations",
    "SELECT 'escrow', id, status, account_id, to_account, quantity, created_by, NULL, NULL, "
    "closed_by, created_tx_hash, created_block, closed_tx_hash, closed_block, platform, NULL, "
    "NULL, NULL FROM escrows",
    "SELECT 'association', id, status, account_id, NULL, quantity, created_by, NULL, NULL, "
    "closed_by, created_tx_hash, created_block, closed_tx_hash, closed_block, "
    "third_party_registry, certificate_id, NULL, NULL FROM associations",
)


def upgrade() -> None:
    """Create `account_transactions` and fill it from what the mirror already holds."""
    op.create_table(
        "account_transactions",
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("operation_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("from_account", sa.BigInteger(), nullable=True),
        sa.Column("to_account", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("initiated_by", ADDRESS, nullable=True),
        sa.Column("approved_by", ADDRESS, nullable=True),
        sa.Column("rescinded_by", ADDRESS, nullable=True),
        sa.Column("decided_by", ADDRESS, nullable=True),
        sa.Column("tx_hash", HASH, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("decided_tx_hash", HASH, nullable=True),
        sa.Column("decided_block_number", sa.BigInteger(), nullable=True),
        sa.Column("platform", ADDRESS, nullable=True),
        sa.Column("reference", sa.String(), nullable=True),
        sa.Column("range_start", sa.BigInteger(), nullable=True),
        sa.Column("range_end", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("type", "operation_id"),
    )
    op.create_index(
        "ix_account_transactions_from_account", "account_transactions", ["from_account"]
    )
    op.create_index("ix_account_transactions_to_account", "account_transactions", ["to_account"])
    bind = op.get_bind()
    for select in _BACKFILL:
        bind.execute(sa.text(f"INSERT INTO account_transactions ({_COLUMNS}) {select}"))
    _backfill_signers(bind)


def _backfill_signers(bind: sa.Connection) -> None:
    """Set who signed each issuance and cancellation: the last RequestExecuted before it in its
    transaction (a request's events start with its RequestExecuted)."""
    events = sa.table(
        "events",
        sa.column("block_number", sa.BigInteger()),
        sa.column("log_index", sa.Integer()),
        sa.column("tx_hash", HASH),
        sa.column("name", sa.String()),
        sa.column("data", sa.JSON()),
    )
    rows = bind.execute(
        sa.select(events.c.tx_hash, events.c.name, events.c.data)
        .where(events.c.name.in_(("RequestExecuted", "UnitsIssued", "UnitsCancelled")))
        .order_by(events.c.block_number, events.c.log_index)
    )
    current: dict[str, str] = {}
    signed: list[dict[str, object]] = []
    for tx_hash, name, data in rows:
        if name == "RequestExecuted":
            current[tx_hash] = data["signer"]
        elif tx_hash in current and name == "UnitsIssued":
            signed.append({"s": current[tx_hash], "t": "issuance", "i": data["issuanceId"]})
        elif tx_hash in current:
            signed.append({"s": current[tx_hash], "t": "cancellation", "i": data["cancellationId"]})
    if signed:
        bind.execute(
            sa.text(
                "UPDATE account_transactions SET initiated_by = :s "
                "WHERE type = :t AND operation_id = :i"
            ),
            signed,
        )


def downgrade() -> None:
    """Drop `account_transactions`."""
    op.drop_table("account_transactions")
