"""The `requests` resource: what became of a journaled write (API.md, stable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Connection, select

from api.deps import CurrentCaller, ServicesDep
from api.models import JournalEntry
from api.operations.catalogue import SUBJECTS
from api.operations.edge import resource
from api.problems import refuse
from api.schemas import RequestResource

router = APIRouter(tags=["requests"])

_JOURNAL = JournalEntry.__table__  # type: ignore[attr-defined]


# Message fields that carry an account number; a decision (on a transfer, reservation, escrow,
# ...) names its account through the record it decides on, its operation's subject.
_ACCOUNT_FIELDS = ("fromAccount", "toAccount", "accountId", "custodialAccount")


def named_accounts(conn: Connection, primary_type: str, message: dict[str, Any]) -> set[int]:
    """Return the accounts a signed message names, directly or through the record it decides."""
    named = {int(message[f]) for f in _ACCOUNT_FIELDS if message.get(f) is not None}
    named |= {int(forward["accountId"]) for forward in message.get("forwards", ())}
    subject = SUBJECTS.get(primary_type)
    if subject is not None and message.get(subject.field) is not None:
        found = conn.execute(subject.account_of(int(message[subject.field]))).scalar()
        if found is not None:
            named.add(int(found))
    return named


@router.get("/requests/{request_id}", response_model=RequestResource)
def get_request(request_id: str, services: ServicesDep, caller: CurrentCaller) -> RequestResource:
    """Return a request's status, transaction, result or error.

    Readable by its signer, an authorised representative of an account it names, and the
    registry administrator; to anyone else it does not exist.
    """
    if not (len(request_id) == 66 and request_id.startswith("0x")):
        raise refuse("INVALID_REQUEST_ID", "A request id is 0x followed by 64 hex digits.")
    with services.engine.connect() as conn:
        row = conn.execute(
            select(_JOURNAL).where(_JOURNAL.c.request_id == request_id.lower())
        ).first()
        visible = row is not None and (
            caller.is_admin
            or row.signer.lower() == caller.address.lower()
            or bool(
                caller.accounts
                & named_accounts(conn, row.typed_data["primaryType"], row.typed_data["message"])
            )
        )
    if not visible:
        # NOTE: the same answer whether or not the request exists, so ids cannot be probed.
        raise refuse("REQUEST_NOT_FOUND", f"There is no request {request_id} you may read.")
    return resource(row)
