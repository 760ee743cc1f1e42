"""The OpenAPI document as the server behaves: every error is problem+json, and each route
declares the statuses it can answer with.

FastAPI declares a JSON `422` with its own validation schema on every route, although the
handlers in `api.app` answer every error as RFC 9457 problem+json. This rewrites those
declarations and adds the others a route can meet: malformed or oversized bodies, missing or
refused credentials, rate limits, and the mirror's wait bound. Tags get descriptions, and each
write's summary comes from the operations catalogue, and its errors, status by status, from its
operation record and the error catalogue (`_write_errors`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.operations.catalogue import Operation
from api.operations.catalogue import operation as operation_record
from api.operations.edge import OPERATION_KEY, errors_of
from api.problems import STATUS_OF

__all__ = ["install_openapi"]

PROBLEM_JSON = "application/problem+json"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem. `code` is stable: integrators branch on it.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong and what to do next."},
        "code": {"type": "string", "enum": sorted(STATUS_OF), "example": "UNITS_NOT_HELD"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For INVALID_REQUEST: each field refused, with why.",
            "items": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "contract_error": {
            "type": "object",
            "description": "For a refusal decoded from the chain: the custom error and its values.",
        },
    },
}

_TAGS: dict[str, str] = {
    "discovery": "Health and the deployment: chain id, contracts, the EIP-712 domain.",
    "auth": "Sign-In with Ethereum (EIP-4361) for reads: a nonce, then a signed message.",
    "accounts": "An AR's accounts, balances, holdings and transactions (SIWE).",
    "registers": "Public registers: projects, issuances, units by serial, labels. No token.",
    "requests": "What became of a signed write: accepted, submitted, confirmed, indexed, failed.",
    "writes": "Signed writes: `POST …/prepare` an intent, sign its EIP-712 typed data, `POST` it.",
    "admin": "The registry administrator's and issuers' writes.",
    "transfers": "Two-step transfers: initiate, approve (another AR), rescind.",
    "cancellations": "Cancellation with purpose, beneficiary and reason: terminal.",
    "labels": "Unit-level eligibility labels, applied by the label's authority.",
    "platforms": "Trading platforms (CER Class B): registration, signers, status.",
    "consents": "An account holder's consents to a platform (B.1).",
    "reservations": "Reserved units a platform may see and settle into custody (B.4).",
    "escrows": "Escrow controlled by a platform (B.5).",
    "associations": "Units associated 1:1 with a third-party certificate (C.1).",
    "article6": "Paris Agreement Article 6: Parties, approaches, ITMOs, the AEF, signed pulls.",
    "events": "The ordered feed of registry events (the administrator's).",
    "webhooks": "Signed webhook subscriptions and their delivery log (platforms).",
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _errors(method: str, path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the problems a route can answer with, by status."""
    errors = {"422": _problem("The request is invalid: see `code` and `errors`.")}
    has_body = "requestBody" in operation
    if has_body:
        errors["400"] = _problem("MALFORMED_JSON, or JSON_TOO_DEEP (nested over 32 levels).")
        errors["413"] = _problem("PAYLOAD_TOO_LARGE: over this route's body limit.")
    secured = bool(operation.get("security"))
    if secured:
        errors["401"] = _problem("UNAUTHENTICATED: sign in with SIWE and send the bearer token.")
        errors["403"] = _problem("NOT_AUTHORISED, CONSENT_REQUIRED or PLATFORM_SUSPENDED.")
    if "{" in path:
        errors["404"] = _problem("The resource named in the path does not exist, or is not yours.")
    if method == "get":
        errors["503"] = _problem("BLOCK_NOT_INDEXED: `min_block` not reached within the wait.")
    if method == "post" and path.endswith("/prepare"):
        errors["403"] = _problem("NOT_AUTHORISED: the signer lacks the right or role.")
        errors["404"] = _problem("An account, project, transfer or lock named does not exist.")
        errors["409"] = _problem(
            "The mirror shows the request cannot succeed, e.g. UNITS_NOT_HELD."
        )
    elif method == "post" and operation.get("responses", {}).get("202"):
        errors["403"] = _problem("NOT_AUTHORISED: the signer lacks the right or role.")
        errors["404"] = _problem("An account, project, transfer or lock named does not exist.")
        errors["409"] = _problem("NONCE_USED, UNITS_NOT_HELD and other refusals before journaling.")
        errors["429"] = _problem("RATE_LIMITED: too many writes from this signer; see Retry-After.")
    return errors


_REFUSALS = {"403", "404", "409", "429"}
_STATUS_TEXT = {
    400: "The body cannot be read",
    403: "The signer may not",
    404: "Something the request names does not exist",
    409: "The registry's state refuses the request",
    413: "The body is too large",
    422: "The request is invalid",
    429: "Too many writes from this signer; see Retry-After",
    503: "The chain cannot be reached",
}


def _write_errors(record: Operation, *, submit: bool) -> dict[str, dict[str, Any]]:
    """Return the problems a write's prepare or submit route can answer with, by status: the
    codes its operation record declares and every write's own, each under its catalogue status.
    """
    errors: dict[str, dict[str, Any]] = {}
    for status, codes in errors_of(record, submit=submit).items():
        listed = ", ".join(f"`{code}`" for code in codes)
        lead = _STATUS_TEXT.get(status, "Refused")
        errors[str(status)] = _problem(f"{lead}. `code` is one of: {listed}.")
    return errors


def _records(spec: dict[str, Any]) -> dict[tuple[str, str], tuple[Operation, bool]]:
    """Return the operation record of each write route, and whether the route is its submit.

    Routes served from a record name it (`OPERATION_KEY`, removed here); a hand-written prepare
    route is its submit route's path with `/prepare`.
    """
    found: dict[tuple[str, str], tuple[Operation, bool]] = {}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            name = operation.pop(OPERATION_KEY, None)
            if name is not None:
                found[(path, method)] = (operation_record(name), not path.endswith("/prepare"))
    for path, item in spec.get("paths", {}).items():
        submit = found.get((path.removesuffix("/prepare"), "post"))
        if path.endswith("/prepare") and "post" in item and submit is not None:
            found.setdefault((path, "post"), (submit[0], False))
    return found


def _summarise(operation: dict[str, Any]) -> None:
    """Use the handler's written first sentence as the summary, not its function name.

    FastAPI titles a route without an explicit summary after its function ("Prepare Transfer");
    every handler's docstring opens with a sentence written for readers, which says more.
    """
    description = str(operation.get("description", "")).strip()
    if not description or not _looks_generated(operation):
        return
    first = description.split("\n\n")[0].replace("\n", " ")
    sentence = first.split(". ")[0].rstrip(".")
    operation["summary"] = sentence if len(sentence) <= 90 else sentence[:87].rstrip() + "..."


def _looks_generated(operation: dict[str, Any]) -> bool:
    # FastAPI's own summary is the function name, title-cased, with spaces for underscores.
    name = str(operation.get("operationId", "")).split("_v1_")[0].split("__")[0]
    return str(operation.get("summary", "")).lower() == name.replace("_", " ").lower()


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` describe errors as the server sends them; cache the document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            separate_input_output_schemas=app.separate_input_output_schemas,
        )
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Problem"] = _PROBLEM_SCHEMA
        writes = _records(spec)
        for path, item in spec.get("paths", {}).items():
            for method, operation in item.items():
                _summarise(operation)
                responses = operation.setdefault("responses", {})
                generic = _errors(method, path, operation)
                if (path, method) in writes:
                    # A write's refusals are its record's, not the generic guess.
                    record, submit = writes[(path, method)]
                    generic = {k: v for k, v in generic.items() if k not in _REFUSALS}
                    generic.update(_write_errors(record, submit=submit))
                for status, problem in generic.items():
                    responses[status] = problem
        used = {
            tag
            for item in spec.get("paths", {}).values()
            for op in item.values()
            for tag in op.get("tags", [])
        }
        spec["tags"] = [
            {"name": name, "description": _TAGS.get(name, name.capitalize())}
            for name in sorted(used)
        ]
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
