"""Inter-registry transfers as the mirror knows them, read from the registry's own events.

The interop module's events (PeerSet, TransferOutInitiated, TransferOutApproved, ProposalSent,
ProposalReceived, AnswerRecorded, UnitsImported) are kept in the mirror's event log like every
event; the unit blocks they move are mirrored by BlockChanged as always. These reads assemble a
transfer from its events (decision D38): no derived table, so nothing for the audit to replay
twice. At today's volumes a scan by event name is cheap; a derived table is the fix if it shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from indexer.models import Event, Issuance, Label, UnitBlock, table_of
from node.contracts import bytes32_text

__all__ = [
    "INTEROP_EVENTS",
    "inbound_transfers",
    "interop_events",
    "outbound_blocks",
    "outbound_transfers",
    "peers",
    "transfer_record",
]

_EVENTS = table_of(Event)
_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)

INTEROP_EVENTS = (
    "PeerSet",
    "TransferOutInitiated",
    "TransferOutApproved",
    "ProposalSent",
    "ProposalReceived",
    "AnswerRecorded",
    "UnitsImported",
)


def interop_events(conn: Connection, names: tuple[str, ...] = INTEROP_EVENTS) -> list[Any]:
    """Return the interop events of the given names, in chain order."""
    return list(
        conn.execute(
            select(_EVENTS)
            .where(_EVENTS.c.name.in_(names))
            .order_by(_EVENTS.c.block_number, _EVENTS.c.log_index)
        )
    )


def code_text(value: str) -> str:
    """Return a registry code from an event's bytes8 hex."""
    return bytes32_text(value)


def peers(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return every peer's latest record by registry code."""
    out: dict[str, dict[str, Any]] = {}
    for row in interop_events(conn, ("PeerSet",)):
        d = row.data
        code = code_text(d["registryCode"])
        out[code] = {
            "registry_code": code,
            "operator_address": d["operator"],
            "chain_id": int(d["chainId"]),
            "registry_address": d["registry"],
            "api_url": d["apiUrl"],
            "block_number": row.block_number,
            "tx_hash": row.tx_hash,
        }
    return out


def outbound_transfers(conn: Connection) -> dict[int, dict[str, Any]]:
    """Return every outbound transfer by id with its phase, from its events."""
    out: dict[int, dict[str, Any]] = {}
    for row in interop_events(
        conn, ("TransferOutInitiated", "TransferOutApproved", "ProposalSent", "AnswerRecorded")
    ):
        d = row.data
        if row.name == "TransferOutInitiated":
            out[int(d["transferId"])] = {
                "transfer_id": int(d["transferId"]),
                "from_account": int(d["fromAccount"]),
                "to_registry": code_text(d["toRegistry"]),
                "to_account": int(d["toAccount"]),
                "initiator": d["initiator"],
                "quantity": int(d["quantity"]),
                "status": "pending",
                "messages": [_message(row)],
            }
            continue
        record = out.get(int(d["transferId"]))
        if record is None:  # an AnswerRecorded of an inbound transfer
            continue
        if row.name == "AnswerRecorded" and code_text(d["destRegistry"]) != record["to_registry"]:
            continue
        record["messages"].append(_message(row))
        if row.name == "TransferOutApproved":
            record["status"] = "in_transit"
        elif row.name == "ProposalSent":
            record["proposal_digest"] = d["proposalDigest"]
            record["deadline"] = int(d["deadline"])
        elif row.name == "AnswerRecorded":
            record["status"] = "transferred" if d["accepted"] else "returned"
            record["reason"] = int(d["reason"])
    return out


def inbound_transfers(conn: Connection) -> dict[tuple[str, int], dict[str, Any]]:
    """Return every transfer this registry answered, by (source registry, transfer id)."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    # NOTE: an acceptance logs UnitsImported before ProposalReceived (the units are issued while
    # the answer is applied), so imports wait here for their record.
    early: dict[tuple[str, int], list[Any]] = {}
    for row in interop_events(conn, ("ProposalReceived", "AnswerRecorded", "UnitsImported")):
        d = row.data
        key = (code_text(d["sourceRegistry"]), int(d["transferId"]))
        if row.name == "UnitsImported" and key not in out:
            early.setdefault(key, []).append(row)
            continue
        if row.name == "ProposalReceived":
            out[key] = {
                "source_registry": key[0],
                "transfer_id": key[1],
                "proposal_digest": d["proposalDigest"],
                "messages": [_message(row)],
                "imported": [],
            }
            for imported in early.pop(key, []):
                out[key]["messages"].append(_message(imported))
                out[key]["imported"].append(_imported(imported.data))
            continue
        record = out.get(key)
        if record is None:  # an AnswerRecorded of an outbound transfer
            continue
        record["messages"].append(_message(row))
        if row.name == "AnswerRecorded":
            record["status"] = "accepted" if d["accepted"] else "refused"
            record["reason"] = int(d["reason"])
            record["answer_digest"] = d["answerDigest"]
        else:
            record["imported"].append(_imported(d))
    return out


def _imported(d: dict[str, Any]) -> dict[str, int]:
    return {
        "start": int(d["start"]),
        "end": int(d["end"]),
        "origin_start": int(d["originStart"]),
        "origin_end": int(d["originEnd"]),
    }


def _message(row: Any) -> dict[str, Any]:
    return {
        "event": row.name,
        "block_number": row.block_number,
        "tx_hash": row.tx_hash,
        "data": row.data,
    }


def outbound_blocks(conn: Connection, state: str, transfer_id: int) -> list[dict[str, Any]]:
    """Return the blocks a transfer locks in a state, with issuance attributes and label names."""
    names = {int(r.id): str(r.name) for r in conn.execute(select(_LABELS.c.id, _LABELS.c.name))}
    rows = conn.execute(
        select(
            _BLOCKS.c.start,
            _BLOCKS.c.end,
            _BLOCKS.c.account_id,
            _BLOCKS.c.labels,
            _ISSUANCES.c.project_id,
            _ISSUANCES.c.unit_type,
            _ISSUANCES.c.vintage,
            _ISSUANCES.c.monitoring_start,
            _ISSUANCES.c.monitoring_end,
            _ISSUANCES.c.origin_registry,
        )
        .select_from(_BLOCKS.join(_ISSUANCES, _ISSUANCES.c.id == _BLOCKS.c.issuance_id))
        .where(_BLOCKS.c.state == state, _BLOCKS.c.lock_id == transfer_id)
        .order_by(_BLOCKS.c.start)
    ).mappings()
    out = []
    for r in rows:
        labels = int(r["labels"])
        out.append(
            {
                "start": int(r["start"]),
                "end": int(r["end"]),
                "account_id": int(r["account_id"]),
                "project_id": r["project_id"],
                "unit_type": r["unit_type"],
                "vintage": int(r["vintage"]),
                "monitoring_start": int(r["monitoring_start"]),
                "monitoring_end": int(r["monitoring_end"]),
                "origin_registry": r["origin_registry"],
                "labels": [names[i] for i in sorted(names) if labels >> i & 1],
            }
        )
    return out


def transfer_record(conn: Connection, registry_code: str, transfer_id: int) -> dict[str, Any]:
    """Return what this registry's chain holds of a transfer, outbound or inbound, or {}."""
    record: dict[str, Any] = {}
    out = outbound_transfers(conn).get(transfer_id)
    if out is not None:
        record["outbound"] = out
    for (_source, tid), inbound in inbound_transfers(conn).items():
        if tid == transfer_id:
            record.setdefault("inbound", []).append(inbound)
    return record
