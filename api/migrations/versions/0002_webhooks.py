"""Webhooks: subscriptions, the outbox cursor, the outbox (deliveries) and its attempt log.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models, so this revision keeps creating the same
# schema whatever the models become later.
BIGINT_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "api_webhook_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=42), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=True),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=42), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("after_event_id", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_webhook_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_webhook_subscriptions_platform"), ["platform"], unique=False
        )

    op.create_table(
        "api_webhook_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # NOTE: the outbox starts at the mirror's newest event: no subscription exists yet, so
    # nothing earlier could be routed anywhere.
    op.execute(
        "INSERT INTO api_webhook_cursor (id, event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events"
    )

    op.create_table(
        "api_webhook_deliveries",
        sa.Column("id", BIGINT_KEY, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=42), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_attempt_at", sa.Float(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_api_webhook_deliveries_event"),
        sa.UniqueConstraint("webhook_id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("api_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_api_webhook_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_api_webhook_deliveries_platform", ["platform", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_api_webhook_deliveries_subscription_id"),
            ["subscription_id"],
            unique=False,
        )

    op.create_table(
        "api_webhook_attempts",
        sa.Column("id", BIGINT_KEY, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("api_webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_api_webhook_attempts_delivery", ["delivery_id", "attempt"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("api_webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_api_webhook_attempts_delivery")
    op.drop_table("api_webhook_attempts")
    with op.batch_alter_table("api_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_webhook_deliveries_subscription_id"))
        batch_op.drop_index("ix_api_webhook_deliveries_platform")
        batch_op.drop_index("ix_api_webhook_deliveries_due")
    op.drop_table("api_webhook_deliveries")
    op.drop_table("api_webhook_cursor")
    with op.batch_alter_table("api_webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_webhook_subscriptions_platform"))
    op.drop_table("api_webhook_subscriptions")
