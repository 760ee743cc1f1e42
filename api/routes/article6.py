"""Article 6: signed writes, Party sections, ITMO listings, the AEF report and pull-and-view.

Writes follow the prepare/submit pattern of `api.routes.writes` under `/v1/article6/...`.
Reads of a Party's section (its authorizations, ITMOs, AEF and pulls) are open to the registry
administrator and to the Party's administrators as the chain records them, and refused to
everyone else with 403 NOT_AUTHORISED before anything is looked up (decisions D11, D27).
Pull-and-view responses and the AEF carry an Ed25519 signature over their exact body bytes
(decision D29).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import Select, and_, case, func, select

from api.article6 import (
    build_article64,
    build_authorization,
    build_cooperative_approach,
    build_itmo_cancellation,
    build_itmo_decision,
    build_itmo_transfer,
    build_mechanism_accounts,
    build_party,
)
from api.auth import Caller
from api.deps import CurrentCaller, ServicesDep
from api.ids import format_account
from api.intents import Resolver
from api.operations.edge import TransferId, prepare_request, submit_route
from api.paging import (
    CSV_RESPONSES,
    Listing,
    Page,
    PageDep,
    PageParams,
    Snapshot,
    SnapshotDep,
    SortKey,
    block_times,
    choice_filter,
    fetch_page,
    int_filter,
    iso_time,
    list_response,
    reject_unknown_parameters,
)
from api.problems import refuse
from api.responsekey import KEY_ID_HEADER, SIGNATURE_HEADER
from api.schemas import (
    ApproveIntent,
    Article64IssuanceIntent,
    AuthorizationIntent,
    CooperativeApproachIntent,
    ItmoCancellationIntent,
    ItmoTransferIntent,
    MechanismAccountsIntent,
    PartyIntent,
    PreparedRequest,
)
from api.services import Services
from indexer.aef import (
    USE_ACTIONS,
    aef_csv,
    aef_document,
    aef_xlsx,
    build_aef,
    itmo_identifier,
    load_mirror_facts,
)
from indexer.models import (
    Account,
    Article6Action,
    Article6Approach,
    Article6ApproachParty,
    Article6Authorization,
    Article6Config,
    Article6ItmoTransfer,
    Article6Party,
    Article6PartyAdministrator,
    BlockHash,
    Issuance,
    UnitBlock,
    table_of,
)

__all__ = ["router"]

router = APIRouter(prefix="/article6", tags=["article6"])

_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_ACCOUNTS = table_of(Account)
_PARTIES = table_of(Article6Party)
_PARTY_ADMINS = table_of(Article6PartyAdministrator)
_APPROACHES = table_of(Article6Approach)
_APPROACH_PARTIES = table_of(Article6ApproachParty)
_AUTHORIZATIONS = table_of(Article6Authorization)
_ACTIONS = table_of(Article6Action)
_ITMO_TRANSFERS = table_of(Article6ItmoTransfer)
_CONFIG = table_of(Article6Config)
_BLOCK_HASHES = table_of(BlockHash)

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _prepare_with(
    services: Services, build: Callable[[Resolver, Any], dict[str, Any]], intent: Any
) -> PreparedRequest:
    return prepare_request(services, lambda r: build(r, intent))


# -- writes: Parties, approaches, mechanism accounts ---------------------------------------


@router.post("/parties/prepare", response_model=PreparedRequest)
def prepare_party(intent: PartyIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare registering a Party's section or replacing its authority and administrators."""
    return _prepare_with(services, build_party, intent)


submit_route(router, "/parties", "article6/parties")


@router.post("/cooperative-approaches/prepare", response_model=PreparedRequest)
def prepare_cooperative_approach(
    intent: CooperativeApproachIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare registering a cooperative approach and its participating Parties."""
    return _prepare_with(services, build_cooperative_approach, intent)


submit_route(router, "/cooperative-approaches", "article6/cooperative-approaches")


@router.post("/mechanism-accounts/prepare", response_model=PreparedRequest)
def prepare_mechanism_accounts(
    intent: MechanismAccountsIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare naming the Article 6.4 mechanism accounts (pending, holding, cancellation, ...)."""
    return _prepare_with(services, build_mechanism_accounts, intent)


submit_route(router, "/mechanism-accounts", "article6/mechanism-accounts")


# -- writes: authorization, Article 6.4 issuance -------------------------------------------


@router.post("/authorizations/prepare", response_model=PreparedRequest)
def prepare_authorization(intent: AuthorizationIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare applying a Party's letter of authorization to units of its section."""
    return _prepare_with(services, build_authorization, intent)


submit_route(router, "/authorizations", "article6/authorizations")


@router.post("/issuances/prepare", response_model=PreparedRequest)
def prepare_article64(intent: Article64IssuanceIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare an Article 6.4 issuance: pending account, 5% share of proceeds, 2% OMGE, forwards."""
    return _prepare_with(services, build_article64, intent)


submit_route(router, "/issuances", "article6/issuances")


# -- writes: ITMO transfers, uses and cancellations ----------------------------------------


@router.post("/transfers/prepare", response_model=PreparedRequest)
def prepare_itmo_transfer(intent: ItmoTransferIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare a transfer of ITMOs of one authorization."""
    return _prepare_with(services, build_itmo_transfer, intent)


submit_route(router, "/transfers", "article6/transfers")


@router.post("/transfers/out/prepare", response_model=PreparedRequest)
def prepare_itmo_transfer_out(intent: ItmoTransferIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare a transfer of ITMOs to a peer registry's account (decision D47); also what
    `transfers/prepare` returns for such an account."""
    return _prepare_with(services, build_itmo_transfer, intent)


submit_route(router, "/transfers/out", "article6/transfers/out")


@router.post("/transfers/{transfer_id}/approve/prepare", response_model=PreparedRequest)
def prepare_itmo_approve(
    transfer_id: TransferId, intent: ApproveIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare approving a pending ITMO transfer."""
    return prepare_request(
        services, lambda r: build_itmo_decision(r, transfer_id, intent.signer, True)
    )


submit_route(
    router, "/transfers/{transfer_id}/approve", "article6/transfers/approve", transfer_id=TransferId
)


@router.post("/transfers/{transfer_id}/rescind/prepare", response_model=PreparedRequest)
def prepare_itmo_rescind(
    transfer_id: TransferId, intent: ApproveIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare rescinding a pending ITMO transfer."""
    return prepare_request(
        services, lambda r: build_itmo_decision(r, transfer_id, intent.signer, False)
    )


submit_route(
    router, "/transfers/{transfer_id}/rescind", "article6/transfers/rescind", transfer_id=TransferId
)


@router.post("/cancellations/prepare", response_model=PreparedRequest)
def prepare_itmo_cancellation(
    intent: ItmoCancellationIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare using ITMOs towards an NDC or OIMP, or cancelling them (voluntary, OMGE)."""
    return _prepare_with(services, build_itmo_cancellation, intent)


submit_route(router, "/cancellations", "article6/cancellations")


# -- Party scope -----------------------------------------------------------------------------


def _party_filter(value: Any) -> str:
    text = str(value)
    if (
        not text
        or len(text) > 8
        or not all(c.isascii() and (c.isalnum() or c in "_-") for c in text)
    ):
        raise refuse(
            "INVALID_FILTER", "Filter `party`: a Party code is 1 to 8 letters, digits, _ or -."
        )
    return text


PartyQuery = Annotated[
    str,
    BeforeValidator(_party_filter),
    Query(description="A Party code, e.g. JP.", examples=["JP"]),
]


def require_party(caller: Caller, snapshot: Snapshot, party: str) -> None:
    """Refuse a caller outside the Party's section (before looking it up), then an unknown Party."""
    if not caller.may_read_party(party):
        raise refuse(
            "NOT_AUTHORISED",
            f"{caller.address} may not read Party {party}'s section: only its administrators and "
            "the registry administrator may.",
        )
    found = snapshot.conn.execute(select(_PARTIES.c.party).where(_PARTIES.c.party == party))
    if found.first() is None:
        raise refuse("PARTY_NOT_FOUND", f"No Party {party!r} is registered.")


# -- reads: Parties, approaches, authorizations --------------------------------------------


class PartyPublic(BaseModel):
    """A participating Party's section."""

    party: str
    registry_id: str
    label_authority: str
    cooperative_approaches: list[str]
    administrators: list[str] | None = Field(
        description="Shown to the registry administrator and the Party's own administrators."
    )
    registered_block: int
    tx_hash: str


class ApproachPublic(BaseModel):
    """A cooperative approach and its participating Parties."""

    approach_id: str
    name: str
    parties: list[str]
    registered_block: int
    tx_hash: str


class AuthorizationPublic(BaseModel):
    """A Party's letter of authorization as recorded on-chain."""

    authorization_id: int = Field(description="The registry's number; ITMOs are locked by it.")
    party: str
    letter_id: str = Field(description="The authorization ID of the Party's letter.")
    cooperative_approach: str
    purposes: list[str]
    first_transfer_definition: str
    date: str
    block_number: int
    tx_hash: str


_PARTY_LISTING = Listing(
    sorts={"party": SortKey(_PARTIES.c.party, str)},
    key=(SortKey(_PARTIES.c.party, str),),
    default="party",
)
_APPROACH_LISTING = Listing(
    sorts={"approach_id": SortKey(_APPROACHES.c.approach_id, str)},
    key=(SortKey(_APPROACHES.c.approach_id, str),),
    default="approach_id",
)
_AUTHORIZATION_LISTING = Listing(
    sorts={"authorization_id": SortKey(_AUTHORIZATIONS.c.id)},
    key=(SortKey(_AUTHORIZATIONS.c.id),),
    default="authorization_id",
)


@router.get("/parties", response_model=Page[PartyPublic], responses=CSV_RESPONSES)
def list_parties(
    caller: CurrentCaller, page: PageDep, snapshot: SnapshotDep
) -> Page[PartyPublic] | Response:
    """List the registered Parties (any signed-in caller); administrators only where in scope."""
    conn = snapshot.conn
    rows, cursor = fetch_page(snapshot, _PARTY_LISTING, page, select(_PARTIES))
    codes = [r.party for r in rows]
    approaches: dict[str, list[str]] = {}
    for r in conn.execute(
        select(_APPROACH_PARTIES)
        .where(_APPROACH_PARTIES.c.party.in_(codes))
        .order_by(_APPROACH_PARTIES.c.approach_id)
    ):
        approaches.setdefault(r.party, []).append(r.approach_id)
    admins: dict[str, list[str]] = {}
    for r in conn.execute(
        select(_PARTY_ADMINS)
        .where(_PARTY_ADMINS.c.party.in_(codes))
        .order_by(_PARTY_ADMINS.c.address)
    ):
        admins.setdefault(r.party, []).append(r.address)
    items = [
        PartyPublic(
            party=r.party,
            registry_id=r.registry_id,
            label_authority=r.label_authority,
            cooperative_approaches=approaches.get(r.party, []),
            administrators=admins.get(r.party, []) if caller.may_read_party(r.party) else None,
            registered_block=r.registered_block,
            tx_hash=r.tx_hash,
        )
        for r in rows
    ]
    return list_response(PartyPublic, items, cursor, snapshot, page)


@router.get("/cooperative-approaches", response_model=Page[ApproachPublic], responses=CSV_RESPONSES)
def list_approaches(
    _caller: CurrentCaller, page: PageDep, snapshot: SnapshotDep
) -> Page[ApproachPublic] | Response:
    """List the cooperative approaches and their participating Parties."""
    conn = snapshot.conn
    rows, cursor = fetch_page(snapshot, _APPROACH_LISTING, page, select(_APPROACHES))
    parties: dict[str, list[str]] = {}
    for r in conn.execute(
        select(_APPROACH_PARTIES)
        .where(_APPROACH_PARTIES.c.approach_id.in_([row.approach_id for row in rows]))
        .order_by(_APPROACH_PARTIES.c.party)
    ):
        parties.setdefault(r.approach_id, []).append(r.party)
    items = [
        ApproachPublic(
            approach_id=r.approach_id,
            name=r.name,
            parties=parties.get(r.approach_id, []),
            registered_block=r.registered_block,
            tx_hash=r.tx_hash,
        )
        for r in rows
    ]
    return list_response(ApproachPublic, items, cursor, snapshot, page)


def _authorization(r: Any) -> AuthorizationPublic:
    return AuthorizationPublic(
        authorization_id=r.id,
        party=r.party,
        letter_id=r.letter_id,
        cooperative_approach=r.approach_id,
        purposes=r.purposes.split(","),
        first_transfer_definition=r.first_transfer_definition,
        date=datetime.fromtimestamp(r.authorized_at, UTC).date().isoformat(),
        block_number=r.block_number,
        tx_hash=r.tx_hash,
    )


@router.get("/authorizations", response_model=Page[AuthorizationPublic], responses=CSV_RESPONSES)
def list_authorizations(
    party: PartyQuery, caller: CurrentCaller, page: PageDep, snapshot: SnapshotDep
) -> Page[AuthorizationPublic] | Response:
    """List a Party's letters of authorization (its administrators, the registry administrator)."""
    require_party(caller, snapshot, party)
    query = select(_AUTHORIZATIONS).where(_AUTHORIZATIONS.c.party == party)
    rows, cursor = fetch_page(snapshot, _AUTHORIZATION_LISTING, page, query)
    items = [_authorization(r) for r in rows]
    return list_response(AuthorizationPublic, items, cursor, snapshot, page)


# -- reads: ITMOs ----------------------------------------------------------------------------


class ItmoBlock(BaseModel):
    """A block of ITMOs in a Party's section, with its first and last unique identifiers (A1)."""

    first_unique_identifier: str
    last_unique_identifier: str
    cooperative_approach: str
    originating_registry: str
    first_transferring_party: str
    start: int
    end: int
    quantity: int
    vintage: int
    unit_type: str
    project_id: str
    account_id: str
    state: str
    authorization_id: int
    letter_id: str
    authorized_purposes: list[str]
    first_transferred: bool


_ITMO_STATES = ("held", "pending", "cancelled")


def _uses() -> Any:
    a = _ACTIONS.c
    return (
        select(a.operation_id, func.min(a.authorization_id).label("authorization_id"))
        .where(a.action.in_(sorted(USE_ACTIONS)))
        .group_by(a.operation_id)
        .subquery("uses")
    )


def itmo_query(party: str) -> Select[Any]:
    """Return the select of ITMO blocks in a Party's section with their authorization.

    Authorized units are Held under their authorization's id, Pending under an ITMO transfer
    that names it, or Cancelled under a use that recorded it.
    """
    b, i, a, au = _BLOCKS.c, _ISSUANCES.c, _ACCOUNTS.c, _AUTHORIZATIONS.c
    uses, t = _uses(), _ITMO_TRANSFERS
    authorization = case(
        (b.state == "held", b.lock_id),
        (b.state == "pending", t.c.authorization_id),
        else_=uses.c.authorization_id,
    )
    joined = (
        _BLOCKS.join(_ACCOUNTS, a.id == b.account_id)
        .join(_ISSUANCES, i.id == b.issuance_id)
        .outerjoin(t, and_(b.state == "pending", t.c.transfer_id == b.lock_id))
        .outerjoin(uses, and_(b.state == "cancelled", uses.c.operation_id == b.lock_id))
        .join(_AUTHORIZATIONS, au.id == authorization)
        .outerjoin(_PARTIES, _PARTIES.c.party == au.party)
    )
    return (
        select(
            b.start,
            b.end,
            b.state,
            b.account_id,
            b.labels,
            i.vintage,
            i.unit_type,
            i.project_id,
            i.origin_registry,
            _PARTIES.c.registry_id.label("party_registry_id"),
            au.id.label("authorization_id"),
            au.party.label("authorizing_party"),
            au.approach_id,
            au.letter_id,
            au.purposes,
        )
        .select_from(joined)
        .where(a.party == party, b.lock_id != 0)
    )


_ITMO_LISTING = Listing(
    sorts={
        "start": SortKey(_BLOCKS.c.start),
        "vintage": SortKey(_ISSUANCES.c.vintage),
        "authorization_id": SortKey(_AUTHORIZATIONS.c.id),
    },
    key=(SortKey(_BLOCKS.c.start),),
    default="start",
)


def _first_transferred_label(snapshot: Snapshot) -> int | None:
    value = snapshot.conn.execute(select(_CONFIG.c.first_transferred_label)).scalar()
    return None if value is None else int(value)


def _itmo(code: str, r: Any, label: int | None) -> ItmoBlock:
    # A1: the originating Party's registry id, not the registry code the units carry.
    approach, origin, party = r.approach_id, r.party_registry_id or "", r.authorizing_party
    return ItmoBlock(
        first_unique_identifier=itmo_identifier(approach, origin, party, r.start, r.vintage),
        last_unique_identifier=itmo_identifier(approach, origin, party, r.end, r.vintage),
        cooperative_approach=approach,
        originating_registry=origin,
        first_transferring_party=party,
        start=r.start,
        end=r.end,
        quantity=r.end - r.start + 1,
        vintage=r.vintage,
        unit_type=r.unit_type,
        project_id=r.project_id,
        account_id=format_account(code, r.account_id),
        state=r.state,
        authorization_id=r.authorization_id,
        letter_id=r.letter_id,
        authorized_purposes=r.purposes.split(","),
        first_transferred=label is not None and bool(int(r.labels) >> label & 1),
    )


def _itmo_page(
    services: Services,
    snapshot: Snapshot,
    page: PageParams,
    party: str,
    states: tuple[str, ...],
    authorization_id: int | None,
) -> tuple[list[ItmoBlock], str | None]:
    query = itmo_query(party).where(_BLOCKS.c.state.in_(states))
    if authorization_id is not None:
        query = query.where(_AUTHORIZATIONS.c.id == authorization_id)
    rows, cursor = fetch_page(snapshot, _ITMO_LISTING, page, query)
    label = _first_transferred_label(snapshot)
    return [_itmo(services.registry_code, r, label) for r in rows], cursor


@router.get("/itmos", response_model=Page[ItmoBlock])
def list_itmos(
    party: PartyQuery,
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
    state: Annotated[
        str | None,
        BeforeValidator(choice_filter("state", _ITMO_STATES)),
        Query(description="held, pending or cancelled; without it, held and pending."),
    ] = None,
    authorization_id: Annotated[
        int | None, BeforeValidator(int_filter("authorization_id", 1)), Query()
    ] = None,
) -> Page[ItmoBlock] | Response:
    """List the ITMO blocks of a Party's section with their unique identifiers. Sort: start, ..."""
    require_party(caller, snapshot, party)
    states = (state,) if state else ("held", "pending")
    items, cursor = _itmo_page(services, snapshot, page, party, states, authorization_id)
    return list_response(ItmoBlock, items, cursor, snapshot, page)


# -- reads: the AEF --------------------------------------------------------------------------


def _aef_format(value: Any) -> str:
    if value not in ("json", "csv", "xlsx"):
        raise refuse("INVALID_FORMAT", f"`format` must be json, csv or xlsx, got {value!r}.")
    return str(value)


def _block_time(snapshot: Snapshot) -> int:
    block = snapshot.as_of_block
    return block_times(snapshot, [block]).get(block, int(time.time()))


def _signed(services: Services, body: bytes, media_type: str, **headers: str) -> Response:
    signature = services.response_key.headers(body)
    return Response(body, media_type=media_type, headers={**headers, **signature})


def _json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_SIGNED_HEADERS = {
    SIGNATURE_HEADER: {"description": "Base64 Ed25519 signature of the exact body bytes."},
    KEY_ID_HEADER: {"description": "Id of the key, as GET /v1/article6/pull/key publishes it."},
}


@router.get(
    "/aef",
    dependencies=[Depends(reject_unknown_parameters)],
    responses={
        200: {
            "description": "The AEF as JSON, CSV (the three tables, each titled) or XLSX.",
            "headers": _SIGNED_HEADERS,
            "content": {"text/csv": {}, _XLSX: {}},
        }
    },
)
def get_aef(
    party: PartyQuery,
    year: Annotated[int, BeforeValidator(int_filter("year", 1900, 9999)), Query()],
    caller: CurrentCaller,
    services: ServicesDep,
    snapshot: SnapshotDep,
    output: Annotated[str, BeforeValidator(_aef_format), Query(alias="format")] = "json",
    table: Annotated[
        str | None,
        BeforeValidator(choice_filter("table", ("heading", "actions", "holdings"))),
        Query(description="With format=csv: one table alone, as plain CSV."),
    ] = None,
) -> Response:
    """Return a Party's AEF for a year: heading, actions and holdings, from chain data (A4)."""
    require_party(caller, snapshot, party)
    if table is not None and output != "csv":
        raise refuse("INVALID_FILTER", "Filter `table` applies to format=csv only.")
    facts = load_mirror_facts(snapshot.conn, party, snapshot.as_of_block)
    report = build_aef(facts, party, year, _block_time(snapshot))
    headers = {"X-As-Of-Block": str(snapshot.as_of_block)}
    if output == "csv":
        body = aef_csv(report, table).encode()
        return _signed(services, body, "text/csv; charset=utf-8", **headers)
    if output == "xlsx":
        disposition = f'attachment; filename="aef-{party}-{year}.xlsx"'
        return _signed(
            services, aef_xlsx(report), _XLSX, **headers, **{"Content-Disposition": disposition}
        )
    body = _json_bytes(aef_document(report, snapshot.as_of_block))
    return _signed(services, body, "application/json", **headers)


# -- pull-and-view (A5) ----------------------------------------------------------------------


class ResponseKeyPublic(BaseModel):
    """The key this registry signs pull-and-view responses with."""

    algorithm: str = "Ed25519"
    key_id: str
    public_key: str = Field(description="The raw 32-byte public key, base64.")
    public_key_pem: str
    signature_header: str = SIGNATURE_HEADER
    key_id_header: str = KEY_ID_HEADER
    signed_bytes: str = "the response body, exactly as received"


@router.get("/pull/key", response_model=ResponseKeyPublic)
def pull_key(services: ServicesDep) -> ResponseKeyPublic:
    """Publish the public key that verifies pull-and-view responses (no sign-in needed)."""
    key = services.response_key
    return ResponseKeyPublic(
        key_id=key.key_id,
        public_key=base64.b64encode(key.public_raw).decode("ascii"),
        public_key_pem=key.public_pem,
    )


class ActionRecord(BaseModel):
    """One Article 6 action on one serial range, as the chain recorded it."""

    record_id: str
    action: str
    party: str
    counterparty: str | None
    account_id: str
    authorization_id: int
    letter_id: str
    cooperative_approach: str
    first_transferring_party: str
    first_unique_identifier: str
    last_unique_identifier: str
    start: int
    end: int
    quantity: int
    vintage: int
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: str | None


def _envelope(
    services: Services,
    request: Request,
    snapshot: Snapshot,
    party: str,
    kind: str,
    items: list[BaseModel],
    cursor: str | None,
) -> Response:
    deployment = services.deployment
    document = {
        "registry_code": deployment.registry_code,
        "chain_id": deployment.chain_id,
        "registry": deployment.registry,
        "party": party,
        "kind": kind,
        "request": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "as_of_block": snapshot.as_of_block,
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "items": [item.model_dump(mode="json") for item in items],
        "next_cursor": cursor,
    }
    return _signed(services, _json_bytes(document), "application/json")


_PULL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A signed JSON document (see GET /v1/article6/pull/key).",
        "headers": _SIGNED_HEADERS,
    },
}


def _json_only(page: PageParams) -> None:
    if page.format != "json":
        raise refuse("INVALID_FORMAT", "Pull-and-view answers signed JSON only.")


@router.get("/pull/holdings", responses=_PULL_RESPONSES)
def pull_holdings(
    party: PartyQuery,
    request: Request,
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
) -> Response:
    """Pull a Party's ITMO holdings (held and pending blocks), signed by this registry."""
    require_party(caller, snapshot, party)
    _json_only(page)
    items, cursor = _itmo_page(services, snapshot, page, party, ("held", "pending"), None)
    return _envelope(services, request, snapshot, party, "holdings", list(items), cursor)


_ACTION_LISTING = Listing(
    sorts={"block_number": SortKey(_ACTIONS.c.block_number)},
    key=(SortKey(_ACTIONS.c.block_number), SortKey(_ACTIONS.c.log_index)),
    default="block_number",
)


@router.get("/pull/actions", responses=_PULL_RESPONSES)
def pull_actions(
    party: PartyQuery,
    request: Request,
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
    since_block: Annotated[
        int | None,
        BeforeValidator(int_filter("since_block", 0)),
        Query(description="Only actions recorded in this block or later."),
    ] = None,
) -> Response:
    """Pull the action history of a Party's ITMOs, in chain order, signed by this registry."""
    require_party(caller, snapshot, party)
    _json_only(page)
    a, au, i = _ACTIONS.c, _AUTHORIZATIONS.c, _ISSUANCES.c
    # The issuance of a range is the one starting last at or before its first serial.
    before = _ISSUANCES.alias("before").c
    issuance_id = (
        select(before.id)
        .where(before.start <= a.start)
        .order_by(before.start.desc())
        .limit(1)
        .correlate(_ACTIONS)
        .scalar_subquery()
    )
    query = (
        select(
            _ACTIONS,
            au.letter_id,
            au.approach_id,
            au.party.label("authorizing_party"),
            i.vintage,
            i.origin_registry,
            _PARTIES.c.registry_id.label("party_registry_id"),
            _BLOCK_HASHES.c.timestamp,
        )
        .select_from(
            _ACTIONS.join(_AUTHORIZATIONS, au.id == a.authorization_id)
            .outerjoin(_PARTIES, _PARTIES.c.party == au.party)
            .join(_ISSUANCES, i.id == issuance_id)
            .outerjoin(_BLOCK_HASHES, _BLOCK_HASHES.c.number == a.block_number)
        )
        .where(a.party == party)
    )
    if since_block is not None:
        query = query.where(a.block_number >= since_block)
    rows, cursor = fetch_page(snapshot, _ACTION_LISTING, page, query)
    code = services.registry_code
    items: list[BaseModel] = []
    for r in rows:
        parts = (r.approach_id, r.party_registry_id or "", r.authorizing_party)
        items.append(
            ActionRecord(
                record_id=f"A6-{r.block_number}-{r.log_index}",
                action=r.action,
                party=r.party,
                counterparty=r.counterparty or None,
                account_id=format_account(code, r.account_id),
                authorization_id=r.authorization_id,
                letter_id=r.letter_id,
                cooperative_approach=r.approach_id,
                first_transferring_party=r.authorizing_party,
                first_unique_identifier=itmo_identifier(*parts, r.start, r.vintage),
                last_unique_identifier=itmo_identifier(*parts, r.end, r.vintage),
                start=r.start,
                end=r.end,
                quantity=r.end - r.start + 1,
                vintage=r.vintage,
                block_number=r.block_number,
                log_index=r.log_index,
                tx_hash=r.tx_hash,
                timestamp=iso_time(r.timestamp),
            )
        )
    return _envelope(services, request, snapshot, party, "actions", items, cursor)
