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


# Message fields that carry an account number, and the mirror table and column that give the
# account behind a message's lock id (a decision on a transfer, reservation, escrow, ...).
_ACCOUNT_FIELDS = ("fromAccount", "toAccount", "accountId", "custodialAccount")
_LOCK_ACCOUNTS = {s.field: (s.table, s.account_column) for s in SUBJECTS}


def named_accounts(conn: Connection, message: dict[str, Any]) -> set[int]:
    """Return the accounts a signed message names, directly or through the lock it decides."""
    named = {int(message[f]) for f in _ACCOUNT_FIELDS if message.get(f) is not None}
    named |= {int(forward["accountId"]) for forward in message.get("forwards", ())}
    for field, (table, column) in _LOCK_ACCOUNTS.items():
        if message.get(field) is not None:
            found = conn.execute(
                select(table.c[column]).where(table.c.id == int(message[field]))
            ).scalar()
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
            or bool(caller.accounts & named_accounts(conn, row.typed_data["message"]))
        )
    if not visible:
        # NOTE: the same answer whether or not the request exists, so ids cannot be probed.
        raise refuse("REQUEST_NOT_FOUND", f"There is no request {request_id} you may read.")
    return resource(row)
