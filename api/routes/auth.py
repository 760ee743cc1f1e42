"""SIWE sign-in (EIP-4361): a nonce, then a signed message for a bearer token (API.md, stable)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import iso, issue_nonce, sign_in
from api.deps import ServicesDep, SessionDep

router = APIRouter(prefix="/auth/siwe", tags=["auth"])


class NonceOut(BaseModel):
    """A single-use nonce to put in the SIWE message."""

    nonce: str


class VerifyIn(BaseModel):
    """A signed EIP-4361 message."""

    message: str = Field(max_length=4096, examples=["127.0.0.1:8000 wants you to sign in ..."])
    signature: str = Field(max_length=200, examples=["0x" + "ab" * 65])


class TokenOut(BaseModel):
    """A bearer token for reads."""

    access_token: str
    token_type: str = "bearer"
    expires_at: str
    address: str


@router.post("/nonce", response_model=NonceOut)
def nonce(services: ServicesDep, session: SessionDep) -> NonceOut:
    """Hand out a single-use nonce for a SIWE message."""
    return NonceOut(nonce=issue_nonce(session, services.settings))


@router.post("/verify", response_model=TokenOut)
def verify(body: VerifyIn, services: ServicesDep, session: SessionDep) -> TokenOut:
    """Check a personal_sign-ed SIWE message and return a bearer token for its address."""
    token, expires, address = sign_in(
        session, services.settings, services.deployment.chain_id, body.message, body.signature
    )
    return TokenOut(access_token=token, expires_at=iso(expires), address=address)
