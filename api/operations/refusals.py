"""The domain's refusals: a request the registry's rules refuse, named as the contract names it.

Prechecks, record builders and the resolver raise `Refusal` with the name of the contract's
custom error the chain would revert with (`Refusal("SameAccount", ...)`), or, where no contract
error stands behind the refusal, the API's own stable code (`Refusal("INVALID_TYPED_DATA", ...)`).
Either way it carries the stable code from the error catalogue (`api.problems`); what HTTP status
that code has is decided only at the HTTP edge (`api.operations.edge.problem_of`).
"""

from __future__ import annotations

from typing import Any

from api.problems import API_CODES, CONTRACT_ERROR_CODES

__all__ = ["Refusal", "code_of"]


def code_of(error: str) -> str:
    """Return the stable code of a contract error's name, or of an API code (itself)."""
    if error in CONTRACT_ERROR_CODES:
        return CONTRACT_ERROR_CODES[error][0]
    if error in API_CODES or error in {code for code, _ in CONTRACT_ERROR_CODES.values()}:
        return error
    raise KeyError(f"{error} is neither a contract error nor a code of the error catalogue")


class Refusal(Exception):
    """A refused request: the contract error (or API code) it stands for, and what to do next."""

    def __init__(self, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.error = error
        self.code = code_of(error)
        self.detail = detail
        self.extra = extra
