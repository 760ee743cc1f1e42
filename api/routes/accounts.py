"""Accounts, their holdings and their transactions, for the callers allowed to see them.

Scope (API.md): the registry administrator reads every account, an authorised representative the
accounts it represents, and a Party's administrator the accounts of its Party's section (A6,
decision D27). A caller outside an account's scope gets 403 NOT_AUTHORISED whether or not the
account exists, so account ids cannot be probed (decision D11).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
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
from api.problems import Problem
from indexer.models import (
    Account,
    BlockHash,
    Cancellation,
    Event,
    Issuance,
    Label,
    OperationRange,
    Representative,
    Transfer,
    UnitBlock,
    table_of,
)
from node.contracts import AccountKind, AccountStatus, UnitState

__all__ = ["holdings_query", "label_condition", "label_list", "label_names", "router"]

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

_KINDS = tuple(k.name.lower() for k in AccountKind if k is not AccountKind.NONE)
_STATUSES = tuple(s.name.lower() for s in AccountStatus if s is not AccountStatus.NONE)
_STATES = tuple(s.name.lower() for s in UnitState if s is not UnitState.NONE)
# NOTE: cancelled blocks stay in their account for provenance (D3) but are no longer holdings;
# they are listed only when asked for with state=cancelled (decision D11).
_HOLDING_STATES = tuple(s for s in _STATES if s != "cancelled")
_TRANSACTION_TYPES = ("issuance", "transfer", "cancellation")
_TRANSACTION_STATUSES = ("pending", "completed", "rescinded")


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


class SerialRange(BaseModel):
    """An inclusive serial range."""

    start: int
    end: int


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
    decided_tx_hash: str | None = Field(description="Where a transfer was approved or rescinded.")
    decided_block_number: int | None


# -- account scope ---------------------------------------------------------------------------


def _readable_account(
    services: ServicesDep, caller: Caller, account_id: str, snapshot: Snapshot
) -> int:
    """Return the number of an account the caller may read, refusing others with 403."""
    number = account_number(services.registry_code, account_id)
    party = None
    if caller.parties and not caller.may_read(number):
        # Whether the account lies in a section the caller administers; an unknown account
        # lies in none, so it is refused like another Party's (D11).
        party = snapshot.conn.execute(
            select(_ACCOUNTS.c.party).where(_ACCOUNTS.c.id == number)
        ).scalar()
    if not caller.may_read(number, party):
        raise Problem(
            403,
            "NOT_AUTHORISED",
            f"{caller.address} may not read account {account_id}: only its authorised "
            "representatives, the administrators of its Party's section and the registry "
            "administrator may.",
        )
    return number


def _require_account(snapshot: Snapshot, number: int, account_id: str) -> Any:
    row = snapshot.conn.execute(select(_ACCOUNTS).where(_ACCOUNTS.c.id == number)).first()
    if row is None:
        raise Problem(404, "ACCOUNT_NOT_FOUND", f"There is no account {account_id}.")
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
    """List the accounts the caller may read. Sort: account_id, holder_name, kind, status."""
    query = select(_ACCOUNTS)
    if not caller.is_admin:
        represented = select(_REPRESENTATIVES.c.account_id).where(
            _REPRESENTATIVES.c.address == caller.address
        )
        scope: ColumnElement[bool] = _ACCOUNTS.c.id.in_(represented)
        if caller.parties:
            scope = or_(scope, _ACCOUNTS.c.party.in_(sorted(caller.parties)))
        query = query.where(scope)
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
    """Return an account with its representatives and its balances by unit type and state."""
    number = _readable_account(services, caller, account_id, snapshot)
    row = _require_account(snapshot, number, account_id)
    conn = snapshot.conn
    representatives = [
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
    quantity = func.sum(_BLOCKS.c.end - _BLOCKS.c.start + 1)
    balances = [
        Balance(unit_type=b.unit_type, state=b.state, quantity=int(b.quantity))
        for b in conn.execute(
            select(_ISSUANCES.c.unit_type, _BLOCKS.c.state, quantity.label("quantity"))
            .select_from(_BLOCKS.join(_ISSUANCES, _ISSUANCES.c.id == _BLOCKS.c.issuance_id))
            .where(_BLOCKS.c.account_id == number)
            .group_by(_ISSUANCES.c.unit_type, _BLOCKS.c.state)
            .order_by(_ISSUANCES.c.unit_type, _BLOCKS.c.state)
        )
    ]
    return AccountDetail(
        **_account(services.registry_code, row).model_dump(),
        representatives=representatives,
        balances=balances,
        as_of_block=snapshot.as_of_block,
    )


# -- GET /accounts/{account_id}/holdings -----------------------------------------------------


def label_names(snapshot: Snapshot) -> dict[int, str]:
    """Return every label's name by id (at most 256: a block's bitmap has 256 bits)."""
    return {int(r.id): r.name for r in snapshot.conn.execute(select(_LABELS.c.id, _LABELS.c.name))}


def label_list(bitmap: int, names: dict[int, str]) -> list[str]:
    """Return the names of the labels set in a bitmap, in label id order."""
    return [names[i] for i in sorted(names) if bitmap >> i & 1]


def label_condition(snapshot: Snapshot, name: str) -> ColumnElement[bool]:
    """Return a WHERE condition: the block carries the label named `name`."""
    label_id = snapshot.conn.execute(select(_LABELS.c.id).where(_LABELS.c.name == name)).scalar()
    if label_id is None:
        return literal(False)
    if snapshot.dialect == "sqlite":
        return func.registry_label_bit(_BLOCKS.c.labels, int(label_id)) == 1
    # NUMERIC(78,0) arithmetic is exact on PostgreSQL: bit i is floor(labels / 2^i) mod 2.
    power = literal(Decimal(2 ** int(label_id)), _BLOCKS.c.labels.type)
    return func.mod(func.div(_BLOCKS.c.labels, power), 2) == 1


_QUANTITY = (_BLOCKS.c.end - _BLOCKS.c.start + 1).label("quantity")
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


def holdings_query() -> Select[Any]:
    """Return the select of unit blocks with their issuance attributes."""
    return select(
        _BLOCKS.c.start,
        _BLOCKS.c.end,
        _QUANTITY,
        _BLOCKS.c.state,
        _BLOCKS.c.lock_id,
        _BLOCKS.c.issuance_id,
        _BLOCKS.c.labels,
        _ISSUANCES.c.unit_type,
        _ISSUANCES.c.project_id,
        _ISSUANCES.c.vintage,
    ).select_from(_BLOCKS.join(_ISSUANCES, _ISSUANCES.c.id == _BLOCKS.c.issuance_id))


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
    """List the account's unit blocks. Sort: start, end, quantity, vintage, issuance_id, ..."""
    number = _readable_account(services, caller, account_id, snapshot)
    _require_account(snapshot, number, account_id)
    query = holdings_query().where(_BLOCKS.c.account_id == number)
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
    names = label_names(snapshot) if any(r.labels for r in rows) else {}
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
    "tx_hash",
    "block_number",
    "decided_tx_hash",
    "decided_block_number",
    "range_start",
    "range_end",
)


def _part(**columns: Any) -> Select[Any]:
    """Return one branch of the transactions union, its columns in one order, all labelled."""
    return select(*(columns[name].label(name) for name in _TRANSACTION_COLUMNS))


def _transactions(number: int, types: tuple[str, ...], status: str | None) -> Any:
    """Return a subquery of the account's transactions, one row each, filtered in each part."""
    t, c, i = _TRANSFERS.c, _CANCELLATIONS.c, _ISSUANCES.c
    address, hash_, bigint = String(42), String(66), BigInteger()
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
        tx_hash=t.initiated_tx_hash,
        block_number=t.initiated_block,
        decided_tx_hash=t.decided_tx_hash,
        decided_block_number=t.decided_block,
        range_start=_null(bigint),
        range_end=_null(bigint),
    ).where(or_(t.from_account == number, t.to_account == number))
    if status is not None:
        transfers = transfers.where(t.status == status)
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
        tx_hash=c.tx_hash,
        block_number=c.block_number,
        decided_tx_hash=_null(hash_),
        decided_block_number=_null(bigint),
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
        tx_hash=i.tx_hash,
        block_number=i.block_number,
        decided_tx_hash=_null(hash_),
        decided_block_number=_null(bigint),
        range_start=i.start,
        range_end=i.end,
    ).where(i.account_id == number)
    parts = [transfers] if "transfer" in types else []
    if status in (None, "completed"):
        parts += [
            part
            for name, part in (("cancellation", cancellations), ("issuance", issuances))
            if name in types
        ]
    if not parts:  # e.g. type=issuance&status=pending: nothing can match
        parts = [transfers.where(false())]
    return union_all(*parts).subquery("transactions")


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
    """List the account's issuances, transfers and cancellations. Sort: block_number, quantity."""
    number = _readable_account(services, caller, account_id, snapshot)
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
                tx_hash=r.tx_hash,
                block_number=r.block_number,
                timestamp=iso_time(r.timestamp),
                decided_tx_hash=r.decided_tx_hash,
                decided_block_number=r.decided_block_number,
            )
        )
    return list_response(TransactionPublic, items, cursor, snapshot, page)
