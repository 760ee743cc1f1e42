"""The public registers: projects, issuances, units and labels (API.md, no authentication).

Registers never name holders: no account ids, holder names or representatives appear here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, WithJsonSchema
from sqlalchemy import func, select

from api.deps import ServicesDep
from api.paging import (
    CSV_RESPONSES,
    SHEET_RESPONSES,
    XLSX,
    Page,
    PageDep,
    SheetPageDep,
    SnapshotDep,
    block_times,
    choice_filter,
    fetch_page,
    int_filter,
    iso_time,
    list_response,
    reject_unknown_parameters,
    text_filter,
    time_filter,
)
from api.problems import refuse
from api.queries.holdings import label_list, label_names
from api.queries.public import (
    CANCELLATION_LISTING,
    ISSUANCE_LISTING,
    LABEL_LISTING,
    MAX_SERIAL,
    PROJECT_LISTING,
    CancellationFilters,
    cancellation_ranges,
    cancellations_query,
    check_project_id,
    parse_serial,
    project_search,
    unit_block,
)
from indexer.cadt import CadtSource, cadt_document, cadt_xlsx
from indexer.models import (
    Association,
    Cancellation,
    Issuance,
    Label,
    Project,
    UnitBlock,
    table_of,
)
from node.contracts import CancellationPurpose

__all__ = ["router"]

router = APIRouter(prefix="/registers", tags=["registers"])

_PROJECTS = table_of(Project)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)
_BLOCKS = table_of(UnitBlock)
_CANCELLATIONS = table_of(Cancellation)
_ASSOCIATIONS = table_of(Association)

# -- schemas ---------------------------------------------------------------------------------


class ProjectPublic(BaseModel):
    """A registered project."""

    project_id: str
    name: str
    methodology: str
    country: str
    registered_block: int
    tx_hash: str


class VintageTotal(BaseModel):
    """Units of a project issued and cancelled, per unit type and vintage."""

    unit_type: str
    vintage: int
    issued: int
    cancelled: int


class ProjectDetail(ProjectPublic):
    """A project with its issuance totals."""

    issuance_count: int
    issued_quantity: int
    cancelled_quantity: int
    vintages: list[VintageTotal]
    as_of_block: int


class IssuancePublic(BaseModel):
    """An issuance: one serial range of one project, unit type and vintage."""

    issuance_id: int
    project_id: str
    unit_type: str
    vintage: int
    monitoring_period_start: str
    monitoring_period_end: str
    origin_registry: str
    start: int
    end: int
    quantity: int
    block_number: int
    tx_hash: str
    timestamp: str | None


class SerialBlock(BaseModel):
    """The inclusive serial range of a unit block."""

    start: int
    end: int


class CancellationPublic(BaseModel):
    """The cancellation a cancelled unit belongs to."""

    cancellation_id: int
    purpose: str
    beneficiary: str
    reason: str
    quantity: int
    block_number: int
    tx_hash: str
    timestamp: str | None


class AssociationPublic(BaseModel):
    """The third-party certificate a unit backs (C.1), or backed until its retirement."""

    association_id: int
    third_party_registry: str
    certificate_id: str
    status: str


class UnitPublic(BaseModel):
    """One serial: its block, attributes, state and labels; never its holder."""

    serial: int
    block: SerialBlock
    unit_type: str
    project_id: str
    vintage: int
    issuance_id: int
    state: str
    labels: list[str]
    cancellation: CancellationPublic | None
    association: AssociationPublic | None = None
    as_of_block: int


class LabelPublic(BaseModel):
    """A label definition and the authority that applies it."""

    label_id: int
    name: str
    authority: str
    defined_block: int
    tx_hash: str


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


# -- projects --------------------------------------------------------------------------------


def _project(row: Any) -> ProjectPublic:
    return ProjectPublic(
        project_id=row.id,
        name=row.name,
        methodology=row.methodology,
        country=row.country,
        registered_block=row.registered_block,
        tx_hash=row.tx_hash,
    )


@router.get("/projects", response_model=Page[ProjectPublic], responses=CSV_RESPONSES)
def list_projects(
    page: PageDep,
    snapshot: SnapshotDep,
    country: Annotated[str | None, BeforeValidator(text_filter("country")), Query()] = None,
    methodology: Annotated[str | None, BeforeValidator(text_filter("methodology")), Query()] = None,
    q: Annotated[
        str | None,
        BeforeValidator(text_filter("q")),
        Query(description="Free text: in the id, name, methodology or country, any case."),
    ] = None,
) -> Page[ProjectPublic] | Response:
    """List registered projects. Sort: project_id, name, country, registered_block."""
    query = select(_PROJECTS)
    if q is not None:
        query = query.where(project_search(q))
    if country is not None:
        query = query.where(_PROJECTS.c.country == country)
    if methodology is not None:
        query = query.where(_PROJECTS.c.methodology == methodology)
    rows, cursor = fetch_page(snapshot, PROJECT_LISTING, page, query)
    return list_response(ProjectPublic, [_project(r) for r in rows], cursor, snapshot, page)


@router.get("/projects/{project_id}", response_model=ProjectDetail)
def get_project(
    project_id: Annotated[str, Path(description="The project's identifier.")],
    snapshot: SnapshotDep,
) -> ProjectDetail:
    """Return a project with its units issued and cancelled per unit type and vintage."""
    check_project_id(project_id)
    conn = snapshot.conn
    row = conn.execute(select(_PROJECTS).where(_PROJECTS.c.id == project_id)).first()
    if row is None:
        raise refuse("PROJECT_NOT_FOUND", f"There is no project {project_id!r}.")
    i = _ISSUANCES.c
    issued = conn.execute(
        select(i.unit_type, i.vintage, func.count().label("n"), func.sum(i.quantity).label("q"))
        .where(i.project_id == project_id)
        .group_by(i.unit_type, i.vintage)
    ).all()
    cancelled = {
        (r.unit_type, r.vintage): int(r.q)
        for r in conn.execute(
            select(i.unit_type, i.vintage, func.sum(_BLOCKS.c.end - _BLOCKS.c.start + 1).label("q"))
            .select_from(_BLOCKS.join(_ISSUANCES, i.id == _BLOCKS.c.issuance_id))
            .where(i.project_id == project_id, _BLOCKS.c.state == "cancelled")
            .group_by(i.unit_type, i.vintage)
        )
    }
    vintages = sorted(
        (
            VintageTotal(
                unit_type=r.unit_type,
                vintage=r.vintage,
                issued=int(r.q),
                cancelled=cancelled.get((r.unit_type, r.vintage), 0),
            )
            for r in issued
        ),
        key=lambda v: (v.unit_type, v.vintage),
    )
    return ProjectDetail(
        **_project(row).model_dump(),
        issuance_count=sum(int(r.n) for r in issued),
        issued_quantity=sum(v.issued for v in vintages),
        cancelled_quantity=sum(v.cancelled for v in vintages),
        vintages=vintages,
        as_of_block=snapshot.as_of_block,
    )


# -- issuances -------------------------------------------------------------------------------


@router.get("/issuances", response_model=Page[IssuancePublic], responses=CSV_RESPONSES)
def list_issuances(
    page: PageDep,
    snapshot: SnapshotDep,
    project_id: Annotated[str | None, BeforeValidator(text_filter("project_id")), Query()] = None,
    unit_type: Annotated[str | None, BeforeValidator(text_filter("unit_type")), Query()] = None,
    vintage: Annotated[
        int | None, BeforeValidator(int_filter("vintage", 0, 65535)), Query()
    ] = None,
    origin_registry: Annotated[
        str | None, BeforeValidator(text_filter("origin_registry")), Query()
    ] = None,
) -> Page[IssuancePublic] | Response:
    """List issuances. Sort: issuance_id, vintage, quantity, block_number, project_id, start."""
    i = _ISSUANCES.c
    query = select(
        i.id,
        i.project_id,
        i.unit_type,
        i.vintage,
        i.monitoring_start,
        i.monitoring_end,
        i.origin_registry,
        i.start,
        i.end,
        i.quantity,
        i.block_number,
        i.tx_hash,
    )
    for column, value in (
        (i.project_id, project_id),
        (i.unit_type, unit_type),
        (i.vintage, vintage),
        (i.origin_registry, origin_registry),
    ):
        if value is not None:
            query = query.where(column == value)
    rows, cursor = fetch_page(snapshot, ISSUANCE_LISTING, page, query)
    times = block_times(snapshot, [r.block_number for r in rows])
    items = [
        IssuancePublic(
            issuance_id=r.id,
            project_id=r.project_id,
            unit_type=r.unit_type,
            vintage=r.vintage,
            monitoring_period_start=_date(r.monitoring_start),
            monitoring_period_end=_date(r.monitoring_end),
            origin_registry=r.origin_registry,
            start=r.start,
            end=r.end,
            quantity=r.quantity,
            block_number=r.block_number,
            tx_hash=r.tx_hash,
            timestamp=iso_time(times.get(r.block_number)),
        )
        for r in rows
    ]
    return list_response(IssuancePublic, items, cursor, snapshot, page)


# -- cancellations ---------------------------------------------------------------------------

_PURPOSES = tuple(p.name.lower() for p in CancellationPurpose)


class CancellationRow(BaseModel):
    """A cancellation's units of one issuance: who they were retired for, why and when.

    A cancellation drawing on several issuances has one row per issuance (decision D34), each
    with the same `cancellation_id`; `quantity` and `ranges` are that issuance's part.
    """

    cancellation_id: int
    issuance_id: int
    ranges: list[SerialBlock]
    quantity: int
    unit_type: str
    project_id: str
    vintage: int
    purpose: str
    beneficiary: str
    reason: str
    block_number: int
    timestamp: str | None
    tx_hash: str


@router.get("/cancellations", response_model=Page[CancellationRow], responses=SHEET_RESPONSES)
def list_cancellations(
    page: SheetPageDep,
    snapshot: SnapshotDep,
    beneficiary: Annotated[
        str | None,
        BeforeValidator(text_filter("beneficiary")),
        Query(description="Part of the beneficiary's name, any case."),
    ] = None,
    project_id: Annotated[str | None, BeforeValidator(text_filter("project_id")), Query()] = None,
    unit_type: Annotated[str | None, BeforeValidator(text_filter("unit_type")), Query()] = None,
    vintage: Annotated[
        int | None, BeforeValidator(int_filter("vintage", 0, 65535)), Query()
    ] = None,
    purpose: Annotated[
        str | None,
        BeforeValidator(choice_filter("purpose", _PURPOSES)),
        Query(description=f"One of {', '.join(_PURPOSES)}."),
    ] = None,
    since: Annotated[
        int | None,
        BeforeValidator(time_filter("since")),
        Query(description="ISO 8601 date or date-time: cancelled at or after it."),
    ] = None,
    until: Annotated[
        int | None,
        BeforeValidator(time_filter("until")),
        Query(description="ISO 8601 date or date-time: cancelled before it."),
    ] = None,
    q: Annotated[
        str | None,
        BeforeValidator(text_filter("q")),
        Query(description="Free text: in the beneficiary, reason, project id or tx hash."),
    ] = None,
) -> Page[CancellationRow] | Response:
    """List retirements (cancelled units), public. Sort: cancellation_id, timestamp, quantity,
    vintage, project_id, beneficiary. `format=csv` or `xlsx` for a spreadsheet."""
    filters = CancellationFilters(
        beneficiary=beneficiary,
        project_id=project_id,
        unit_type=unit_type,
        vintage=vintage,
        purpose=purpose,
        since=since,
        until=until,
        q=q,
    )
    rows, cursor = fetch_page(snapshot, CANCELLATION_LISTING, page, cancellations_query(filters))
    ranges = cancellation_ranges(snapshot.conn, [r.cancellation_id for r in rows])
    items = [
        CancellationRow(
            cancellation_id=r.cancellation_id,
            issuance_id=r.issuance_id,
            ranges=[
                SerialBlock(start=s, end=e)
                for s, e in ranges.get((r.cancellation_id, r.issuance_id), [])
            ],
            quantity=int(r.quantity),
            unit_type=r.unit_type,
            project_id=r.project_id,
            vintage=r.vintage,
            purpose=r.purpose,
            beneficiary=r.beneficiary,
            reason=r.reason,
            block_number=r.block_number,
            timestamp=iso_time(r.timestamp),
            tx_hash=r.tx_hash,
        )
        for r in rows
    ]
    return list_response(CancellationRow, items, cursor, snapshot, page)


# -- units -----------------------------------------------------------------------------------


@router.get("/units/{serial}", response_model=UnitPublic)
def get_unit(
    serial: Annotated[str, Path(description=f"A serial number, 1 to {MAX_SERIAL}.")],
    snapshot: SnapshotDep,
) -> UnitPublic:
    """Return the block, attributes, state and labels of one serial, and its cancellation."""
    number = parse_serial(serial)
    conn = snapshot.conn
    row = unit_block(conn, number)
    if row is None:
        raise refuse("UNIT_NOT_FOUND", f"Serial {number} has not been issued.")
    cancellation = None
    if row.state == "cancelled":
        c = conn.execute(select(_CANCELLATIONS).where(_CANCELLATIONS.c.id == row.lock_id)).first()
        if c is not None:
            times = block_times(snapshot, [c.block_number])
            cancellation = CancellationPublic(
                cancellation_id=c.id,
                purpose=c.purpose,
                beneficiary=c.beneficiary,
                reason=c.reason,
                quantity=c.quantity,
                block_number=c.block_number,
                tx_hash=c.tx_hash,
                timestamp=iso_time(times.get(c.block_number)),
            )
    association = None
    if row.state in ("associated", "cancelled"):
        # An associated block's lock is its association; a retired one's is the cancellation.
        a_ = _ASSOCIATIONS.c
        column = a_.id if row.state == "associated" else a_.cancellation_id
        a = conn.execute(select(_ASSOCIATIONS).where(column == row.lock_id)).first()
        if a is not None:
            association = AssociationPublic(
                association_id=a.id,
                third_party_registry=a.third_party_registry,
                certificate_id=a.certificate_id,
                status=a.status,
            )
    return UnitPublic(
        serial=number,
        block=SerialBlock(start=row.start, end=row.end),
        unit_type=row.unit_type,
        project_id=row.project_id,
        vintage=row.vintage,
        issuance_id=row.issuance_id,
        state=row.state,
        labels=label_list(int(row.labels), label_names(conn)) if row.labels else [],
        cancellation=cancellation,
        association=association,
        as_of_block=snapshot.as_of_block,
    )


# -- labels ----------------------------------------------------------------------------------


@router.get("/labels", response_model=Page[LabelPublic], responses=CSV_RESPONSES)
def list_labels(
    page: PageDep,
    snapshot: SnapshotDep,
    name: Annotated[str | None, BeforeValidator(text_filter("name")), Query()] = None,
    authority: Annotated[str | None, BeforeValidator(text_filter("authority")), Query()] = None,
) -> Page[LabelPublic] | Response:
    """List label definitions. Sort: label_id, name, defined_block."""
    query = select(_LABELS)
    if name is not None:
        query = query.where(_LABELS.c.name == name)
    if authority is not None:
        query = query.where(func.lower(_LABELS.c.authority) == authority.lower())
    rows, cursor = fetch_page(snapshot, LABEL_LISTING, page, query)
    items = [
        LabelPublic(
            label_id=r.id,
            name=r.name,
            authority=r.authority,
            defined_block=r.defined_block,
            tx_hash=r.tx_hash,
        )
        for r in rows
    ]
    return list_response(LabelPublic, items, cursor, snapshot, page)


# -- CADT export -----------------------------------------------------------------------------


def _cadt_format(value: Any) -> str:
    if value not in ("json", "xlsx"):
        raise refuse("INVALID_FORMAT", f"`format` must be json or xlsx, got {value!r}.")
    return str(value)


_RECORDS = {"type": "array", "items": {"type": "object"}}
_CADT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["standard", "registry", "as_of_block", "projects", "issuances", "units"],
    "properties": {
        "standard": {"type": "string"},
        "registry": {"type": "object"},
        "as_of_block": {"type": "integer"},
        "projects": _RECORDS,
        "issuances": _RECORDS,
        "units": _RECORDS,
        "labels": _RECORDS,
        "unfilled": {"type": "object", "description": "The CADT fields the chain cannot fill."},
    },
}


@router.get(
    "/cadt",
    dependencies=[Depends(reject_unknown_parameters)],
    responses={
        200: {
            "description": "A CADT document (JSON) or workbook. Its records use the CADT data "
            "model's own field names (camelCase), which is the point of the export.",
            "content": {"application/json": {"schema": _CADT_SCHEMA}, XLSX: {}},
        }
    },
)
def get_cadt(
    request: Request,
    services: ServicesDep,
    snapshot: SnapshotDep,
    output: Annotated[
        str,
        BeforeValidator(_cadt_format),
        WithJsonSchema({"type": "string", "enum": ["json", "xlsx"]}),
        Query(alias="format", description="`json` (default) or `xlsx`, one sheet per table."),
    ] = "json",
) -> Response:
    """Projects, issuances, units and labels under the Climate Action Data Trust data model.

    Fields the chain does not record are null and listed under `unfilled` (docs/cadt.md)."""
    source = CadtSource(
        registry_code=services.registry_code,
        chain_id=services.deployment.chain_id,
        contract=services.deployment.registry,
        base_url=str(request.base_url),
    )
    document = cadt_document(snapshot.conn, source, snapshot.as_of_block)
    headers = {"X-As-Of-Block": str(snapshot.as_of_block)}
    if output == "xlsx":
        disposition = f'attachment; filename="cadt-{services.registry_code}.xlsx"'
        return Response(
            cadt_xlsx(document),
            media_type=XLSX,
            headers={**headers, "Content-Disposition": disposition},
        )
    return JSONResponse(document, headers=headers)
