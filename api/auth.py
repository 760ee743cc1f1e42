"""Bearer sessions from SIWE, and what each caller may read.

A caller's scope is computed per request from on-chain roles (registry administrator, issuer),
the mirror's representatives table and the view consents granted to the platforms it signs for,
so an appointment, a removal, a revoked consent or a suspension takes effect at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select
from sqlmodel import Session

from api.config import ApiSettings
from api.models import Session as BearerSession
from api.models import SiweNonce
from api.problems import Problem, refuse
from api.siwe import SiweError, parse_siwe, recover_siwe_signer
from indexer.models import (
    Article6PartyAdministrator,
    Consent,
    Platform,
    PlatformSigner,
    Representative,
    table_of,
)

__all__ = [
    "Caller",
    "PlatformScope",
    "administered_parties",
    "issue_nonce",
    "platform_scope",
    "represented_accounts",
    "resolve_token",
    "sign_in",
    "token_hash",
    "token_holder",
]

_NONCES = table_of(SiweNonce)
_SESSIONS = table_of(BearerSession)

# Clock skew tolerated between a wallet and the server for Issued At / Not Before.
_SKEW_SECONDS = 300


@dataclass(frozen=True)
class PlatformScope:
    """What the platforms an address signs for may read, by their active consents."""

    # Active platforms the address signs for, and suspended ones (which see nothing).
    active: frozenset[str] = frozenset()
    suspended: frozenset[str] = frozenset()
    # Account -> the (platform, scope) pairs its active consents grant those active platforms.
    consents: Mapping[int, frozenset[tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Caller:
    """An authenticated reader and what it may see."""

    address: str
    is_admin: bool = False
    accounts: frozenset[int] = field(default_factory=frozenset)  # accounts it represents
    platform: PlatformScope = field(default_factory=PlatformScope)
    parties: frozenset[str] = field(default_factory=frozenset)  # Party sections it administers

    def may_read(self, account_id: int, party: str | None = None) -> bool:
        """Return whether the caller may read an account (of a Party section) in private."""
        return (
            self.is_admin
            or account_id in self.accounts
            or (party is not None and party in self.parties)
        )

    def may_read_party(self, party: str) -> bool:
        """Return whether the caller may read a Party's section (A6): its administrators may."""
        return self.is_admin or party in self.parties

    def consented(self, account_id: int) -> frozenset[tuple[str, str]]:
        """Return the (platform, scope) pairs the caller reads an account by (none: no consent)."""
        return self.platform.consents.get(account_id, frozenset())

    @property
    def is_platform(self) -> bool:
        """Return whether the caller signs for a registered platform (active or suspended)."""
        return bool(self.platform.active or self.platform.suspended)


def issue_nonce(session: Session, settings: ApiSettings) -> str:
    """Create a single-use SIWE nonce."""
    nonce = secrets.token_hex(16)
    now = time.time()
    session.connection().execute(delete(_NONCES).where(_NONCES.c.expires_at < now))
    session.add(SiweNonce(nonce=nonce, expires_at=now + settings.siwe_nonce_ttl_seconds))
    session.commit()
    return nonce


def _siwe_failure(detail: str, code: str = "SIWE_INVALID") -> Problem:
    return Problem(401, code, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def sign_in(
    session: Session, settings: ApiSettings, chain_id: int, message: str, signature: str
) -> tuple[str, float, str]:
    """Check a signed SIWE message; return (bearer token, expiry as unix time, address)."""
    try:
        parsed = parse_siwe(message)
        signer = recover_siwe_signer(message, signature)
    except SiweError as exc:
        raise _siwe_failure(f"The SIWE message or signature is invalid: {exc}.") from exc
    now = time.time()
    if parsed.domain != settings.siwe_domain:
        raise _siwe_failure(
            f"The message is for domain {parsed.domain!r}; sign one for {settings.siwe_domain!r}.",
            "SIWE_WRONG_DOMAIN",
        )
    if parsed.chain_id != chain_id:
        raise _siwe_failure(
            f"The message names chain {parsed.chain_id}; this registry runs on chain {chain_id}.",
            "SIWE_WRONG_CHAIN",
        )
    if signer != parsed.address:
        raise _siwe_failure(
            f"The signature is by {signer}, not by the message's address {parsed.address}.",
            "INVALID_SIGNATURE",
        )
    if parsed.expiration_time is not None and parsed.expiration_time.timestamp() <= now:
        raise _siwe_failure("The SIWE message has expired; sign a new one.", "SIWE_EXPIRED")
    if parsed.not_before is not None and parsed.not_before.timestamp() > now + _SKEW_SECONDS:
        raise _siwe_failure("The SIWE message is not valid yet (Not Before).", "SIWE_NOT_YET_VALID")
    if parsed.issued_at.timestamp() > now + _SKEW_SECONDS:
        raise _siwe_failure("The SIWE message is issued in the future.", "SIWE_NOT_YET_VALID")
    # Using the nonce deletes it, so a message is accepted once; rowcount says if it was there.
    used = session.connection().execute(
        delete(_NONCES).where(_NONCES.c.nonce == parsed.nonce, _NONCES.c.expires_at >= now)
    )
    if used.rowcount != 1:
        session.rollback()
        raise _siwe_failure(
            "The SIWE nonce is unknown, expired or already used; ask POST /v1/auth/siwe/nonce "
            "for a new one.",
            "SIWE_NONCE_INVALID",
        )
    expires = now + settings.token_ttl_seconds
    if parsed.expiration_time is not None:
        expires = min(expires, parsed.expiration_time.timestamp())
    token = secrets.token_urlsafe(32)
    session.add(
        BearerSession(token_hash=token_hash(token), address=parsed.address, expires_at=expires)
    )
    session.commit()
    return token, expires, parsed.address


def resolve_token(session: Session, token: str) -> str:
    """Return the address a bearer token was issued to; raise a 401 problem if it is not valid."""
    return token_holder(session.connection(), token)[0]


def token_holder(conn: Connection, token: str) -> tuple[str, float]:
    """Return (address, expiry) of a valid bearer token; raise a 401 problem otherwise.

    A session row never changes once written (there is no sign-out), so a caller may keep the
    answer until the expiry it returns.
    """
    row = conn.execute(
        select(_SESSIONS.c.address, _SESSIONS.c.expires_at).where(
            _SESSIONS.c.token_hash == token_hash(token)
        )
    ).first()
    if row is None or row.expires_at <= time.time():
        raise refuse(
            "UNAUTHENTICATED",
            "The bearer token is unknown or expired; sign in again with SIWE.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return str(row.address), float(row.expires_at)


def represented_accounts(conn: Connection, address: str) -> frozenset[int]:
    """Return the accounts an address is an authorised representative of, per the mirror."""
    reps = table_of(Representative)
    rows = conn.execute(select(reps.c.account_id).where(reps.c.address == address))
    return frozenset(int(r[0]) for r in rows)


def platform_scope(conn: Connection, address: str) -> PlatformScope:
    """Return the platforms an address signs for and the consents their readers rely on."""
    signers, platforms, consents = (
        table_of(PlatformSigner),
        table_of(Platform),
        table_of(Consent),
    )
    rows = conn.execute(
        select(platforms.c.address, platforms.c.status)
        .join(signers, signers.c.platform == platforms.c.address)
        .where(signers.c.signer == address)
    ).all()
    if not rows:
        return PlatformScope()
    active = frozenset(r.address for r in rows if r.status == "active")
    suspended = frozenset(r.address for r in rows if r.status != "active")
    granted: defaultdict[int, set[tuple[str, str]]] = defaultdict(set)
    if active:
        for r in conn.execute(
            select(consents.c.account_id, consents.c.platform, consents.c.scope).where(
                consents.c.platform.in_(sorted(active)), consents.c.status == "active"
            )
        ):
            granted[int(r.account_id)].add((r.platform, r.scope))
    return PlatformScope(
        active, suspended, {account: frozenset(pairs) for account, pairs in granted.items()}
    )


def administered_parties(conn: Connection, address: str) -> frozenset[str]:
    """Return the Party sections an address administers, as the chain records them (A6)."""
    admins = table_of(Article6PartyAdministrator)
    rows = conn.execute(select(admins.c.party).where(admins.c.address == address))
    return frozenset(str(r[0]) for r in rows)


def iso(timestamp: float) -> str:
    """Return a unix time as an RFC 3339 UTC string."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def token_hash(token: str) -> str:
    """Return the digest a bearer token is stored and cached under (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()
