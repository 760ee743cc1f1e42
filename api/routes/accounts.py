"""Accounts, their holdings and their transactions, for the callers allowed to see them.

Scope (API.md): the registry administrator reads every account, an authorised representative the
accounts it represents, a Party's administrator the accounts of its Party's section (A6, decision
D27), and a signer of an active platform what the platform's active consents cover (decision D19):
scope `holdings` the account's holdings, `reserved` only the blocks reserved to that platform,
`escrowed` only those escrowed to it. A caller outside an account's scope gets a 403 whether or not
the account exists, so account ids cannot be probed (decision D11).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from api.auth import Caller
from api.deps import CurrentCaller, ServicesDep
from api.ids import account_number, format_account
from api.paging import (
    CSV_RESPONSES,
    Listing,
    Page,
    PageDep,
    Snapshot,
    SnapshotDep,
    SortKey,
    choice_filter,
    fetch_page,
    int_filter,
    iso_time,
    list_response,
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
from api.schemas import SerialRange
from indexer.models import (
    Account,
    Association,
    BlockHash,
    Cancellation,
    Consent,
    Escrow,
    Event,
    Issuance,
    Label,
    OperationRange,
    Representative,
    Reservation,
    Transfer,
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
_LABELS = table_of(Label)
_TRANSFERS = table_of(Transfer)
_CANCELLATIONS = table_of(Cancellation)
_RANGES = table_of(OperationRange)
_EVENTS = table_of(Event)
_BLOCK_HASHES = table_of(BlockHash)
_RESERVATIONS = table_of(Reservation)
_ESCROWS = table_of(Escrow)
_ASSOCIATIONS = table_of(Association)
_CONSENTS = table_of(Consent)
_SCOPES = tuple(s.name.lower() for s in ConsentScope)

_KINDS = tuple(k.name.lower() for k in AccountKind if k is not AccountKind.NONE)
_STATUSES = tuple(s.name.lower() for s in AccountStatus if s is not AccountStatus.NONE)
_STATES = tuple(s.name.lower() for s in UnitState if s is not UnitState.NONE)
# NOTE: cancelled blocks stay in their account for provenance (D3) but are no longer holdings;
# they are listed only when asked for with state=cancelled (decision D11).
_HOLDING_STATES = tuple(s for s in _STATES if s != "cancelled")
_TRANSACTION_TYPES = (
    "issuance",
    "transfer",
    "cancellation",
    "reservation",
    "escrow",
    "association",
)
_TRANSACTION_STATUSES = (
    "pending",
    "completed",
    "rescinded",
    "active",
    "released",
    "transferred",
    "settled",
    "dissociated",
    "retired",
)


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
def list_holdings(
    account_id: AccountIdPath,
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
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
) -> Page[Holding] | Response:
    """List the account's unit blocks. Sort: start, end, quantity, vintage, issuance_id, ...

    A platform reading by consent sees only the blocks its consents cover (decision D19).
    """
    number, view = _readable_account(services, caller, account_id, snapshot)
    _require_account(snapshot, number, account_id)
    query = holdings_query().where(_BLOCKS.c.account_id == number)
    visible = _block_condition(view)
    if visible is not None:
        query = query.where(visible)
    if state is None:
        query = query.where(_BLOCKS.c.state.in_(_HOLDING_STATES))
    else:
        query = query.where(_BLOCKS.c.state == state)
    if unit_type is not None:
        query = query.where(_ISSUANCES.c.unit_type == unit_type)
    if vintage is not None:
        query = query.where(_ISSUANCES.c.vintage == vintage)
    if project_id is not None:
        query = query.where(_ISSUANCES.c.project_id == project_id)
    if issuance_id is not None:
        query = query.where(_BLOCKS.c.issuance_id == issuance_id)
    if label is not None:
        query = query.where(label_condition(snapshot, label))
    rows, cursor = fetch_page(snapshot, _HOLDING_LISTING, page, query)
    names = label_names(snapshot.conn) if any(r.labels for r in rows) else {}
    items = [
        Holding(
            start=r.start,
            end=r.end,
            quantity=r.quantity,
            unit_type=r.unit_type,
            project_id=r.project_id,
            vintage=r.vintage,
            issuance_id=r.issuance_id,
            state=r.state,
            labels=label_list(r.labels, names),
            lock_id=r.lock_id or None,
        )
        for r in rows
    ]
    return list_response(Holding, items, cursor, snapshot, page)


# -- GET /accounts/{account_id}/transactions -------------------------------------------------


def _null(type_: Any) -> Any:
    return cast(null(), type_)


_TRANSACTION_COLUMNS = (
    "type",
    "operation_id",
    "status",
    "from_account",
    "to_account",
    "quantity",
    "initiated_by",
    "approved_by",
    "rescinded_by",
    "decided_by",
    "tx_hash",
    "block_number",
    "decided_tx_hash",
    "decided_block_number",
    "platform",
    "reference",
    "range_start",
    "range_end",
)


def _part(**columns: Any) -> Select[Any]:
    """Return one branch of the transactions union, its columns in one order, all labelled."""
    return select(*(columns[name].label(name) for name in _TRANSACTION_COLUMNS))


def _transactions(number: int, types: tuple[str, ...], status: str | None) -> Any:
    """Return a subquery of the account's transactions, one row each, filtered in each part."""
    t, c, i = _TRANSFERS.c, _CANCELLATIONS.c, _ISSUANCES.c
    address, hash_, bigint, text = String(42), String(66), BigInteger(), String(64)
    transfers = _part(
        type=literal("transfer", String(16)),
        operation_id=t.id,
        status=t.status,
        from_account=t.from_account,
        to_account=t.to_account,
        quantity=t.quantity,
        initiated_by=t.initiator,
        approved_by=t.approver,
        rescinded_by=t.rescinded_by,
        decided_by=func.coalesce(t.approver, t.rescinded_by),
        tx_hash=t.initiated_tx_hash,
        block_number=t.initiated_block,
        decided_tx_hash=t.decided_tx_hash,
        decided_block_number=t.decided_block,
        platform=_null(address),
        reference=_null(text),
        range_start=_null(bigint),
        range_end=_null(bigint),
    ).where(or_(t.from_account == number, t.to_account == number))
    # Cancellations and issuances have one step: they are `completed` once on the chain.
    cancellations = _part(
        type=literal("cancellation", String(16)),
        operation_id=c.id,
        status=literal("completed", String(16)),
        from_account=c.account_id,
        to_account=_null(bigint),
        quantity=c.quantity,
        initiated_by=_null(address),
        approved_by=_null(address),
        rescinded_by=_null(address),
        decided_by=_null(address),
        tx_hash=c.tx_hash,
        block_number=c.block_number,
        decided_tx_hash=_null(hash_),
        decided_block_number=_null(bigint),
        platform=_null(address),
        reference=_null(text),
        range_start=_null(bigint),
        range_end=_null(bigint),
    ).where(c.account_id == number)
    issuances = _part(
        type=literal("issuance", String(16)),
        operation_id=i.id,
        status=literal("completed", String(16)),
        from_account=_null(bigint),
        to_account=i.account_id,
        quantity=i.quantity,
        initiated_by=_null(address),
        approved_by=_null(address),
        rescinded_by=_null(address),
        decided_by=_null(address),
        tx_hash=i.tx_hash,
        block_number=i.block_number,
        decided_tx_hash=_null(hash_),
        decided_block_number=_null(bigint),
        platform=_null(address),
        reference=_null(text),
        range_start=i.start,
        range_end=i.end,
    ).where(i.account_id == number)
    # Each part with its status column (None: one-step operations, always `completed`).
    parts: dict[str, tuple[Select[Any], Any]] = {
        "transfer": (transfers, t.status),
        "cancellation": (cancellations, None),
        "issuance": (issuances, None),
    }
    # Reservations, escrows and associations: from the account, to where they settled (if any).
    for name, table in (
        ("reservation", _RESERVATIONS),
        ("escrow", _ESCROWS),
        ("association", _ASSOCIATIONS),
    ):
        lock = table.c
        counterpart = lock.third_party_registry if name == "association" else lock.platform
        parts[name] = (
            _part(
                type=literal(name, String(16)),
                operation_id=lock.id,
                status=lock.status,
                from_account=lock.account_id,
                to_account=_null(bigint) if name == "association" else lock.to_account,
                quantity=lock.quantity,
                initiated_by=lock.created_by,
                approved_by=_null(address),
                rescinded_by=_null(address),
                decided_by=lock.closed_by,
                tx_hash=lock.created_tx_hash,
                block_number=lock.created_block,
                decided_tx_hash=lock.closed_tx_hash,
                decided_block_number=lock.closed_block,
                platform=counterpart,
                reference=lock.certificate_id if name == "association" else _null(text),
                range_start=_null(bigint),
                range_end=_null(bigint),
            ).where(
                lock.account_id == number
                if name == "association"
                else or_(lock.account_id == number, lock.to_account == number)
            ),
            lock.status,
        )
    chosen = []
    for name in types:
        part, status_column = parts[name]
        if status_column is None:
            if status not in (None, "completed"):
                continue
        elif status is not None:
            part = part.where(status_column == status)
        chosen.append(part)
    if not chosen:  # e.g. type=issuance&status=pending: nothing can match
        chosen = [transfers.where(false())]
    return union_all(*chosen).subquery("transactions")


def _signers(snapshot: Snapshot, rows: list[Any]) -> dict[tuple[str, int], str]:
    """Return who signed each issuance and cancellation of a page, from the raw events.

    A request's events start with its RequestExecuted (signer), so an operation's signer is the
    last RequestExecuted before it in its transaction.
    """
    wanted = {r.tx_hash for r in rows if r.type in ("issuance", "cancellation")}
    if not wanted:
        return {}
    events = snapshot.conn.execute(
        select(_EVENTS.c.tx_hash, _EVENTS.c.name, _EVENTS.c.data)
        .where(
            _EVENTS.c.tx_hash.in_(sorted(wanted)),
            _EVENTS.c.name.in_(("RequestExecuted", "UnitsIssued", "UnitsCancelled")),
        )
        .order_by(_EVENTS.c.tx_hash, _EVENTS.c.log_index)
    )
    signers: dict[tuple[str, int], str] = {}
    current: dict[str, str] = {}
    for tx_hash, name, data in events:
        if name == "RequestExecuted":
            current[tx_hash] = data["signer"]
        elif tx_hash in current and name == "UnitsIssued":
            signers[("issuance", int(data["issuanceId"]))] = current[tx_hash]
        elif tx_hash in current:
            signers[("cancellation", int(data["cancellationId"]))] = current[tx_hash]
    return signers


def _ranges(snapshot: Snapshot, rows: list[Any]) -> dict[int, list[SerialRange]]:
    ids = sorted({r.operation_id for r in rows if r.type != "issuance"})
    ranges: dict[int, list[SerialRange]] = defaultdict(list)
    if ids:
        for r in snapshot.conn.execute(
            select(_RANGES).where(_RANGES.c.operation_id.in_(ids)).order_by(_RANGES.c.start)
        ):
            ranges[int(r.operation_id)].append(SerialRange(start=r.start, end=r.end))
    return ranges


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
        BeforeValidator(choice_filter("type", _TRANSACTION_TYPES)),
        Query(alias="type", description=_one_of(_TRANSACTION_TYPES)),
    ] = None,
    status: Annotated[
        str | None,
        BeforeValidator(choice_filter("status", _TRANSACTION_STATUSES)),
        Query(description=_one_of(_TRANSACTION_STATUSES)),
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
    tx = _transactions(number, (type_,) if type_ else _TRANSACTION_TYPES, status)
    hashes = _BLOCK_HASHES
    query = select(tx, hashes.c.timestamp).select_from(
        tx.outerjoin(hashes, hashes.c.number == tx.c.block_number)
    )
    if since is not None:
        query = query.where(hashes.c.timestamp >= since)
    listing = Listing(
        sorts={
            "block_number": SortKey(tx.c.block_number),
            "timestamp": SortKey(tx.c.block_number),
            "quantity": SortKey(tx.c.quantity),
        },
        key=(SortKey(tx.c.block_number), SortKey(tx.c.type, str), SortKey(tx.c.operation_id)),
        default="block_number",
    )
    rows, cursor = fetch_page(snapshot, listing, page, query)
    signers = _signers(snapshot, rows)
    ranges = _ranges(snapshot, rows)
    code = services.registry_code

    def account(value: int | None) -> str | None:
        return None if value is None else format_account(code, value)

    items = []
    for r in rows:
        key = (r.type, int(r.operation_id))
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
                initiated_by=r.initiated_by or signers.get(key),
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
