"""What the SDK hands back: requests, pages of a list, signed writes, and problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RegistryError", "Request", "SignedWrite", "TypedDataMismatch"]


class RegistryError(Exception):
    """The API answered with a problem (RFC 9457); `code` is its stable machine-readable name."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code", "HTTP_ERROR"))
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{status} {self.code}: {self.detail}")


class TypedDataMismatch(ValueError):
    """The typed data the API prepared is not what the intent asked for; nothing was signed."""


@dataclass(frozen=True)
class Request:
    """A signed write and what became of it (GET /v1/requests/{id}, or a submit's answer)."""

    request_id: str
    status: str
    operation: str | None = None
    signer: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Request:
        """Build a request from the API's JSON (a 202 answer carries only id and status)."""
        block = body.get("block_number")
        return cls(
            request_id=str(body["request_id"]),
            status=str(body["status"]),
            operation=body.get("operation"),
            signer=body.get("signer"),
            tx_hash=body.get("tx_hash"),
            block_number=None if block is None else int(block),
            error=body.get("error"),
            result=body.get("result"),
            raw=body,
        )

    @property
    def indexed(self) -> bool:
        """Whether the write is on-chain and in the mirror."""
        return self.status == "indexed"


@dataclass(frozen=True)
class SignedWrite:
    """Typed data checked and signed for one operation: resubmitting it is always safe, since
    the API answers a resubmission with the first request's id."""

    operation: str
    typed_data: dict[str, Any]
    signature: str
