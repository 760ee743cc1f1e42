"""What one operation record holds: the shape every signed write is declared in.

Records are listed in `api.operations.catalogue`; an operation family may declare its records
in a module of its own (e.g. `api.operations.escrows`) with everything the API needs to serve
it: the intent schema and the typed-data builder (`Prepare`), the precheck, the result reader,
the lock the journal relays it with and the record it decides on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel
from sqlalchemy import Table, select

from api.intents import Resolver
from api.operations.prechecks import Precheck
from api.operations.refusals import code_of
from api.operations.results import ResultReader

__all__ = [
    "ACCOUNT_ERRORS",
    "ADMIN_ERRORS",
    "RIGHT_ERRORS",
    "UNIT_ERRORS",
    "AccountPath",
    "Builder",
    "LabelPath",
    "LockDecision",
    "Operation",
    "Prepare",
    "Ready",
    "RecordId",
    "Subject",
    "TransferId",
]

# Errors many records declare, by the contract's names (the catalogue gives each its code):
# an account a request names, the right of its signer, and the units it names.
ACCOUNT_ERRORS = ("INVALID_ACCOUNT_ID", "AccountNotFound", "AccountSuspended", "AccountClosed")
ADMIN_ERRORS = ("MissingRole",)
RIGHT_ERRORS = ("NotRepresentative", "CannotInitiate", "CannotApprove")
UNIT_ERRORS = (
    "InvalidRange",
    "InvalidRangeCount",
    "UnitsNotHeld",
    "UnitsLocked",
    "UnitsAlreadyCancelled",
    "INSUFFICIENT_UNITS",
)

# The ids routes carry in their paths, validated and documented alike.
RecordId = Annotated[int, Path(ge=1, le=2**64 - 1)]
TransferId = RecordId
AccountPath = Annotated[str, Path(max_length=32, examples=["AU-1000001"])]
LabelPath = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_.:/-]+$")]


@dataclass(frozen=True)
class Ready:
    """What a builder returns when the intent turned out to be another operation's request,
    already checked and completed (a transfer to a peer registry's account is a TransferOut)."""

    typed_data: dict[str, Any]


# Turns a resolved intent (and the ids in the route's path) into the request's message, the
# signer first; the edge then runs the record's precheck and adds the nonce and deadline.
Builder = Callable[[Resolver, Any, dict[str, Any]], "dict[str, Any] | Ready"]


@dataclass(frozen=True)
class Prepare:
    """How the API serves an operation from its record alone: `POST {route}/prepare` resolves
    an `intent` with `build`, and `POST {route}` takes the signed request.

    `params` are the route's path parameters and their annotated types; `description` is
    what OpenAPI shows for the prepare route (its first sentence is the summary). `more_tags`
    follow `tag`. `name` names the prepare route: its OpenAPI operation id starts with it, and
    generated clients name their functions after that, so a route moved here keeps its own.
    `fixed` are values the route implies (whether a label is applied) that the submitted
    request is checked against.
    """

    route: str
    intent: type[BaseModel]
    build: Builder
    description: str
    tag: str
    params: dict[str, Any] = field(default_factory=dict)
    more_tags: tuple[str, ...] = ()
    name: str = ""
    fixed: dict[str, str] = field(default_factory=dict)
    # The intent's written example, for a schema declared beside its record (the others have
    # theirs in `api.schemas.INTENT_EXAMPLES`); OpenAPI shows it and a test validates it.
    example: dict[str, Any] | None = None

    @property
    def tags(self) -> list[str]:
        """The route's OpenAPI tags, `tag` first."""
        return [self.tag, *self.more_tags]


@dataclass(frozen=True)
class LockDecision:
    """A request that decides on an existing lock: the state of its blocks and the id field."""

    state: str
    field: str


@dataclass(frozen=True)
class Subject:
    """An existing record a request names by id, and where the mirror keeps its account.

    Who may read a journaled request is decided by the accounts it names (`GET /v1/requests`);
    a decision names its account only through the record it decides on.
    """

    field: str
    table: Table
    account_column: str
    # The table's column the id is matched against, and other columns that single the record
    # out (an outbound interop transfer is keyed by direction too).
    id_column: str = "id"
    scope: tuple[tuple[str, Any], ...] = ()

    def account_of(self, record_id: int) -> Any:
        """Return the query for the account of the record `record_id` names."""
        query = select(self.table.c[self.account_column]).where(
            self.table.c[self.id_column] == record_id
        )
        for column, value in self.scope:
            query = query.where(self.table.c[column] == value)
        return query


@dataclass(frozen=True)
class Operation:
    """One signed write: its path, its request type, its check, and what the journal needs."""

    path: str
    primary_type: str
    precheck: Precheck
    summary: str
    # Decisions on a lock are relayed with the starts of every block the lock holds (D14, D21).
    lock: LockDecision | None = None
    # The `result` of an applied request, read off its typed events.
    result: ResultReader = field(kw_only=True)
    # The existing record the request decides on, if any.
    subject: Subject | None = field(default=None, kw_only=True)
    # Routes served from the record itself (intent schema and typed-data builder), if any.
    prepare: Prepare | None = field(default=None, kw_only=True)
    # The stable codes the operation can answer with, beyond those every write can (the
    # catalogue's WRITE_ERRORS): its precheck's refusals and the contract errors it can revert
    # with. OpenAPI declares them per status (`api.openapi`).
    errors: tuple[str, ...] = field(default=(), kw_only=True)

    @property
    def codes(self) -> frozenset[str]:
        """The stable codes of `errors` (contract error names resolved by the catalogue)."""
        return frozenset(code_of(error) for error in self.errors)
