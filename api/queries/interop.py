"""Inter-registry transfers as the mirror knows them (docs/interop.md).

The reducer keeps the interop module's events in four tables: the peers the administrator
recorded, each transfer in or out with its phase, each transfer's messages (who signed which
digest, in which transaction) and the serials an accepted inbound transfer issued here. These
reads assemble a transfer's record from them; the unit blocks themselves are the mirror's as
always.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from indexer.models import (
    InteropImport,
    InteropMessage,
    InteropPeer,
    InteropTransfer,
    Issuance,
    Label,
    UnitBlock,
    table_of,
)

__all__ = [
    "inbound_transfers",
    "outbound_blocks",
    "outbound_transfers",
    "peers",
    "transfer_record",
]

_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)
_PEERS = table_of(InteropPeer)
_TRANSFERS = table_of(InteropTransfer)
_MESSAGES = table_of(InteropMessage)
_IMPORTS = table_of(InteropImport)

# A transfer's columns as its record shows them; a phase not reached yet is left out.
_OUT_FIELDS = (
    "transfer_id",
    "from_account",
    "to_account",
    "initiator",
    "quantity",
    "status",
    "proposal_digest",
    "deadline",
    "reason",
    "answer_digest",
)
_IN_FIELDS = ("transfer_id", "status", "proposal_digest", "deadline", "reason", "answer_digest")
_MESSAGE_FIELDS = ("digest", "signer", "signature", "deadline", "accepted", "reason")


def peers(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return every peer's latest record by registry code."""
    rows = conn.execute(select(_PEERS).order_by(_PEERS.c.registry_code)).mappings()
    return {r["registry_code"]: dict(r) for r in rows}


def _messages(conn: Connection, direction: str) -> dict[tuple[str, int], list[dict[str, Any]]]:
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    rows = conn.execute(
        select(_MESSAGES)
        .where(_MESSAGES.c.direction == direction)
        .order_by(_MESSAGES.c.block_number, _MESSAGES.c.log_index)
    ).mappings()
    for r in rows:
        message = {
            "event": r["event"],
            "block_number": r["block_number"],
            "tx_hash": r["tx_hash"],
            **{k: r[k] for k in _MESSAGE_FIELDS if r[k] is not None},
        }
        out.setdefault((r["peer_registry"], r["transfer_id"]), []).append(message)
    return out


def _transfers(conn: Connection, direction: str) -> list[Any]:
    return list(
        conn.execute(
            select(_TRANSFERS)
            .where(_TRANSFERS.c.direction == direction)
            .order_by(_TRANSFERS.c.peer_registry, _TRANSFERS.c.transfer_id)
        ).mappings()
    )


def outbound_transfers(conn: Connection) -> dict[int, dict[str, Any]]:
    """Return every outbound transfer by id with its phase and messages."""
    messages = _messages(conn, "out")
    out: dict[int, dict[str, Any]] = {}
    for r in _transfers(conn, "out"):
        record = {k: r[k] for k in _OUT_FIELDS if r[k] is not None}
        record["to_registry"] = r["peer_registry"]
        record["messages"] = messages.get((r["peer_registry"], r["transfer_id"]), [])
        out[r["transfer_id"]] = record
    return out


def inbound_transfers(conn: Connection) -> dict[tuple[str, int], dict[str, Any]]:
    """Return every transfer this registry answered, by (source registry, transfer id)."""
    messages = _messages(conn, "in")
    imported: dict[tuple[str, int], list[dict[str, int]]] = {}
    for r in conn.execute(
        select(_IMPORTS).order_by(_IMPORTS.c.source_registry, _IMPORTS.c.start)
    ).mappings():
        imported.setdefault((r["source_registry"], r["transfer_id"]), []).append(
            {
                "start": r["start"],
                "end": r["end"],
                "origin_start": r["origin_start"],
                "origin_end": r["origin_end"],
            }
        )
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in _transfers(conn, "in"):
        key = (r["peer_registry"], r["transfer_id"])
        record = {k: r[k] for k in _IN_FIELDS if r[k] is not None}
        record["source_registry"] = r["peer_registry"]
        record["messages"] = messages.get(key, [])
        record["imported"] = imported.get(key, [])
        out[key] = record
    return out


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
