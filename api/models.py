"""The API's own tables: the request journal, SIWE nonces, bearer sessions and webhooks.

They live in the mirror's database but on their own metadata and migration history
(`api/migrations`, version table `api_alembic_version`), so the indexer never sees them and a
mirror rebuild never touches them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from indexer.models import Uint256

__all__ = [
    "ApiTable",
    "DeliveryStatus",
    "JournalEntry",
    "Lease",
    "NonceCursor",
    "RequestStatus",
    "Session",
    "SiweNonce",
    "WebhookAttempt",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookSubscription",
]

_ADDRESS = 42
_HASH = 66


class ApiTable(SQLModel, registry=registry()):
    """Base of the API's tables: a metadata of their own, apart from the mirror's."""


class RequestStatus:
    """The life of a journaled request (API.md: accepted -> submitted -> confirmed -> indexed)."""

    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    INDEXED = "indexed"
    FAILED = "failed"

    OPEN = (ACCEPTED, SUBMITTED, CONFIRMED)


class JournalEntry(ApiTable, table=True):
    """A signed request the API acknowledged: kept until it is applied exactly once, or failed.

    The request id is the EIP-712 digest, the value the contract logs in `RequestExecuted`, so a
    resubmission of the same signed request finds its entry, and an auditor can follow a request
    from the API to the chain.
    """

    __tablename__ = "api_requests"
    __table_args__ = (
        Index("ix_api_requests_status_seq", "status", "seq"),
        Index("ix_api_requests_units_account_status", "units_account", "status"),
        # Submit's nonce check: a keyed lookup, whatever the signer's backlog.
        Index("ix_api_requests_signer_nonce", "signer", "nonce"),
        {"sqlite_autoincrement": True},
    )

    # Acceptance order, so requests are relayed first come, first served.
    seq: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        sa_column_kwargs={"autoincrement": True},
    )
    request_id: str = Field(sa_type=String(_HASH), unique=True)
    operation: str = Field(sa_type=String(64))
    primary_type: str = Field(sa_type=String(32))
    signer: str = Field(sa_type=String(_ADDRESS), index=True)
    nonce: int = Field(sa_type=Uint256)
    typed_data: dict[str, Any] = Field(sa_type=JSON)
    signature: str = Field(sa_type=String(140))
    # The account whose units the request takes (a transfer's source, a cancellation's account):
    # prepare by quantity skips the ranges of its open requests (api.intents).
    units_account: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(sa_type=String(16))
    tx_hash: str | None = Field(default=None, sa_type=String(_HASH))
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    error: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    attempts: int = 0
    accepted_at: float
    updated_at: float


class NonceCursor(ApiTable, table=True):
    """Where `prepare` hands out a signer's next unordered nonce (decision D33).

    `next_sequence` counts up through the signer's bitmap words: sequence s is the nonce
    `2^255 | s`, bit `s & 255` of word `s >> 8`. Every prepare takes a sequence of its own with a
    compare-and-set on this row, so concurrent prepares (in any API process) never share a nonce.
    """

    __tablename__ = "api_nonce_cursors"

    signer: str = Field(primary_key=True, sa_type=String(_ADDRESS))
    next_sequence: int = Field(sa_type=BigInteger)


class Lease(ApiTable, table=True):
    """A role only one process of a registry may hold at a time (the relayer): who, until when.

    The holder renews `expires_at` well before it passes; another process takes the row only once
    it has expired (decision D40).
    """

    __tablename__ = "api_leases"

    name: str = Field(primary_key=True, sa_type=String(32))
    holder: str = Field(sa_type=String(128))
    expires_at: float


class SiweNonce(ApiTable, table=True):
    """A SIWE nonce handed out and not yet used; using it deletes it."""

    __tablename__ = "api_siwe_nonces"

    nonce: str = Field(primary_key=True, sa_type=String(64))
    expires_at: float


class Session(ApiTable, table=True):
    """A bearer token issued after SIWE; only its SHA-256 is stored."""

    __tablename__ = "api_sessions"

    token_hash: str = Field(primary_key=True, sa_type=String(64))
    address: str = Field(sa_type=String(_ADDRESS), index=True)
    expires_at: float


# -- webhooks (decisions D22, D23) ------------------------------------------------------------

_BIGINT_KEY = BigInteger().with_variant(Integer(), "sqlite")


class WebhookSubscription(ApiTable, table=True):
    """Where a platform wants the registry events that concern it delivered.

    The secret signs every delivery (Standard Webhooks, HMAC-SHA256), so it is stored as issued;
    it is shown once, in the answer that creates the subscription.
    """

    __tablename__ = "api_webhook_subscriptions"

    id: str = Field(primary_key=True, sa_type=String(32))  # sub_ + 24 hex digits
    platform: str = Field(sa_type=String(_ADDRESS), index=True)
    url: str = Field(sa_type=String(2048))
    event_types: list[str] | None = Field(default=None, sa_type=JSON)  # None: every type
    secret: str = Field(sa_type=String(64))
    created_by: str = Field(sa_type=String(_ADDRESS))
    created_at: float
    # Events with a greater id are routed to it: those indexed after it was created.
    after_event_id: int = Field(sa_type=BigInteger)
    deleted_at: float | None = None


class WebhookCursor(ApiTable, table=True):
    """The one row saying up to which mirror event the outbox has been filled."""

    __tablename__ = "api_webhook_cursor"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    event_id: int = Field(sa_type=BigInteger)


class DeliveryStatus:
    """The life of an outbox row: pending until delivered, failed, cancelled or orphaned."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt allowed was made
    CANCELLED = "cancelled"  # its subscription was deleted first
    ORPHANED = "orphaned"  # a chain reorganisation removed its event first

    ALL = (PENDING, DELIVERED, FAILED, CANCELLED, ORPHANED)


class WebhookDelivery(ApiTable, table=True):
    """One event to deliver to one subscription: the transactional outbox.

    The body is stored as it is sent, so every attempt carries the same bytes, and
    `webhook_id` is the same for every attempt, so a receiver can drop repeats.
    """

    __tablename__ = "api_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_api_webhook_deliveries_event"),
        Index("ix_api_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_api_webhook_deliveries_platform", "platform", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=_BIGINT_KEY,
        sa_column_kwargs={"autoincrement": True},
    )
    webhook_id: str = Field(sa_type=String(64), unique=True)
    subscription_id: str = Field(sa_type=String(32), index=True)
    platform: str = Field(sa_type=String(_ADDRESS))
    event_id: int = Field(sa_type=BigInteger)
    event_type: str = Field(sa_type=String(64))
    block_number: int = Field(sa_type=BigInteger)
    payload: str = Field(sa_type=Text)
    status: str = Field(sa_type=String(16))
    attempts: int = 0
    next_attempt_at: float
    created_at: float
    last_attempt_at: float | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=String(500))
    delivered_at: float | None = None


class WebhookAttempt(ApiTable, table=True):
    """One attempt to deliver an outbox row: when, how long, and the answer or the error."""

    __tablename__ = "api_webhook_attempts"
    __table_args__ = (
        Index("ix_api_webhook_attempts_delivery", "delivery_id", "attempt"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=_BIGINT_KEY,
        sa_column_kwargs={"autoincrement": True},
    )
    delivery_id: int = Field(sa_type=BigInteger)
    attempt: int
    attempted_at: float
    duration_ms: float
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=String(500))
