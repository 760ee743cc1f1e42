"""The public explorer: server-rendered HTML over the public registers, served at `/`.

Decision D35. Pages are Jinja2 templates with autoescape on, one stylesheet served from the
package, no JavaScript and nothing from another host. Each page reads one snapshot (so it shows
the block it is "as of") with one to three SQL statements from `api.queries.public`. Every table
can be downloaded as CSV (`?format=csv&table=<id>` on the page itself; register pages also link
the JSON API's CSV). Bad input gets the same problem codes as the JSON API: as an HTML page to a
browser, as problem+json to anyone else.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select

from api.paging import (
    PageParams,
    Snapshot,
    SnapshotDep,
    block_times,
    choice_filter,
    csv_text,
    fetch_page,
    int_filter,
    iso_time,
    text_filter,
    time_filter,
)
from api.problems import Problem, refuse
from api.queries.holdings import label_list, label_names
from api.queries.public import (
    CANCELLATION_LISTING,
    ISSUANCE_LISTING,
    LABEL_LISTING,
    PROJECT_LISTING,
    CancellationFilters,
    article6_public,
    cancellation_ranges,
    cancellations_query,
    check_project_id,
    parse_serial,
    project_search,
    project_state_totals,
    summary,
    tx_contents,
    unit_block,
    unit_history,
)
from indexer.models import Issuance, Label, Project, table_of
from node.contracts import CancellationPurpose

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_PACKAGE = Path(__file__).resolve().parent.parent
_ENV = Environment(
    loader=FileSystemLoader(_PACKAGE / "templates"),
    autoescape=True,  # every value is user or chain text: escape all of it, always
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_CSS = (_PACKAGE / "static" / "explorer.css").read_bytes()

_PROJECTS = table_of(Project)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)
_PAGE_SIZE = 50
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_PURPOSES = tuple(p.name.lower() for p in CancellationPurpose)
_P = ParamSpec("_P")


# -- page model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, perhaps a link, monospace for hashes, right-aligned numbers."""

    text: str
    href: str | None = None
    code: bool = False
    num: bool = False
    cls: str = ""  # "hash": a transaction hash, in a fixed width; "nowrap"; "when": date time
    full: str | None = None  # the whole value where `text` abbreviates it (CSV, title)


@dataclass
class Table:
    """A table of a page, and where to download it."""

    id: str
    caption: str
    headings: Sequence[str]
    rows: list[list[Cell]]
    empty: str = "Nothing recorded yet."
    register_csv: str | None = None
    next: str | None = None
    csv: str = ""


@dataclass
class Field:
    """A labelled input of a filter form."""

    name: str
    label: str
    value: str | None
    type: str = "text"
    choices: Sequence[str] = ()


@dataclass
class Form:
    """A GET form that filters a page."""

    action: str
    fields: list[Field]
    button: str = "Filter"


@dataclass
class Page:
    """What a page shows besides its tables."""

    title: str
    nav: str
    intro: str | None = None
    facts: list[tuple[str, Cell]] = field(default_factory=list)
    form: Form | None = None
    notes: list[str] = field(default_factory=list)
    q: str | None = None


def _number(value: int) -> Cell:
    return Cell(f"{value:,}", num=True)


def _tx(tx_hash: str | None) -> Cell:
    if not tx_hash:
        return Cell("")
    # Tables abbreviate the hash to its first and last hex digits; the link, the tooltip, the
    # CSV and the transaction's own page carry it whole.
    short = f"{tx_hash[:10]}\u2026{tx_hash[-8:]}"
    return Cell(short, href=f"/tx/{tx_hash}", code=True, cls="hash", full=tx_hash)


def _full_tx(tx_hash: str) -> Cell:
    return Cell(tx_hash, href=f"/tx/{tx_hash}", code=True)


def _block(number: int | None) -> Cell:
    return Cell("" if number is None else str(number), num=True)


def _serial(serial: int) -> Cell:
    return Cell(str(serial), href=f"/units/{serial}", code=True)


def _project(project_id: str) -> Cell:
    return Cell(project_id, href=f"/projects/{project_id}", cls="nowrap")


def _time(timestamp: int | None) -> Cell:
    # "when": the date and the time may stack (each kept whole), so a wide table fits a laptop.
    return Cell((iso_time(timestamp) or "").replace("T", " ").removesuffix("Z"), cls="when")


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _span(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}\u2013{end}"  # an en dash


def _serials(start: int, end: int) -> Cell:
    """A serial range linking to its first unit."""
    return Cell(_span(start, end), href=f"/units/{start}", code=True, cls="nowrap")


def _ranges(ranges: Sequence[tuple[int, int]]) -> Cell:
    return Cell(", ".join(_span(s, e) for s, e in ranges), code=True, cls="nowrap")


# -- rendering -------------------------------------------------------------------------------


def _url(path: str, params: dict[str, Any]) -> str:
    query = {k: v for k, v in params.items() if v is not None and v != ""}
    return f"{path}?{urlencode(query)}" if query else path


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _html_errors(page: Callable[_P, Response]) -> Callable[_P, Response]:
    """Render a problem raised by a page as an HTML page for browsers, problem+json otherwise."""

    @functools.wraps(page)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Response:
        try:
            return page(*args, **kwargs)
        except Problem as problem:
            request = kwargs.get("request")
            snapshot = kwargs.get("snapshot")
            if not isinstance(request, Request) or not _wants_html(request):
                raise
            body = _ENV.get_template("error.html").render(
                title="Not found" if problem.status == 404 else "Cannot show this page",
                nav="",
                q=None,
                as_of_block=snapshot.as_of_block if isinstance(snapshot, Snapshot) else "?",
                status=problem.status,
                code=problem.code,
                detail=problem.detail,
            )
            return HTMLResponse(body, status_code=problem.status, headers=problem.headers)

    return wrapper


def _table_csv(table: Table, as_of_block: int) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.headings)
    for row in table.rows:
        writer.writerow([csv_text(c.full or c.text) for c in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "X-As-Of-Block": str(as_of_block),
            "Content-Disposition": f'attachment; filename="{table.id}.csv"',
        },
    )


def _render(
    request: Request,
    snapshot: Snapshot,
    page: Page,
    tables: list[Table],
    template: str = "page.html",
    **extra: Any,
) -> Response:
    """Answer the page as HTML, or one of its tables as CSV (`format=csv&table=<id>`)."""
    params = dict(request.query_params)
    output = params.pop("format", None)
    wanted = params.pop("table", None)
    for table in tables:
        table.csv = _url(request.url.path, {**params, "format": "csv", "table": table.id})
    if output is not None:
        if output != "csv":
            raise refuse("INVALID_FORMAT", f"`format` must be csv, got {output!r}.")
        chosen = [t for t in tables if t.id == (wanted or tables[0].id)] if tables else []
        if not chosen:
            names = ", ".join(t.id for t in tables) or "none"
            raise refuse("INVALID_FILTER", f"This page has no table {wanted!r}; it has: {names}.")
        return _table_csv(chosen[0], snapshot.as_of_block)
    if wanted is not None:
        raise refuse("INVALID_FILTER", "Filter `table` applies to format=csv only.")
    body = _ENV.get_template(template).render(
        title=page.title,
        nav=page.nav,
        intro=page.intro,
        facts=page.facts,
        form=page.form,
        notes=page.notes,
        q=page.q,
        tables=tables,
        as_of_block=snapshot.as_of_block,
        **extra,
    )
    return HTMLResponse(body, headers={"X-As-Of-Block": str(snapshot.as_of_block)})


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    parsed: str | None = text_filter(name)(value)
    return parsed


def _page_params(request: Request) -> PageParams:
    return PageParams(limit=_PAGE_SIZE, cursor=_text(request, "cursor"))


def _next(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "format")}
    return _url(request.url.path, {**params, "cursor": cursor})


# -- pages -----------------------------------------------------------------------------------


@router.get("/explorer.css")
def stylesheet() -> Response:
    """The explorer's stylesheet."""
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=300"})


def _retirement_rows(
    snapshot: Snapshot, rows: Sequence[Any], *, short: bool = False
) -> list[list[Cell]]:
    ranges = {} if short else cancellation_ranges(snapshot.conn, [r.cancellation_id for r in rows])
    table = []
    for r in rows:
        cells = [
            Cell(str(r.cancellation_id), num=True),
            Cell(r.beneficiary, cls="text"),
            Cell(r.purpose),
            _number(int(r.quantity)),
            _project(r.project_id),
            Cell(f"{r.unit_type} {r.vintage}", cls="nowrap"),
        ]
        if not short:
            cells += [
                _ranges(ranges.get((r.cancellation_id, r.issuance_id), [])),
                Cell(r.reason, cls="text"),
            ]
        table.append([*cells, _time(r.timestamp), _tx(r.tx_hash)])
    return table


_SHORT_RETIREMENT_HEADINGS = (
    "Cancellation",
    "Beneficiary",
    "Purpose",
    "Units",
    "Project",
    "Type and vintage",
    "Time (UTC)",
    "Transaction",
)
_RETIREMENT_HEADINGS = (
    "Cancellation",
    "Beneficiary",
    "Purpose",
    "Units",
    "Project",
    "Type and vintage",
    "Serials",
    "Reason",
    "Time (UTC)",
    "Transaction",
)


@router.get("/", response_class=HTMLResponse)
@_html_errors
def home(request: Request, snapshot: SnapshotDep) -> Response:
    """Start page: a search box, the registry's totals and the latest retirements."""
    totals = summary(snapshot.conn)
    latest = PageParams(limit=10, sort="-cancellation_id")
    rows, _ = fetch_page(
        snapshot, CANCELLATION_LISTING, latest, cancellations_query(CancellationFilters())
    )
    return _render(
        request,
        snapshot,
        Page(title="Unit registry explorer", nav="/"),
        [
            Table(
                "latest-retirements",
                "Latest retirements",
                _SHORT_RETIREMENT_HEADINGS,
                _retirement_rows(snapshot, rows, short=True),
                empty="No units have been retired yet.",
                register_csv="/v1/registers/cancellations?format=csv",
            )
        ],
        template="index.html",
        totals=[
            ("Projects", f"{totals.projects:,}", "/projects"),
            ("Issuances", f"{totals.issuances:,}", "/issuances"),
            ("Units issued", f"{int(totals.issued):,}", None),
            ("Units retired", f"{int(totals.cancelled):,}", "/retirements"),
            ("Retirements", f"{totals.cancellations:,}", "/retirements"),
            ("Labels defined", f"{totals.labels:,}", "/labels"),
        ],
    )


@router.get("/search", response_class=HTMLResponse)
@_html_errors
def search(request: Request, snapshot: SnapshotDep) -> Response:
    """Search: a serial opens its unit, a transaction hash its transaction; other text finds
    projects and retirements (by beneficiary, reason, project or transaction)."""
    q = _text(request, "q")
    if q is not None:
        text = q.strip()
        if text.isdigit():
            return RedirectResponse(f"/units/{parse_serial(text)}", status_code=303)
        if _TX_HASH.fullmatch(text):
            return RedirectResponse(f"/tx/{text.lower()}", status_code=303)
    projects: list[Any] = []
    retirements: list[Any] = []
    if q is not None:
        projects = list(
            snapshot.conn.execute(
                select(_PROJECTS).where(project_search(q)).order_by(_PROJECTS.c.id).limit(50)
            )
        )
        retirements, _ = fetch_page(
            snapshot,
            CANCELLATION_LISTING,
            PageParams(limit=_PAGE_SIZE, sort="-cancellation_id"),
            cancellations_query(CancellationFilters(q=q)),
        )
    return _render(
        request,
        snapshot,
        Page(
            title=f"Search: {q}" if q else "Search",
            nav="/search",
            q=q,
            intro=None if q else "Type a serial number, a project, a beneficiary or a hash.",
        ),
        [
            Table(
                "projects",
                "Projects",
                ("Project", "Name", "Methodology", "Country"),
                [
                    [_project(p.id), Cell(p.name), Cell(p.methodology), Cell(p.country)]
                    for p in projects
                ],
                empty="No project matches.",
            ),
            Table(
                "retirements",
                "Retirements",
                _RETIREMENT_HEADINGS,
                _retirement_rows(snapshot, retirements),
                empty="No retirement matches.",
                next=f"/retirements?{urlencode({'q': q})}" if len(retirements) == 50 else None,
            ),
        ],
    )


@router.get("/projects", response_class=HTMLResponse)
@_html_errors
def projects(request: Request, snapshot: SnapshotDep) -> Response:
    """The project register, filtered by free text."""
    q = _text(request, "q")
    query = select(_PROJECTS)
    if q is not None:
        query = query.where(project_search(q))
    rows, cursor = fetch_page(snapshot, PROJECT_LISTING, _page_params(request), query)
    return _render(
        request,
        snapshot,
        Page(
            title="Projects",
            nav="/projects",
            form=Form("/projects", [Field("q", "Id, name, methodology or country", q)]),
        ),
        [
            Table(
                "projects",
                "Registered projects",
                ("Project", "Name", "Methodology", "Country", "Registered in block", "Transaction"),
                [
                    [
                        _project(r.id),
                        Cell(r.name),
                        Cell(r.methodology),
                        Cell(r.country),
                        _block(r.registered_block),
                        _tx(r.tx_hash),
                    ]
                    for r in rows
                ],
                empty="No project matches." if q else "No project is registered yet.",
                register_csv=_url("/v1/registers/projects", {"q": q, "format": "csv"}),
                next=_next(request, cursor),
            )
        ],
    )


_STATES = (
    "held",
    "pending",
    "reserved",
    "escrowed",
    "associated",
    "cancelled",
    "in_transit",
    "transferred_out",
)


@router.get("/projects/{project_id}", response_class=HTMLResponse)
@_html_errors
def project(request: Request, project_id: str, snapshot: SnapshotDep) -> Response:
    """A project: its facts, its units by state per unit type and vintage, its issuances."""
    check_project_id(project_id)
    conn = snapshot.conn
    row = conn.execute(select(_PROJECTS).where(_PROJECTS.c.id == project_id)).first()
    if row is None:
        raise refuse("PROJECT_NOT_FOUND", f"There is no project {project_id!r}.")
    totals: dict[tuple[str, int], dict[str, int]] = {}
    for t in project_state_totals(conn, project_id):
        totals.setdefault((t.unit_type, t.vintage), {})[t.state] = int(t.quantity)
    issuances = list(
        conn.execute(
            select(_ISSUANCES)
            .where(_ISSUANCES.c.project_id == project_id)
            .order_by(_ISSUANCES.c.id)
        )
    )
    state_rows = [
        [
            Cell(unit_type),
            Cell(str(vintage), num=True),
            _number(sum(by_state.values())),
            *(_number(by_state.get(state, 0)) for state in _STATES),
        ]
        for (unit_type, vintage), by_state in sorted(totals.items())
    ]
    if state_rows:
        state_rows.append(
            [
                Cell("All"),
                Cell(""),
                _number(sum(sum(s.values()) for s in totals.values())),
                *(_number(sum(s.get(state, 0) for s in totals.values())) for state in _STATES),
            ]
        )
    return _render(
        request,
        snapshot,
        Page(
            title=f"{row.name} ({row.id})",
            nav="/projects",
            facts=[
                ("Project id", Cell(row.id, code=True)),
                ("Methodology", Cell(row.methodology)),
                ("Country", Cell(row.country)),
                ("Registered in block", Cell(str(row.registered_block))),
                ("Registration transaction", _full_tx(row.tx_hash)),
                ("Retirements", Cell("find them", href=f"/retirements?project_id={row.id}")),
            ],
        ),
        [
            Table(
                "totals",
                "Units by state",
                ("Unit type", "Vintage", "Issued", *(s.capitalize() for s in _STATES)),
                state_rows,
                empty="No units have been issued for this project yet.",
            ),
            Table(
                "issuances",
                "Issuances",
                (
                    *("Issuance", "Unit type", "Vintage", "Monitoring period", "Serials"),
                    *("Units", "Block", "Transaction"),
                ),
                [
                    [
                        Cell(str(i.id), num=True),
                        Cell(i.unit_type),
                        Cell(str(i.vintage), num=True),
                        Cell(f"{_date(i.monitoring_start)} to {_date(i.monitoring_end)}"),
                        Cell(
                            _span(i.start, i.end), href=f"/units/{i.start}", code=True, cls="nowrap"
                        ),
                        _number(i.quantity),
                        _block(i.block_number),
                        _tx(i.tx_hash),
                    ]
                    for i in issuances
                ],
                empty="No issuance yet.",
                register_csv=_url(
                    "/v1/registers/issuances", {"project_id": row.id, "format": "csv"}
                ),
            ),
        ],
    )


@router.get("/issuances", response_class=HTMLResponse)
@_html_errors
def issuances(request: Request, snapshot: SnapshotDep) -> Response:
    """The issuance register, optionally of one project."""
    project_id = _text(request, "project_id")
    query = select(_ISSUANCES)
    if project_id is not None:
        query = query.where(_ISSUANCES.c.project_id == project_id)
    rows, cursor = fetch_page(snapshot, ISSUANCE_LISTING, _page_params(request), query)
    times = block_times(snapshot, [r.block_number for r in rows])
    return _render(
        request,
        snapshot,
        Page(
            title="Issuances",
            nav="/issuances",
            form=Form("/issuances", [Field("project_id", "Project id", project_id)]),
        ),
        [
            Table(
                "issuances",
                "Issuances",
                (
                    *("Issuance", "Project", "Unit type", "Vintage", "Serials", "Units"),
                    *("Origin", "Time (UTC)", "Transaction"),
                ),
                [
                    [
                        Cell(str(r.id), num=True),
                        _project(r.project_id),
                        Cell(r.unit_type),
                        Cell(str(r.vintage), num=True),
                        Cell(
                            _span(r.start, r.end), href=f"/units/{r.start}", code=True, cls="nowrap"
                        ),
                        _number(r.quantity),
                        Cell(r.origin_registry),
                        _time(times.get(r.block_number)),
                        _tx(r.tx_hash),
                    ]
                    for r in rows
                ],
                empty="No issuance yet.",
                register_csv=_url(
                    "/v1/registers/issuances", {"project_id": project_id, "format": "csv"}
                ),
                next=_next(request, cursor),
            )
        ],
    )


@router.get("/units/{serial}", response_class=HTMLResponse)
@_html_errors
def unit(request: Request, serial: str, snapshot: SnapshotDep) -> Response:
    """One serial: its block, attributes and state, and its whole public history."""
    number = parse_serial(serial)
    conn = snapshot.conn
    block = unit_block(conn, number)
    if block is None:
        raise refuse("UNIT_NOT_FOUND", f"Serial {number} has not been issued.")
    names = label_names(conn) if int(block.labels) else {}
    labels = label_list(int(block.labels), names)
    steps = unit_history(conn, number)
    described = {
        "issued": lambda s: f"issuance {s.ref} of project {s.detail}",
        "transfer initiated": lambda s: f"transfer {s.ref} ({s.detail})",
        "transfer approved": lambda s: f"transfer {s.ref}",
        "transfer rescinded": lambda s: f"transfer {s.ref}",
        "labelled": lambda s: f"label {s.detail}",
        "label removed": lambda s: f"label {s.detail}",
        "cancelled": lambda s: f"cancellation {s.ref} ({s.detail})",
    }
    return _render(
        request,
        snapshot,
        Page(
            title=f"Unit {number}",
            nav="/units",
            facts=[
                ("State", Cell(block.state)),
                ("Project", _project(block.project_id)),
                ("Unit type and vintage", Cell(f"{block.unit_type} {block.vintage}")),
                ("Issuance", Cell(str(block.issuance_id))),
                ("Block of serials", Cell(_span(block.start, block.end), code=True)),
                ("Labels", Cell(", ".join(labels) or "none")),
            ],
            notes=[
                "Transfers are shown without their accounts: holders are private. A transfer "
                "initiated under two-person approval is approved or rescinded in a later step."
            ],
        ),
        [
            Table(
                "history",
                "History of this serial",
                ("Step", "What", "Block", "Transaction"),
                [
                    [
                        Cell(s.kind),
                        Cell(described.get(s.kind, lambda s: str(s.ref))(s)),
                        _block(s.block_number),
                        _tx(s.tx_hash),
                    ]
                    for s in steps
                ],
            )
        ],
    )


def _cancellation_filters(request: Request) -> CancellationFilters:
    vintage = request.query_params.get("vintage") or None
    purpose = request.query_params.get("purpose") or None
    return CancellationFilters(
        beneficiary=_text(request, "beneficiary"),
        project_id=_text(request, "project_id"),
        unit_type=_text(request, "unit_type"),
        vintage=int_filter("vintage", 0, 65535)(vintage),
        purpose=choice_filter("purpose", _PURPOSES)(purpose),
        since=time_filter("since")(_text(request, "since")),
        until=time_filter("until")(_text(request, "until")),
        q=_text(request, "q"),
    )


@router.get("/retirements", response_class=HTMLResponse)
@_html_errors
def retirements(request: Request, snapshot: SnapshotDep) -> Response:
    """The cancellations register: who units were retired for, why, when, which serials."""
    filters = _cancellation_filters(request)
    rows, cursor = fetch_page(
        snapshot,
        CANCELLATION_LISTING,
        PageParams(limit=_PAGE_SIZE, cursor=_text(request, "cursor"), sort="-cancellation_id"),
        cancellations_query(filters),
    )
    api_params = {
        "q": filters.q,
        "beneficiary": filters.beneficiary,
        "project_id": filters.project_id,
        "unit_type": filters.unit_type,
        "vintage": filters.vintage,
        "purpose": filters.purpose,
        "since": request.query_params.get("since") or None,
        "until": request.query_params.get("until") or None,
        "sort": "-cancellation_id",
    }
    return _render(
        request,
        snapshot,
        Page(
            title="Retirements",
            nav="/retirements",
            intro="Cancelled units: one row per retirement and issuance it drew on.",
            form=Form(
                "/retirements",
                [
                    Field("q", "Beneficiary, reason, project or tx", filters.q, type="search"),
                    Field("beneficiary", "Beneficiary", filters.beneficiary),
                    Field("project_id", "Project id", filters.project_id),
                    Field("purpose", "Purpose", filters.purpose, choices=_PURPOSES),
                    Field(
                        "vintage",
                        "Vintage",
                        None if filters.vintage is None else str(filters.vintage),
                        type="number",
                    ),
                    Field(
                        "since", "Retired on or after", request.query_params.get("since"), "date"
                    ),
                    Field("until", "Retired before", request.query_params.get("until"), "date"),
                ],
                button="Find retirements",
            ),
            q=filters.q,
        ),
        [
            Table(
                "retirements",
                "Retirements, newest first",
                _RETIREMENT_HEADINGS,
                _retirement_rows(snapshot, rows),
                empty="No retirement matches.",
                register_csv=_url("/v1/registers/cancellations", {**api_params, "format": "csv"}),
                next=_next(request, cursor),
            )
        ],
    )


@router.get("/labels", response_class=HTMLResponse)
@_html_errors
def labels(request: Request, snapshot: SnapshotDep) -> Response:
    """The label register."""
    rows, cursor = fetch_page(
        snapshot,
        LABEL_LISTING,
        PageParams(limit=100, cursor=_text(request, "cursor")),
        select(_LABELS),
    )
    return _render(
        request,
        snapshot,
        Page(title="Labels", nav="/labels", intro="Eligibility labels and who applies them."),
        [
            Table(
                "labels",
                "Label definitions",
                ("Label", "Name", "Authority", "Defined in block", "Transaction"),
                [
                    [
                        Cell(str(r.id), num=True),
                        Cell(r.name),
                        Cell(r.authority, code=True),
                        _block(r.defined_block),
                        _tx(r.tx_hash),
                    ]
                    for r in rows
                ],
                empty="No label is defined yet.",
                register_csv="/v1/registers/labels?format=csv&limit=1000",
                next=_next(request, cursor),
            )
        ],
    )


@router.get("/article6", response_class=HTMLResponse)
@_html_errors
def article6(request: Request, snapshot: SnapshotDep) -> Response:
    """Article 6: the participating Parties and cooperative approaches."""
    parties, approaches = article6_public(snapshot.conn)
    return _render(
        request,
        snapshot,
        Page(
            title="Article 6",
            nav="/article6",
            intro="Parties with a section in this registry and the cooperative approaches "
            "they take part in. Letters of authorization, ITMO holdings and each Party's AEF "
            "are read by that Party's section through the API.",
        ),
        [
            Table(
                "parties",
                "Participating Parties",
                ("Party", "Registry id", "Cooperative approaches", "Block", "Transaction"),
                [
                    [
                        Cell(r.party),
                        Cell(r.registry_id),
                        Cell(", ".join(members) or "none"),
                        _block(r.registered_block),
                        _tx(r.tx_hash),
                    ]
                    for r, members in parties
                ],
                empty="No Party has a section yet.",
            ),
            Table(
                "approaches",
                "Cooperative approaches",
                ("Approach", "Name", "Parties", "Block", "Transaction"),
                [
                    [
                        Cell(r.approach_id),
                        Cell(r.name),
                        Cell(", ".join(members) or "none"),
                        _block(r.registered_block),
                        _tx(r.tx_hash),
                    ]
                    for r, members in approaches
                ],
                empty="No cooperative approach is registered yet.",
            ),
        ],
    )


_RECORD_LINKS: dict[str, Callable[[str], str]] = {
    "project": lambda ref: f"/projects/{ref}",
    "issuance": lambda ref: "/issuances",
    "cancellation": lambda ref: f"/retirements?{urlencode({'q': ref})}",
    "label": lambda ref: "/labels",
}


@router.get("/tx/{tx_hash}", response_class=HTMLResponse)
@_html_errors
def transaction(request: Request, tx_hash: str, snapshot: SnapshotDep) -> Response:
    """A transaction: the registry events it emitted (names only) and the public records it
    created."""
    if not _TX_HASH.fullmatch(tx_hash):
        raise refuse(
            "INVALID_TX_HASH", f"{tx_hash!r} is not a transaction hash: 0x and 64 hex digits."
        )
    tx_hash = tx_hash.lower()
    events, records = tx_contents(snapshot.conn, tx_hash)
    if not events:
        raise refuse("TX_NOT_FOUND", f"The registry recorded no event in {tx_hash}.")
    return _render(
        request,
        snapshot,
        Page(
            title="Transaction",
            nav="/tx",
            facts=[
                ("Hash", Cell(tx_hash, code=True)),
                ("Block", Cell(str(events[0].block_number))),
                ("Registry events", Cell(str(len(events)))),
            ],
            notes=[
                "Event arguments are not shown here: they name accounts and signers. The "
                "records below are what the public registers show of this transaction."
            ],
        ),
        [
            Table(
                "records",
                "Public records created",
                ("Record", "Id"),
                [
                    [Cell(r.kind), Cell(str(r.ref), href=_RECORD_LINKS[r.kind](str(r.ref)))]
                    for r in records
                ],
                empty="None: this transaction moved, labelled or administered units.",
            ),
            Table(
                "events",
                "Registry events",
                ("Log index", "Event", "Block"),
                [
                    [Cell(str(e.log_index), num=True), Cell(e.name), _block(e.block_number)]
                    for e in events
                ],
            ),
        ],
    )
