"""The `requests` resource: what became of a journaled write (API.md, stable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.auth import iso
from api.deps import ServicesDep
from api.models import JournalEntry
from api.problems import Problem
from api.schemas import RequestResource

router = APIRouter(tags=["requests"])

_JOURNAL = JournalEntry.__table__  # type: ignore[attr-defined]


def resource(row: Any) -> RequestResource:
    """Return a journal row as the public request resource."""
    error = row.error
    if error is not None and "marker" in error:
        error = None  # internal bookkeeping, not a failure
    return RequestResource(
        request_id=row.request_id,
        operation=row.operation,
        signer=row.signer,
        status=row.status,
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        error=error,
        result=row.result,
        accepted_at=iso(row.accepted_at),
    )


@router.get("/requests/{request_id}", response_model=RequestResource)
def get_request(request_id: str, services: ServicesDep) -> RequestResource:
    """Return a request's status, transaction, result or error."""
    if not (len(request_id) == 66 and request_id.startswith("0x")):
        raise Problem(422, "INVALID_REQUEST_ID", "A request id is 0x followed by 64 hex digits.")
    with services.engine.connect() as conn:
        row = conn.execute(
            select(_JOURNAL).where(_JOURNAL.c.request_id == request_id.lower())
        ).first()
    if row is None:
        raise Problem(404, "REQUEST_NOT_FOUND", f"There is no request {request_id}.")
    return resource(row)
