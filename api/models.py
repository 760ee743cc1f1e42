"""The API's own tables: the request journal, SIWE nonces and bearer sessions.

They live in the mirror's database but on their own metadata and migration history
(`api/migrations`, version table `api_alembic_version`), so the indexer never sees them and a
mirror rebuild never touches them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from indexer.models import Uint256

__all__ = ["ApiTable", "JournalEntry", "RequestStatus", "Session", "SiweNonce"]

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
    status: str = Field(sa_type=String(16))
    tx_hash: str | None = Field(default=None, sa_type=String(_HASH))
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    error: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    attempts: int = 0
    accepted_at: float
    updated_at: float


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
