"""Accounts, their holdings and their transactions, for the callers allowed to see them.

Scope (API.md): the registry administrator reads every account, an authorised representative the
accounts it represents, a Party's administrator the accounts of its Party's section (A6, decision
D27), and a signer of an active platform what the platform's active consents cover (decision D19):
scope `holdings` the account's holdings, `reserved` only the blocks reserved to that platform,
`escrowed` only those escrowed to it. A caller outside an account's scope gets a 403 whether or not
the account exists, so account ids cannot be probed (decision D11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    or_,
    select,
)

from api.auth import Caller
from api.deps import CurrentCaller, ReaderDep, ServicesDep, caller_scope
from api.ids import account_number, format_account
from api.paging import (
    CSV_RESPONSES,
    Listing,
    MinBlockDep,
    Page,
    PageDep,
    PageParams,
    Snapshot,
    SnapshotDep,
    SortKey,
    choice_filter,
    fetch_page,
    int_filter,
    iso_time,
    list_response,
    page_json,
    snapshot_after,
    text_filter,
    time_filter,
)
from api.problems import refuse
from api.queries.holdings import (
    holdings_query,
    label_condition,
    label_list,
    label_names,
)
from api.queries.transactions import (
    TRANSACTION_LISTING,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPES,
    operation_ranges,
    transactions_query,
)
from api.schemas import SerialRange
from api.services import Services
from indexer.models import (
    Account,
    Consent,
    Escrow,
    Issuance,
    Representative,
    Reservation,
    UnitBlock,
    table_of,
)
from node.contracts import AccountKind, AccountStatus, ConsentScope, UnitState

__all__ = ["router"]

router = APIRouter(prefix="/accounts", tags=["accounts"])

_ACCOUNTS = table_of(Account)
_REPRESENTATIVES = table_of(Representative)
_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_RESERVATIONS = table_of(Reservation)
_ESCROWS = table_of(Escrow)
_CONSENTS = table_of(Consent)
_SCOPES = tuple(s.name.lower() for s in ConsentScope)

_KINDS = tuple(k.name.lower() for k in AccountKind if k is not AccountKind.NONE)
_STATUSES = tuple(s.name.lower() for s in AccountStatus if s is not AccountStatus.NONE)
_STATES = tuple(s.name.lower() for s in UnitState if s is not UnitState.NONE)
# NOTE: cancelled blocks stay in their account for provenance (D3) but are no longer holdings;
# they are listed only when asked for with state=cancelled (decision D11).
_HOLDING_STATES = tuple(s for s in _STATES if s != "cancelled")


def _one_of(values: tuple[str, ...]) -> str:
    return "One of: " + ", ".join(f"`{v}`" for v in values)


AccountIdPath = Annotated[str, Path(description="An account id, e.g. AU-1000001.")]


# -- schemas ---------------------------------------------------------------------------------


class AccountPublic(BaseModel):
    """An account as a list shows it."""

    account_id: str
    holder_name: str
    kind: str
    status: str
    party: str
    approval_policy: str
    opened_block: int


class RepresentativePublic(BaseModel):
    """An authorised representative and its rights over the account."""

    address: str
    primary: bool
    can_initiate: bool
    can_approve: bool


class Balance(BaseModel):
    """Units of one type in one state."""

    unit_type: str
    state: str
    quantity: int


class AccountDetail(AccountPublic):
    """An account with its representatives and balances."""

    representatives: list[RepresentativePublic]
    balances: list[Balance]
    as_of_block: int


class Holding(BaseModel):
    """A unit block of the account."""

    start: int
    end: int
    quantity: int
    unit_type: str
    project_id: str
    vintage: int
    issuance_id: int
    state: str
    labels: list[str]
    lock_id: int | None = Field(
        description="The transfer, reservation, escrow, association or cancellation that locks "
        "the block (they share one id sequence); null when held."
    )


class TransactionPublic(BaseModel):
    """An issuance into, a transfer from or to, or a cancellation in the account."""

    transaction_id: str = Field(description="`<type>-<id>`, e.g. transfer-12.")
    type: str
    status: str
    from_account: str | None
    to_account: str | None
    ranges: list[SerialRange]
    quantity: int
    initiated_by: str | None
    approved_by: str | None
    rescinded_by: str | None
    tx_hash: str
    block_number: int
    timestamp: str | None
    decided_by: str | None = Field(
        description="Who approved or rescinded a transfer; released, transferred or settled a "
        "reservation or escrow; dissociated or retired an association."
    )
    decided_tx_hash: str | None = Field(description="Where that decision was made.")
    decided_block_number: int | None
    platform: str | None = Field(
        description="The platform a reservation or escrow is for, or an association's "
        "third-party registry."
    )
    reference: str | None = Field(description="An association's certificate id.")


# -- account scope ---------------------------------------------------------------------------


# What a caller sees of an account: everything (None), or the (platform, scope) pairs of the
# active consents it reads by.
View = frozenset[tuple[str, str]] | None


def _readable_account(
    services: ServicesDep, caller: Caller, account_id: str, snapshot: Snapshot
) -> tuple[int, View]:
    """Return an account's number and the caller's view of it, refusing others with 403.

    NOTE: decided from the caller alone, before the account is looked up (decision D11): the
    same refusal whether or not the account exists.
    """
    number = account_number(services.registry_code, account_id)
    party = None
    if caller.parties and not caller.may_read(number):
        # Whether the account lies in a section the caller administers; an unknown account
        # lies in none, so it is refused like another Party's (D11).
        party = snapshot.conn.execute(
            select(_ACCOUNTS.c.party).where(_ACCOUNTS.c.id == number)
        ).scalar()
    if caller.may_read(number, party):
        return number, None
    consented = caller.consented(number)
    if consented:
        return number, consented
    if caller.is_platform and not caller.platform.active:
        raise refuse(
            "PLATFORM_SUSPENDED",
            f"{caller.address} signs for a suspended platform, which may read no account; "
            "the registry administrator can reinstate it.",
        )
    if caller.is_platform:
        raise refuse(
            "CONSENT_REQUIRED",
            f"{caller.address} signs for a platform that holds no active consent to read "
            f"account {account_id}; its holder can grant one (POST /v1/consents).",
        )
    raise refuse(
        "NOT_AUTHORISED",
        f"{caller.address} may not read account {account_id}: only its authorised "
        "representatives, platforms it consented to, the administrators of its Party's section "
        "and the registry administrator may.",
    )


def _block_condition(view: View) -> ColumnElement[bool] | None:
    """Return which of an account's blocks a view shows (None: all of them)."""
    if view is None or any(scope == "holdings" for _platform, scope in view):
        return None
    conditions: list[ColumnElement[bool]] = []
    for platform, scope in sorted(view):
        locks = _RESERVATIONS if scope == "reserved" else _ESCROWS
        conditions.append(
            and_(
                _BLOCKS.c.state == scope,
                _BLOCKS.c.lock_id.in_(select(locks.c.id).where(locks.c.platform == platform)),
            )
        )
    return or_(*conditions)


def _require_account(snapshot: Snapshot, number: int, account_id: str) -> Any:
    row = snapshot.conn.execute(select(_ACCOUNTS).where(_ACCOUNTS.c.id == number)).first()
    if row is None:
        raise refuse("ACCOUNT_NOT_FOUND", f"There is no account {account_id}.")
    return row


def _account(code: str, row: Any) -> AccountPublic:
    return AccountPublic(
        account_id=format_account(code, row.id),
        holder_name=row.holder_name,
        kind=row.kind,
        status=row.status,
        party=row.party,
        approval_policy=row.approval_policy,
        opened_block=row.opened_block,
    )


# -- GET /accounts ---------------------------------------------------------------------------

_ACCOUNT_LISTING = Listing(
    sorts={
        "account_id": SortKey(_ACCOUNTS.c.id),
        "holder_name": SortKey(_ACCOUNTS.c.holder_name, str),
        "kind": SortKey(_ACCOUNTS.c.kind, str),
        "status": SortKey(_ACCOUNTS.c.status, str),
        "opened_block": SortKey(_ACCOUNTS.c.opened_block),
    },
    key=(SortKey(_ACCOUNTS.c.id),),
    default="account_id",
)


@router.get("", response_model=Page[AccountPublic], responses=CSV_RESPONSES)
def list_accounts(
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
    kind: Annotated[
        str | None,
        BeforeValidator(choice_filter("kind", _KINDS)),
        Query(description=_one_of(_KINDS)),
    ] = None,
    status: Annotated[
        str | None,
        BeforeValidator(choice_filter("status", _STATUSES)),
        Query(description=_one_of(_STATUSES)),
    ] = None,
    party: Annotated[str | None, BeforeValidator(text_filter("party")), Query()] = None,
) -> Page[AccountPublic] | Response:
    """List the accounts the caller may read (its own, consented ones). Sort: account_id, ..."""
    query = select(_ACCOUNTS)
    if not caller.is_admin:
        represented = select(_REPRESENTATIVES.c.account_id).where(
            _REPRESENTATIVES.c.address == caller.address
        )
        visible: ColumnElement[bool] = _ACCOUNTS.c.id.in_(represented)
        if caller.platform.consents:
            # Accounts whose holders consented to a platform the caller signs for (D19).
            visible = or_(visible, _ACCOUNTS.c.id.in_(sorted(caller.platform.consents)))
        if caller.parties:
            # Accounts of the Party sections the caller administers (A6, D27).
            visible = or_(visible, _ACCOUNTS.c.party.in_(sorted(caller.parties)))
        query = query.where(visible)
    for column, value in (("kind", kind), ("status", status), ("party", party)):
        if value is not None:
            query = query.where(_ACCOUNTS.c[column] == value)
    rows, cursor = fetch_page(snapshot, _ACCOUNT_LISTING, page, query)
    items = [_account(services.registry_code, row) for row in rows]
    return list_response(AccountPublic, items, cursor, snapshot, page)


# -- GET /accounts/{account_id} --------------------------------------------------------------


@router.get("/{account_id}", response_model=AccountDetail)
def get_account(
    account_id: AccountIdPath, caller: CurrentCaller, services: ServicesDep, snapshot: SnapshotDep
) -> AccountDetail:
    """Return an account with its representatives and its balances by unit type and state.

    A platform reading by consent sees the balances of the blocks its consents cover and no
    representatives.
    """
    number, view = _readable_account(services, caller, account_id, snapshot)
    row = _require_account(snapshot, number, account_id)
    conn = snapshot.conn
    representatives = (
        []
        if view is not None
        else [
            RepresentativePublic(
                address=r.address,
                primary=r.is_primary,
                can_initiate=r.can_initiate,
                can_approve=r.can_approve,
            )
            for r in conn.execute(
                select(_REPRESENTATIVES)
                .where(_REPRESENTATIVES.c.account_id == number)
                .order_by(_REPRESENTATIVES.c.is_primary.desc(), _REPRESENTATIVES.c.address)
            )
        ]
    )
    quantity = func.sum(_BLOCKS.c.end - _BLOCKS.c.start + 1)
    balance_query = (
        select(_ISSUANCES.c.unit_type, _BLOCKS.c.state, quantity.label("quantity"))
        .select_from(_BLOCKS.join(_ISSUANCES, _ISSUANCES.c.id == _BLOCKS.c.issuance_id))
        .where(_BLOCKS.c.account_id == number)
        .group_by(_ISSUANCES.c.unit_type, _BLOCKS.c.state)
        .order_by(_ISSUANCES.c.unit_type, _BLOCKS.c.state)
    )
    visible = _block_condition(view)
    if visible is not None:
        balance_query = balance_query.where(visible)
    balances = [
        Balance(unit_type=b.unit_type, state=b.state, quantity=int(b.quantity))
        for b in conn.execute(balance_query)
    ]
    return AccountDetail(
        **_account(services.registry_code, row).model_dump(),
        representatives=representatives,
        balances=balances,
        as_of_block=snapshot.as_of_block,
    )


# -- GET /accounts/{account_id}/holdings -----------------------------------------------------


_HOLDING_LISTING = Listing(
    sorts={
        "start": SortKey(_BLOCKS.c.start),
        "end": SortKey(_BLOCKS.c.end),
        "quantity": SortKey(_BLOCKS.c.end - _BLOCKS.c.start),
        "vintage": SortKey(_ISSUANCES.c.vintage),
        "issuance_id": SortKey(_BLOCKS.c.issuance_id),
        "unit_type": SortKey(_ISSUANCES.c.unit_type, str),
        "project_id": SortKey(_ISSUANCES.c.project_id, str),
        "state": SortKey(_BLOCKS.c.state, str),
    },
    key=(SortKey(_BLOCKS.c.start),),
    default="start",
)


@router.get(
    "/{account_id}/holdings",
    response_model=Page[Holding],
    responses=CSV_RESPONSES,
)
async def list_holdings(
    account_id: AccountIdPath,
    reader: ReaderDep,
    services: ServicesDep,
    page: PageDep,
    min_block: MinBlockDep,
    unit_type: Annotated[str | None, BeforeValidator(text_filter("unit_type")), Query()] = None,
    vintage: Annotated[
        int | None, BeforeValidator(int_filter("vintage", 0, 65535)), Query()
    ] = None,
    project_id: Annotated[str | None, BeforeValidator(text_filter("project_id")), Query()] = None,
    issuance_id: Annotated[int | None, BeforeValidator(int_filter("issuance_id")), Query()] = None,
    label: Annotated[
        str | None, BeforeValidator(text_filter("label")), Query(description="A label name.")
    ] = None,
    state: Annotated[
        str | None,
        BeforeValidator(choice_filter("state", _STATES)),
        Query(description=f"{_one_of(_STATES)}. Without it, every state but `cancelled`."),
    ] = None,
) -> Response:
    """List the account's unit blocks. Sort: start, end, quantity, vintage, issuance_id, ...

    A platform reading by consent sees only the blocks its consents cover (decision D19).
    """
    # NOTE: the hot read (decision D53): one hop to a worker thread for all of its database
    # work (the caller's scope, read in the page's own snapshot, and the page), and the JSON
    # built once from the rows, without a model per row validated again by FastAPI.
    filters = _HoldingFilters(unit_type, vintage, project_id, issuance_id, label, state)
    return await run_in_threadpool(
        _holdings_page, services, reader, account_id, page, min_block, filters
    )


@dataclass(frozen=True)
class _HoldingFilters:
    unit_type: str | None
    vintage: int | None
    project_id: str | None
    issuance_id: int | None
    label: str | None
    state: str | None


def _holdings_page(
    services: Services,
    reader: str,
    account_id: str,
    page: PageParams,
    min_block: int | None,
    filters: _HoldingFilters,
) -> Response:
    with snapshot_after(services, min_block) as snapshot:
        caller = caller_scope(services, snapshot.conn, reader, snapshot.as_of_block)
        number, view = _readable_account(services, caller, account_id, snapshot)
        _require_account(snapshot, number, account_id)
        query = holdings_query().where(_BLOCKS.c.account_id == number)
        visible = _block_condition(view)
        if visible is not None:
            query = query.where(visible)
        if filters.state is None:
            query = query.where(_BLOCKS.c.state.in_(_HOLDING_STATES))
        else:
            query = query.where(_BLOCKS.c.state == filters.state)
        if filters.unit_type is not None:
            query = query.where(_ISSUANCES.c.unit_type == filters.unit_type)
        if filters.vintage is not None:
            query = query.where(_ISSUANCES.c.vintage == filters.vintage)
        if filters.project_id is not None:
            query = query.where(_ISSUANCES.c.project_id == filters.project_id)
        if filters.issuance_id is not None:
            query = query.where(_BLOCKS.c.issuance_id == filters.issuance_id)
        if filters.label is not None:
            query = query.where(label_condition(snapshot, filters.label))
        rows, cursor = fetch_page(snapshot, _HOLDING_LISTING, page, query)
        # NOTE: rows unpack as tuples, in holdings_query's column order: ten times cheaper than
        # reading each field by name, which is most of a page's Python time.
        values = [tuple(row)[:10] for row in rows]
        names = label_names(snapshot.conn) if any(v[6] for v in values) else {}
    items = [
        {
            "start": start,
            "end": end,
            "quantity": quantity,
            "unit_type": unit_type,
            "project_id": project_id,
            "vintage": vintage,
            "issuance_id": issuance_id,
            "state": state,
            "labels": label_list(int(labels), names) if labels else [],
            "lock_id": lock_id or None,
        }
        for (
            start,
            end,
            quantity,
            state,
            lock_id,
            issuance_id,
            labels,
            unit_type,
            project_id,
            vintage,
        ) in values
    ]
    if page.format == "json":
        return page_json(items, cursor, snapshot.as_of_block)
    response = list_response(
        Holding, [Holding.model_validate(item) for item in items], cursor, snapshot, page
    )
    assert isinstance(response, Response)
    return response


# -- GET /accounts/{account_id}/transactions -------------------------------------------------


@router.get(
    "/{account_id}/transactions",
    response_model=Page[TransactionPublic],
    responses=CSV_RESPONSES,
)
def list_transactions(
    account_id: AccountIdPath,
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
    type_: Annotated[
        str | None,
        BeforeValidator(choice_filter("type", TRANSACTION_TYPES)),
        Query(alias="type", description=_one_of(TRANSACTION_TYPES)),
    ] = None,
    status: Annotated[
        str | None,
        BeforeValidator(choice_filter("status", TRANSACTION_STATUSES)),
        Query(description=_one_of(TRANSACTION_STATUSES)),
    ] = None,
    since: Annotated[
        int | None,
        BeforeValidator(time_filter("since")),
        Query(description="ISO 8601 date or date-time: transactions from then on."),
    ] = None,
) -> Page[TransactionPublic] | Response:
    """List the account's transactions of every type (`<type>-<id>`). Sort: block_number, ..."""
    number, view = _readable_account(services, caller, account_id, snapshot)
    if view is not None:
        raise refuse(
            "NOT_AUTHORISED",
            f"{caller.address} reads account {account_id} by a platform consent, which covers "
            "holdings, not the transaction history.",
        )
    _require_account(snapshot, number, account_id)
    query = transactions_query(number, type_, status, since)
    rows, cursor = fetch_page(snapshot, TRANSACTION_LISTING, page, query)
    ranges = operation_ranges(snapshot.conn, rows)
    code = services.registry_code

    def account(value: int | None) -> str | None:
        return None if value is None else format_account(code, value)

    items = []
    for r in rows:
        items.append(
            TransactionPublic(
                transaction_id=f"{r.type}-{r.operation_id}",
                type=r.type,
                status=r.status,
                from_account=account(r.from_account),
                to_account=account(r.to_account),
                ranges=(
                    [SerialRange(start=r.range_start, end=r.range_end)]
                    if r.type == "issuance"
                    else ranges.get(int(r.operation_id), [])
                ),
                quantity=r.quantity,
                initiated_by=r.initiated_by,
                approved_by=r.approved_by,
                rescinded_by=r.rescinded_by,
                decided_by=r.decided_by,
                tx_hash=r.tx_hash,
                block_number=r.block_number,
                timestamp=iso_time(r.timestamp),
                decided_tx_hash=r.decided_tx_hash,
                decided_block_number=r.decided_block_number,
                platform=r.platform,
                reference=r.reference,
            )
        )
    return list_response(TransactionPublic, items, cursor, snapshot, page)


# -- GET /accounts/{account_id}/consents -----------------------------------------------------


class ConsentPublic(BaseModel):
    """A view consent the account gave a platform (B.1)."""

    consent_id: int
    platform: str
    scope: str
    status: str
    granted_by: str
    granted_block: int
    revoked_by: str | None
    revoked_block: int | None


_CONSENT_LISTING = Listing(
    sorts={"consent_id": SortKey(_CONSENTS.c.id)},
    key=(SortKey(_CONSENTS.c.id),),
    default="consent_id",
)


@router.get(
    "/{account_id}/consents",
    response_model=Page[ConsentPublic],
    responses=CSV_RESPONSES,
)
def list_consents(
    account_id: AccountIdPath,
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
    status: Annotated[
        str | None,
        BeforeValidator(choice_filter("status", ("active", "revoked"))),
        Query(description="`active` or `revoked`."),
    ] = None,
    scope: Annotated[
        str | None,
        BeforeValidator(choice_filter("scope", _SCOPES)),
        Query(description=_one_of(_SCOPES)),
    ] = None,
) -> Page[ConsentPublic] | Response:
    """List the consents the account gave platforms; a platform sees only those given to it."""
    number, view = _readable_account(services, caller, account_id, snapshot)
    _require_account(snapshot, number, account_id)
    query = select(_CONSENTS).where(_CONSENTS.c.account_id == number)
    if view is not None:
        query = query.where(_CONSENTS.c.platform.in_(sorted({p for p, _scope in view})))
    if status is not None:
        query = query.where(_CONSENTS.c.status == status)
    if scope is not None:
        query = query.where(_CONSENTS.c.scope == scope)
    rows, cursor = fetch_page(snapshot, _CONSENT_LISTING, page, query)
    items = [
        ConsentPublic(
            consent_id=r.id,
            platform=r.platform,
            scope=r.scope,
            status=r.status,
            granted_by=r.granted_by,
            granted_block=r.granted_block,
            revoked_by=r.revoked_by,
            revoked_block=r.revoked_block,
        )
        for r in rows
    ]
    return list_response(ConsentPublic, items, cursor, snapshot, page)
