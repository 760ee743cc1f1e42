"""Dependencies routes declare with `Annotated` aliases: the session, the services, the caller.

The dependencies that do no I/O are `async def`, so FastAPI runs them on the event loop instead
of handing each to the thread pool; a read's one hop to a thread is its database work.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, select
from sqlmodel import Session

from api.auth import (
    Caller,
    administered_parties,
    platform_scope,
    represented_accounts,
    token_hash,
    token_holder,
)
from api.problems import Problem, refuse
from api.services import Services
from indexer.models import Checkpoint, table_of

__all__ = [
    "CurrentCaller",
    "ReaderDep",
    "ServicesDep",
    "SessionDep",
    "caller_scope",
]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /v1/auth/siwe/verify.")
_CHECKPOINT = table_of(Checkpoint)


async def get_services(request: Request) -> Services:
    """Return the process's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """Yield a database session for one request."""
    with Session(services.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_reader(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Return the address a request's bearer token was issued to; 401 without a valid token.

    NOTE: a session row never changes (there is no sign-out), so each process keeps a token's
    address until the token expires and looks it up once, not on every read.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise refuse(
            "UNAUTHENTICATED",
            "This read needs `Authorization: Bearer <token>`; sign in with SIWE first.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    digest = token_hash(credentials.credentials)
    tokens = services.bearer_tokens
    known = tokens.get(digest)
    if known is not None and known[1] > time.time():
        return known[0]
    address, expires = await run_in_threadpool(_look_up, services, credentials.credentials)
    if len(tokens) >= _MAX_CACHED:
        tokens.clear()
    tokens[digest] = (address, expires)
    return address


def _look_up(services: Services, token: str) -> tuple[str, float]:
    with services.engine.connect() as conn:
        return token_holder(conn, token)


ReaderDep = Annotated[str, Depends(get_reader)]


def get_caller(services: ServicesDep, address: ReaderDep) -> Caller:
    """Return the authenticated caller and its read scope; 401 without a valid token."""
    with services.engine.connect() as conn:
        value = conn.execute(
            select(_CHECKPOINT.c.block_number).where(_CHECKPOINT.c.id == 1)
        ).scalar()
        return caller_scope(services, conn, address, -1 if value is None else int(value))


def caller_scope(services: Services, conn: Connection, address: str, block: int) -> Caller:
    """Return a caller's read scope as the mirror holds it at `block`, read through `conn`.

    NOTE: a caller's scope derives from the mirror (representatives, platform signers and
    consents, Party administrators) and the chain's admin role: it can change only when the
    mirror advances, so it is cached per address and indexed block (the role and consent
    events that change it move the block), saving three to four statements per read. A read
    passes its own snapshot's connection and block, so the scope is the one its rows are of.
    """
    scopes = services.caller_scopes
    key = (address, block)
    cached: Caller | None = scopes.get(key)
    if cached is not None:
        return cached
    is_admin, known = _is_admin(services, address)
    caller = Caller(
        address=address,
        is_admin=is_admin,
        accounts=represented_accounts(conn, address),
        platform=platform_scope(conn, address),
        parties=administered_parties(conn, address),
    )
    if known:
        if len(scopes) >= _MAX_CACHED:
            scopes.clear()
        scopes[key] = caller
    return caller


_MAX_CACHED = 10_000


def _is_admin(services: Services, address: str) -> tuple[bool, bool]:
    """Return whether the caller administers the registry (the chain's answer, cached), and
    whether that is known (False while the chain is away and nothing is cached).

    NOTE: while the chain is away and the answer is not cached, the caller reads with the
    narrower scope of a non-administrator rather than not at all: reads come from the mirror.
    """
    try:
        return services.chain.has_role("registry_admin", address), True
    except Problem as problem:
        if problem.code != "CHAIN_UNAVAILABLE":
            raise
        return False, False


CurrentCaller = Annotated[Caller, Depends(get_caller)]
