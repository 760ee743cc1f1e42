"""Dependencies routes declare with `Annotated` aliases: the session, the services, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api.auth import (
    Caller,
    administered_parties,
    platform_scope,
    represented_accounts,
    resolve_token,
)
from api.problems import Problem, refuse
from api.services import Services

__all__ = [
    "CurrentCaller",
    "ServicesDep",
    "SessionDep",
]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /v1/auth/siwe/verify.")


def get_services(request: Request) -> Services:
    """Return the process's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """Yield a database session for one request."""
    with Session(services.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_caller(
    services: ServicesDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Return the authenticated caller and its read scope; 401 without a valid token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise refuse(
            "UNAUTHENTICATED",
            "This read needs `Authorization: Bearer <token>`; sign in with SIWE first.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    address = resolve_token(session, credentials.credentials)
    # NOTE: a caller's scope derives from the mirror (representatives, platform signers and
    # consents, Party administrators) and the chain's admin role: it can change only when the
    # mirror advances, so it is cached per address and indexed block (the role and consent
    # events that change it move the block), saving three to four statements per read.
    scopes = services.caller_scopes
    key = (address, services.indexed_block())
    cached: Caller | None = scopes.get(key)
    if cached is not None:
        return cached
    is_admin, known = _is_admin(services, address)
    caller = Caller(
        address=address,
        is_admin=is_admin,
        accounts=represented_accounts(session, address),
        platform=platform_scope(session, address),
        parties=administered_parties(session, address),
    )
    if known:
        if len(scopes) >= _MAX_SCOPES:
            scopes.clear()
        scopes[key] = caller
    return caller


_MAX_SCOPES = 10_000


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
