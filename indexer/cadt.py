"""Export the public registers under the Climate Action Data Trust (CADT) data model (I3).

Projects, issuances, units and labels are written with CADT's field names and pick-list values
(its v1 model: `warehouseProjectId`, `unitBlockStart`, `unitStatus` ...). What the chain does not
record is left `null` and listed, with the reason, in the document's `unfilled` section (and in
docs/cadt.md): a field is never filled with a made-up value. Holders stay private, as in every
public register. Record ids are UUIDs derived from the chain's own ids (UUID v5), so two exports
of the same registry name the same record the same way.

One builder serves `GET /v1/registers/cadt` and `registry export cadt`; it reads the mirror
through the connection it is given, so it sees one snapshot.
"""

from __future__ import annotations

import io
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Connection, select

from indexer.aef import sheet_cell
from indexer.models import (
    Article6Config,
    BlockHash,
    Cancellation,
    Issuance,
    Label,
    Project,
    UnitBlock,
    table_of,
)

__all__ = [
    "CADT_VERSION",
    "UNFILLED",
    "CadtSource",
    "cadt_document",
    "cadt_xlsx",
]

CADT_VERSION = "CADT data model v1"

# Why each CADT field the chain cannot fill is null (the export carries this, docs/cadt.md too).
UNFILLED: dict[str, dict[str, str]] = {
    "projects": {
        "program": "no crediting program is recorded on chain",
        "projectDeveloper": "the chain records the issuer's key, not the developer",
        "sector": "no sector is recorded for a project (as in the AEF, decision D28)",
        "projectType": "no project type is recorded; the methodology is",
        "projectTags": "no tags are recorded",
        "ndcInformation": "no NDC information is recorded for a project",
        "methodology2": "one methodology per project",
        "validationBody": "validation is not recorded on chain",
        "validationDate": "validation is not recorded on chain",
        "description": "no description is recorded",
    },
    "issuances": {
        "verificationApproach": "verification is not recorded on chain",
        "verificationDate": "verification is not recorded on chain",
        "verificationBody": "verification is not recorded on chain",
    },
    "units": {
        "projectLocationId": "project locations are not recorded (only a country code)",
        "unitOwner": "holders are private in every public register",
        "inCountryJurisdictionOfOwner": "holders are private in every public register",
        "marketplace": "marketplaces are not recorded",
        "marketplaceLink": "marketplaces are not recorded",
        "marketplaceIdentifier": "marketplaces are not recorded",
    },
    "labels": {
        "labelType": "a label definition records a name and an authority, not a type",
        "creditingPeriodStartDate": "crediting periods are not recorded",
        "creditingPeriodEndDate": "crediting periods are not recorded",
        "validityStartDate": "a label has no validity period on chain",
        "validityPeriodEndDate": "a label has no validity period on chain",
    },
}

# Retirement purposes that use units towards a claim are "Retired"; an OMGE cancellation takes
# units out of use for overall mitigation, which CADT calls "Cancelled".
_STATUS_OF_PURPOSE = {
    "voluntary": "Retired",
    "ndc_use": "Retired",
    "oimp": "Retired",
    "omge": "Cancelled",
}


@dataclass(frozen=True)
class CadtSource:
    """Which registry the export describes, and where its explorer serves record pages."""

    registry_code: str
    chain_id: int
    contract: str
    base_url: str  # the explorer's root, e.g. https://registry.example


def _uid(source: CadtSource, kind: str, key: Any) -> str:
    name = f"{source.chain_id}:{source.contract.lower()}:{kind}:{key}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _date(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _bits(bitmap: int) -> list[int]:
    return [i for i in range(bitmap.bit_length()) if bitmap >> i & 1]


def cadt_document(conn: Connection, source: CadtSource, as_of_block: int) -> dict[str, Any]:
    """Return the registry's projects, issuances, units and labels as one CADT document."""
    base = source.base_url.rstrip("/")
    times = {
        int(r.number): int(r.timestamp)
        for r in conn.execute(select(table_of(BlockHash).c.number, table_of(BlockHash).c.timestamp))
    }
    projects = list(conn.execute(select(table_of(Project)).order_by(table_of(Project).c.id)))
    issuances = list(conn.execute(select(table_of(Issuance)).order_by(table_of(Issuance).c.id)))
    labels = {int(r.id): r for r in conn.execute(select(table_of(Label)))}
    cancellations = {int(r.id): r for r in conn.execute(select(table_of(Cancellation)))}
    b = table_of(UnitBlock).c
    blocks = list(
        conn.execute(
            select(b.start, b.end, b.state, b.lock_id, b.issuance_id, b.labels).order_by(b.start)
        )
    )
    config = conn.execute(select(table_of(Article6Config))).first()
    authorized_labels = (
        {x for x in (config.ndc_label, config.oimp_label) if x is not None} if config else set()
    )
    first_transferred = config.first_transferred_label if config else None

    project_uid = {p.id: _uid(source, "project", p.id) for p in projects}
    issuance_of = {int(i.id): i for i in issuances}
    origins: dict[str, set[str]] = defaultdict(set)
    for i in issuances:
        origins[i.project_id].add(i.origin_registry)

    out_projects = [
        {
            "warehouseProjectId": project_uid[p.id],
            "currentRegistry": source.registry_code,
            "projectId": p.id,
            "originProjectId": p.id,
            "registryOfOrigin": (
                next(iter(origins[p.id])) if len(origins[p.id]) == 1 else source.registry_code
            ),
            "program": None,
            "projectName": p.name,
            "projectLink": f"{base}/projects/{p.id}",
            "projectDeveloper": None,
            "sector": None,
            "projectType": None,
            "projectTags": None,
            "coveredByNDC": "Unknown",
            "ndcInformation": None,
            "projectStatus": "Registered",
            "projectStatusDate": _date(times.get(int(p.registered_block))),
            "unitMetric": "tCO2e",
            "methodology": p.methodology,
            "methodology2": None,
            "validationBody": None,
            "validationDate": None,
            "description": None,
        }
        for p in projects
    ]
    out_issuances = [
        {
            "id": _uid(source, "issuance", i.id),
            "warehouseProjectId": project_uid.get(i.project_id),
            "startDate": _date(i.monitoring_start),
            "endDate": _date(i.monitoring_end),
            "verificationApproach": None,
            "verificationDate": None,
            "verificationBody": None,
        }
        for i in issuances
    ]

    label_units: dict[tuple[int, str], int] = defaultdict(int)
    out_units = []
    for blk in blocks:
        issuance = issuance_of[int(blk.issuance_id)]
        bits = _bits(int(blk.labels or 0))
        count = int(blk.end) - int(blk.start) + 1
        for bit in bits:
            label_units[(bit, issuance.project_id)] += count
        authorized = bool(authorized_labels & set(bits))
        if not authorized:
            declaration, adjustment = "Not Required", "Not Applicable"
        elif first_transferred is not None and first_transferred in bits:
            declaration, adjustment = "Committed", "Pending"
        else:
            declaration, adjustment = "Committed", "Not Started"
        status, reason = "Held", None
        if blk.state == "cancelled":
            cancellation = cancellations.get(int(blk.lock_id))
            purpose = cancellation.purpose if cancellation is not None else "voluntary"
            status = _STATUS_OF_PURPOSE.get(purpose, "Cancelled")
            if cancellation is not None:
                reason = (
                    f"{purpose}: {cancellation.reason} "
                    f"(beneficiary: {cancellation.beneficiary}; "
                    f"cancellation {cancellation.id}, tx {cancellation.tx_hash})"
                )
        out_units.append(
            {
                "warehouseUnitId": _uid(source, "unit", f"{blk.start}-{blk.end}"),
                "issuanceId": _uid(source, "issuance", blk.issuance_id),
                "projectLocationId": None,
                "unitOwner": None,
                "countryJurisdictionOfOwner": "Not Specified",
                "inCountryJurisdictionOfOwner": None,
                "serialNumberBlock": f"{blk.start}-{blk.end}",
                "unitBlockStart": str(blk.start),
                "unitBlockEnd": str(blk.end),
                "unitCount": count,
                "vintageYear": int(issuance.vintage),
                "unitType": "Not Determined",
                "marketplace": None,
                "marketplaceLink": None,
                "marketplaceIdentifier": None,
                "unitTags": issuance.unit_type,
                "unitStatus": status,
                "unitStatusReason": reason,
                "unitRegistryLink": f"{base}/units/{blk.start}",
                "correspondingAdjustmentDeclaration": declaration,
                "correspondingAdjustmentStatus": adjustment,
                "labels": [
                    _uid(source, "label", f"{bit}/{issuance.project_id}")
                    for bit in bits
                    if bit in labels
                ],
            }
        )
    out_labels = [
        {
            "id": _uid(source, "label", f"{bit}/{project_id}"),
            "warehouseProjectId": project_uid.get(project_id),
            "label": labels[bit].name,
            "labelType": None,
            "creditingPeriodStartDate": None,
            "creditingPeriodEndDate": None,
            "validityStartDate": None,
            "validityPeriodEndDate": None,
            "unitQuantity": quantity,
            "labelLink": f"{base}/labels",
        }
        for (bit, project_id), quantity in sorted(label_units.items())
        if bit in labels
    ]
    return {
        "standard": CADT_VERSION,
        "registry": {
            "registry_code": source.registry_code,
            "chain_id": source.chain_id,
            "contract": source.contract,
        },
        "as_of_block": as_of_block,
        "projects": out_projects,
        "issuances": out_issuances,
        "units": out_units,
        "labels": out_labels,
        "unfilled": UNFILLED,
    }


_TABLES = ("projects", "issuances", "units", "labels")


def cadt_xlsx(document: dict[str, Any]) -> bytes:
    """Return the document as a workbook: one sheet per table, then an `unfilled` sheet.

    Cells are quoted like the API's CSV, so user text starting with a formula character stays
    text; lists (a unit's labels) are joined with "; ".
    """
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for table in _TABLES:
        sheet = workbook.create_sheet(table)
        rows = document[table]
        columns = list(rows[0]) if rows else []
        sheet.append(columns)
        for row in rows:
            sheet.append([sheet_cell(row[c]) for c in columns])
    notes = workbook.create_sheet("unfilled")
    notes.append(["table", "field", "why it is empty"])
    for table, fields in document["unfilled"].items():
        for name, why in fields.items():
            notes.append([table, name, why])
    info = workbook.create_sheet("about", 0)
    info.append(["standard", document["standard"]])
    info.append(["registry_code", document["registry"]["registry_code"]])
    info.append(["chain_id", document["registry"]["chain_id"]])
    info.append(["contract", document["registry"]["contract"]])
    info.append(["as_of_block", document["as_of_block"]])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
