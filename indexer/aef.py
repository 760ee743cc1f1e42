"""The Agreed Electronic Format (AEF) report of a Party for a year, from Article 6 facts (A4).

The report is built in two steps, so that the API and `registry audit` share only the second:

1. **Facts**: the Party's Article 6 actions (one per `Article6ActionRecorded`, with its block's
   time and transaction), the authorizations, issuances, cancellations and projects they refer
   to. The API loads them from the SQL mirror (`load_mirror_facts`); the audit collects them
   from the chain's logs with an interpreter of its own (`indexer.audit`).
2. **Tables** (`build_aef`): the heading, one actions row per action dated in the year, and one
   holdings row per serial range the Party's section holds at the end of the year (or at the
   newest indexed block, for the year in progress), replayed from the Party's actions alone:
   authorization and acquisition bring units into the section, transfer and every use or
   cancellation take them out (decision D28).

Every value comes from chain data; a column that does not apply to a row's action is empty
(`null`), never a placeholder. Every row lists the transactions it was built from.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Connection, select

from indexer.models import (
    Article6Action,
    Article6Authorization,
    Article6Party,
    BlockHash,
    Cancellation,
    Issuance,
    Project,
    table_of,
)

__all__ = [
    "ACTION_COLUMNS",
    "HOLDING_COLUMNS",
    "METRIC",
    "USE_ACTIONS",
    "ActionFact",
    "AefReport",
    "Article6Facts",
    "AuthorizationFact",
    "CancellationFact",
    "IssuanceFact",
    "aef_csv",
    "aef_document",
    "aef_xlsx",
    "build_aef",
    "compare_aef",
    "iso_date",
    "itmo_identifier",
    "load_mirror_facts",
    "sheet_cell",
    "year_bounds",
]

# Every unit of the registry is one tonne of CO2 equivalent (L1).
METRIC = "t CO2 eq"

# (field, AEF column title), in the AEF's order; `tx_hashes` is ours: where each row comes from.
ACTION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("record_id", "Article 6 database record ID"),
    ("cooperative_approach", "Cooperative approach"),
    ("first_unique_identifier", "First unique identifier"),
    ("last_unique_identifier", "Last unique identifier"),
    ("underlying_block_start", "Underlying unit block start ID"),
    ("underlying_block_end", "Underlying unit block end ID"),
    ("metric", "Metric"),
    ("quantity_in_metric", "Quantity (in metric)"),
    ("quantity_tco2e", "Quantity (t CO2 eq)"),
    ("first_transferring_party", "First transferring participating Party"),
    ("vintage", "Vintage"),
    ("sectors", "Sector(s)"),
    ("activity_types", "Activity type(s)"),
    ("authorization_date", "Date of authorization"),
    ("authorization_id", "Authorization ID"),
    ("authorized_purposes", "Purposes for authorization"),
    ("oimp_authorized", "OIMP authorized by the Party"),
    ("first_transfer_definition", "First transfer definition"),
    ("action_date", "Action date"),
    ("action_type", "Action type"),
    ("transferring_party", "Transferring participating Party"),
    ("acquiring_party", "Acquiring participating Party"),
    ("cancellation_purposes", "Purposes for cancellation"),
    ("using_party_or_entity", "Using participating Party or authorized entity"),
    ("tx_hashes", "Transaction hash(es)"),
)
_ACTION_ONLY = frozenset(
    {
        "action_date",
        "action_type",
        "transferring_party",
        "acquiring_party",
        "cancellation_purposes",
        "using_party_or_entity",
    }
)
# The holdings table: the same columns without those that describe an action.
HOLDING_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    c for c in ACTION_COLUMNS if c[0] not in _ACTION_ONLY
)
HEADING_COLUMNS: tuple[tuple[str, str], ...] = (("party", "Party"), ("reported_year", "Year"))

# Actions that cancel the units they name: uses towards NDCs and OIMP, and cancellations.
USE_ACTIONS = frozenset(
    {"use_towards_ndc", "use_for_oimp", "voluntary_cancellation", "omge_cancellation"}
)
_INTO_SECTION = frozenset({"authorization", "acquisition"})
_OUT_OF_SECTION = USE_ACTIONS | {"transfer"}


# -- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionFact:
    """One `Article6ActionRecorded`, with where and when the chain recorded it."""

    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int
    operation_id: int
    authorization_id: int
    action: str
    start: int
    end: int
    account_id: int
    party: str
    counterparty: str


@dataclass(frozen=True)
class AuthorizationFact:
    """A Party's letter of authorization as recorded."""

    id: int
    party: str
    approach_id: str
    letter_id: str
    purposes: str  # "ndc_use", "oimp" or "ndc_use,oimp"
    first_transfer_definition: str
    authorized_at: int
    tx_hash: str
    # The authorizing Party's registry id (RegisterParty): the second part of an ITMO's unique
    # identifier (A1), whatever registry code the units were issued under.
    registry_id: str = ""


@dataclass(frozen=True)
class IssuanceFact:
    """The issuance a serial range belongs to."""

    id: int
    start: int
    end: int
    project_id: str
    unit_type: str
    vintage: int
    origin_registry: str
    tx_hash: str


@dataclass(frozen=True)
class CancellationFact:
    """A use or cancellation: its purpose and who it was for."""

    id: int
    purpose: str
    beneficiary: str
    tx_hash: str


@dataclass
class Article6Facts:
    """What one Party's AEF is built from."""

    actions: list[ActionFact] = field(default_factory=list)
    authorizations: dict[int, AuthorizationFact] = field(default_factory=dict)
    issuances: list[IssuanceFact] = field(default_factory=list)  # any order
    cancellations: dict[int, CancellationFact] = field(default_factory=dict)
    methodologies: dict[str, str] = field(default_factory=dict)  # project id -> methodology
    _starts: list[int] = field(default_factory=list, repr=False, compare=False)

    def issuance_of(self, serial: int) -> IssuanceFact:
        """Return the issuance that contains a serial."""
        if len(self._starts) != len(self.issuances):
            self.issuances.sort(key=lambda x: x.start)
            self._starts = [x.start for x in self.issuances]
        i = bisect.bisect_right(self._starts, serial) - 1
        if i < 0 or self.issuances[i].end < serial:
            raise LookupError(f"no issuance contains serial {serial}")
        return self.issuances[i]


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AefReport:
    """A Party's AEF for one year: heading, actions and holdings rows."""

    party: str
    year: int
    actions: tuple[dict[str, Any], ...]
    holdings: tuple[dict[str, Any], ...]
    holdings_at: int  # unix time the holdings are as of

    @property
    def heading(self) -> dict[str, Any]:
        """Return the heading table's one row."""
        return {"party": self.party, "reported_year": self.year}


def year_bounds(year: int) -> tuple[int, int]:
    """Return the first and last second (UTC) of a year."""
    first = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    return first, int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()) - 1


def iso_date(timestamp: int) -> str:
    """Return unix seconds as an ISO date (UTC)."""
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def itmo_identifier(approach: str, origin: str, party: str, serial: int, vintage: int) -> str:
    """Return the unique identifier of one ITMO (A1): its five components, hyphen-separated."""
    return f"{approach}-{origin}-{party}-{serial}-{vintage}"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _unit_columns(
    facts: Article6Facts, authorization: AuthorizationFact, start: int, end: int
) -> tuple[dict[str, Any], IssuanceFact]:
    """Return the columns that describe the ITMOs `[start, end]`, and their issuance."""
    issuance = facts.issuance_of(start)
    origin, party = authorization.registry_id, authorization.party
    approach, vintage = authorization.approach_id, issuance.vintage
    methodology = facts.methodologies.get(issuance.project_id, "")
    return {
        "cooperative_approach": approach,
        "first_unique_identifier": itmo_identifier(approach, origin, party, start, vintage),
        "last_unique_identifier": itmo_identifier(approach, origin, party, end, vintage),
        "underlying_block_start": start,
        "underlying_block_end": end,
        "metric": METRIC,
        "quantity_in_metric": end - start + 1,
        "quantity_tco2e": end - start + 1,
        "first_transferring_party": party,
        "vintage": vintage,
        # NOTE: the chain records no sector for a project or an authorization (decision D28).
        "sectors": None,
        "activity_types": [methodology] if methodology else None,
        "authorization_date": iso_date(authorization.authorized_at),
        "authorization_id": authorization.letter_id,
        "authorized_purposes": authorization.purposes.split(","),
        "oimp_authorized": "oimp" in authorization.purposes.split(","),
        "first_transfer_definition": authorization.first_transfer_definition,
    }, issuance


def _action_columns(facts: Article6Facts, action: ActionFact) -> dict[str, Any]:
    name = action.action
    counterparty = action.counterparty or None
    transferring = acquiring = purposes = using = None
    if name in ("transfer", "first_transfer"):
        transferring, acquiring = action.party, counterparty
    elif name == "acquisition":
        transferring, acquiring = counterparty, action.party
    elif name in USE_ACTIONS:
        cancellation = facts.cancellations.get(action.operation_id)
        purposes = [cancellation.purpose] if cancellation is not None else None
        beneficiary = cancellation.beneficiary if cancellation is not None else ""
        # Towards an NDC the user is the Party; otherwise the entity it names, if it names one.
        using = action.party if name == "use_towards_ndc" or not beneficiary else beneficiary
    return {
        "action_date": iso_date(action.timestamp),
        "action_type": name,
        "transferring_party": transferring,
        "acquiring_party": acquiring,
        "cancellation_purposes": purposes,
        "using_party_or_entity": using,
    }


@dataclass
class _Piece:
    end: int
    authorization_id: int
    source: ActionFact


class _Section:
    """The serial ranges a Party's section holds, each with the action that brought it in."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._pieces: dict[int, _Piece] = {}

    def add(self, action: ActionFact) -> None:
        self.remove(action.start, action.end)  # never counted twice, whatever the history
        bisect.insort(self._starts, action.start)
        self._pieces[action.start] = _Piece(action.end, action.authorization_id, action)

    def remove(self, start: int, end: int) -> None:
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while i < len(self._starts) and self._starts[i] <= end:
            s = self._starts[i]
            piece = self._pieces[s]
            if piece.end < start:
                i += 1
                continue
            del self._pieces[s]
            self._starts.pop(i)
            if s < start:  # the part before the removed range stays
                self._pieces[s] = _Piece(start - 1, piece.authorization_id, piece.source)
                self._starts.insert(i, s)
                i += 1
            if piece.end > end:  # and the part after it
                self._pieces[end + 1] = _Piece(piece.end, piece.authorization_id, piece.source)
                self._starts.insert(i, end + 1)
                i += 1

    def pieces(self) -> list[tuple[int, _Piece]]:
        return [(s, self._pieces[s]) for s in self._starts]


def build_aef(facts: Article6Facts, party: str, year: int, now: int) -> AefReport:
    """Return the AEF of `party` for `year`; holdings as of the year's end, or `now` if earlier."""
    first, last = year_bounds(year)
    holdings_at = min(last, now)
    section = _Section()
    actions: list[dict[str, Any]] = []
    ordered = sorted(facts.actions, key=lambda a: (a.block_number, a.log_index))
    for action in ordered:
        if action.party != party or action.timestamp > last:
            continue
        if action.action in _INTO_SECTION:
            section.add(action)
        elif action.action in _OUT_OF_SECTION:
            section.remove(action.start, action.end)
        if action.timestamp < first:
            continue
        authorization = facts.authorizations[action.authorization_id]
        units, issuance = _unit_columns(facts, authorization, action.start, action.end)
        row = {
            "record_id": f"A6-{action.block_number}-{action.log_index}",
            **units,
            **_action_columns(facts, action),
            "tx_hashes": _unique((action.tx_hash, authorization.tx_hash, issuance.tx_hash)),
        }
        actions.append({name: row[name] for name, _ in ACTION_COLUMNS})
    holdings = []
    for start, piece in section.pieces():
        authorization = facts.authorizations[piece.authorization_id]
        units, issuance = _unit_columns(facts, authorization, start, piece.end)
        row = {
            "record_id": f"A6H-{year}-{start}",
            **units,
            "tx_hashes": _unique((piece.source.tx_hash, authorization.tx_hash, issuance.tx_hash)),
        }
        holdings.append({name: row[name] for name, _ in HOLDING_COLUMNS})
    return AefReport(party, year, tuple(actions), tuple(holdings), holdings_at)


def compare_aef(chain: AefReport, mirror: AefReport) -> list[tuple[str, str, str]]:
    """Return (where, chain value, mirror value) for every difference between two reports."""
    out: list[tuple[str, str, str]] = []
    if chain.heading != mirror.heading:
        out.append(("heading", repr(chain.heading), repr(mirror.heading)))
    for table in ("actions", "holdings"):
        left: Sequence[dict[str, Any]] = getattr(chain, table)
        right: Sequence[dict[str, Any]] = getattr(mirror, table)
        by_id_left = {r["record_id"]: r for r in left}
        by_id_right = {r["record_id"]: r for r in right}
        for record in sorted(by_id_left.keys() | by_id_right.keys()):
            a, b = by_id_left.get(record), by_id_right.get(record)
            if a != b:
                out.append((f"{table} {record}", repr(a), repr(b)))
        if not out and [r["record_id"] for r in left] != [r["record_id"] for r in right]:
            out.append((f"{table} order", "chain order", "mirror order"))
    return out


# -- formats ---------------------------------------------------------------------------------


def aef_document(report: AefReport, as_of_block: int) -> dict[str, Any]:
    """Return the report as the JSON the API serves."""
    return {
        "heading": report.heading,
        "actions": list(report.actions),
        "holdings": list(report.holdings),
        "holdings_as_of": datetime.fromtimestamp(report.holdings_at, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "as_of_block": as_of_block,
    }


# A cell starting with one of these is read as a formula by spreadsheet programs.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Return a value as a CSV or spreadsheet cell: lists joined, booleans as yes / no.

    NOTE: beneficiaries (the using entity) and methodologies are text users wrote; one starting
    with a formula character is quoted with `'`, as the API's CSV lists do (`api.paging`), or
    the auditor's spreadsheet would run it (openpyxl even stores such text as a formula).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


# The same quoting for every spreadsheet the registry writes (the CADT export's too).
sheet_cell = _cell


def _tables(report: AefReport) -> list[tuple[str, tuple[tuple[str, str], ...], list[Any]]]:
    return [
        ("Heading", HEADING_COLUMNS, [report.heading]),
        ("Actions", ACTION_COLUMNS, list(report.actions)),
        ("Holdings", HOLDING_COLUMNS, list(report.holdings)),
    ]


def aef_csv(report: AefReport, table: str | None = None) -> str:
    """Return the report as CSV: one table with a header row, or all three, each titled.

    With all three, each table starts with a row holding only its title ("Table 1: Heading")
    and ends with an empty row, the layout of the AEF's own tables.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for number, (title, columns, rows) in enumerate(_tables(report), start=1):
        if table is not None and title.lower() != table:
            continue
        if table is None:
            writer.writerow([f"Table {number}: {title}"])
        writer.writerow([heading for _, heading in columns])
        for row in rows:
            writer.writerow([_cell(row[name]) for name, _ in columns])
        if table is None:
            writer.writerow([])
    return out.getvalue()


def aef_xlsx(report: AefReport) -> bytes:
    """Return the report as an XLSX workbook: one sheet per table, a header row on each."""
    workbook = Workbook()
    first = True
    for title, columns, rows in _tables(report):
        sheet = workbook.active if first else workbook.create_sheet()
        first = False
        assert sheet is not None
        sheet.title = title
        sheet.append([heading for _, heading in columns])
        for row in rows:
            sheet.append([_cell(row[name]) for name, _ in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# -- facts from the mirror -------------------------------------------------------------------

_ACTIONS = table_of(Article6Action)
_AUTHORIZATIONS = table_of(Article6Authorization)
_PARTIES = table_of(Article6Party)
_ISSUANCES = table_of(Issuance)
_CANCELLATIONS = table_of(Cancellation)
_PROJECTS = table_of(Project)
_BLOCK_HASHES = table_of(BlockHash)


def load_mirror_facts(conn: Connection, party: str, until_block: int) -> Article6Facts:
    """Read a Party's Article 6 facts up to a block from the mirror's tables."""
    a = _ACTIONS.c
    rows = conn.execute(
        select(_ACTIONS, _BLOCK_HASHES.c.timestamp)
        .select_from(_ACTIONS.join(_BLOCK_HASHES, _BLOCK_HASHES.c.number == a.block_number))
        .where(a.party == party, a.block_number <= until_block)
        .order_by(a.block_number, a.log_index)
    ).all()
    facts = Article6Facts(
        actions=[
            ActionFact(
                block_number=int(r.block_number),
                log_index=int(r.log_index),
                tx_hash=r.tx_hash,
                timestamp=int(r.timestamp),
                operation_id=int(r.operation_id),
                authorization_id=int(r.authorization_id),
                action=r.action,
                start=int(r.start),
                end=int(r.end),
                account_id=int(r.account_id),
                party=r.party,
                counterparty=r.counterparty,
            )
            for r in rows
        ]
    )
    authorization_ids = sorted({f.authorization_id for f in facts.actions})
    if authorization_ids:
        for r in conn.execute(
            select(_AUTHORIZATIONS, _PARTIES.c.registry_id)
            .select_from(
                _AUTHORIZATIONS.outerjoin(_PARTIES, _PARTIES.c.party == _AUTHORIZATIONS.c.party)
            )
            .where(_AUTHORIZATIONS.c.id.in_(authorization_ids))
        ):
            facts.authorizations[int(r.id)] = AuthorizationFact(
                id=int(r.id),
                registry_id=r.registry_id or "",
                party=r.party,
                approach_id=r.approach_id,
                letter_id=r.letter_id,
                purposes=r.purposes,
                first_transfer_definition=r.first_transfer_definition,
                authorized_at=int(r.authorized_at),
                tx_hash=r.tx_hash,
            )
    i = _ISSUANCES.c
    # Issuances are disjoint: in ascending order, the serials of one issuance come together.
    for serial in sorted({f.start for f in facts.actions}):
        if facts.issuances and serial <= facts.issuances[-1].end:
            continue
        found = conn.execute(
            select(_ISSUANCES).where(i.start <= serial).order_by(i.start.desc()).limit(1)
        ).first()
        if found is not None and serial <= int(found.end):
            facts.issuances.append(
                IssuanceFact(
                    id=int(found.id),
                    start=int(found.start),
                    end=int(found.end),
                    project_id=found.project_id,
                    unit_type=found.unit_type,
                    vintage=int(found.vintage),
                    origin_registry=found.origin_registry,
                    tx_hash=found.tx_hash,
                )
            )
    cancellation_ids = sorted({f.operation_id for f in facts.actions if f.action in USE_ACTIONS})
    if cancellation_ids:
        for r in conn.execute(
            select(_CANCELLATIONS).where(_CANCELLATIONS.c.id.in_(cancellation_ids))
        ):
            facts.cancellations[int(r.id)] = CancellationFact(
                int(r.id), r.purpose, r.beneficiary, r.tx_hash
            )
    projects = sorted({x.project_id for x in facts.issuances})
    if projects:
        for r in conn.execute(
            select(_PROJECTS.c.id, _PROJECTS.c.methodology).where(_PROJECTS.c.id.in_(projects))
        ):
            facts.methodologies[r.id] = r.methodology
    return facts
