"""Inter-registry transfers (docs/interop.md): peers, transfers out, the peer-facing protocol
endpoint, a transfer's record of messages, and reconciliation with a peer.

The reads are what a peer registry and an auditor need; they show account numbers of the two
registries' transfers and nothing else of a holder.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from api.deps import ServicesDep
from api.intents import Resolver, bytes8_hex
from api.interop import (
    PeerReadUnverified,
    message_rows,
    operator_signed_response,
    own_domain,
    receive_proposal,
    transfer_out_request,
    verified_peer_read,
)
from api.operations.edge import TransferId, prepare_request, submit_route
from api.paging import reject_unknown_parameters
from api.problems import refuse
from api.queries.interop import inbound_transfers, outbound_transfers, peers
from api.schemas import (
    ApproveIntent,
    PeerIntent,
    PreparedRequest,
    SignedSubmission,
    TransferOutIntent,
)
from api.services import Services
from api.writes import checked_request

__all__ = ["router"]

router = APIRouter(tags=["interop"])

PeerCode = Annotated[str, Query(min_length=1, max_length=8, pattern=r"^[A-Z0-9]+$")]


class Identity(BaseModel):
    """A registry's signing identity: what a peer's administrator records with admin/peers."""

    registry_code: str
    operator_address: str
    chain_id: int
    registry_address: str


class IdentityRead(Identity):
    as_of_block: int


class PeerRecord(Identity):
    """A peer registry as recorded on this registry's chain."""

    api_url: str
    block_number: int
    tx_hash: str


class PeerPage(BaseModel):
    items: list[PeerRecord]
    next_cursor: str | None
    as_of_block: int


class InteropTransferRead(BaseModel):
    """What this registry holds of an inter-registry transfer: `outbound` when it is the source,
    `inbound` (one per source registry) when it is the destination. Each lists its chain events
    (`messages`, with transaction hashes) and its signed protocol messages (`signed`)."""

    registry: Identity
    as_of_block: int
    outbound: dict[str, Any] | None = None
    inbound: list[dict[str, Any]] | None = None


class ProposalReply(BaseModel):
    """`pending` until this registry's signed answer is on its chain, then `answered`."""

    status: str
    answer: dict[str, Any] | None
    tx_hash: str | None = None
    as_of_block: int


class LedgerRead(BaseModel):
    """[transfer id, first serial, last serial] rows, serials in the source registry's numbering."""

    registry_code: str
    peer: str
    as_of_block: int
    sent: list[list[int]]
    received: list[list[int]]
    in_transit: list[int]


class Difference(BaseModel):
    direction: str
    transfer_id: int
    start: int
    end: int
    only_at: str


class DirectionTotals(BaseModel):
    source: int
    destination: int


class ReconciliationRead(BaseModel):
    peer: str
    as_of_block: int
    peer_as_of_block: int | None
    totals: dict[str, DirectionTotals]
    in_transit: dict[str, list[int]]
    differences: list[Difference]


@router.post("/admin/peers/prepare", response_model=PreparedRequest, tags=["admin"])
def prepare_peer(intent: PeerIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare recording a peer registry: its code, API, operator key and EIP-712 domain."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r,
            "SetPeer",
            {
                "signer": intent.signer,
                "registryCode": bytes8_hex(intent.registry_code),
                "apiUrl": intent.api_url,
                "operator": intent.operator_address,
                "chainId": intent.chain_id,
                "registry": intent.registry_address,
            },
        )

    return prepare_request(services, build)


submit_route(router, "/admin/peers", "admin/peers", tags=["admin"])


@router.post("/transfers/out/prepare", response_model=PreparedRequest, tags=["transfers"])
def prepare_transfer_out(intent: TransferOutIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare a transfer to a peer registry's account (also what `transfers/prepare` returns)."""

    def build(r: Resolver) -> dict[str, Any]:
        source = r.account(intent.from_account)
        r.require_right(source, intent.signer, "initiate")
        units = r.units(source, intent.quantity, intent.filters, intent.ranges)
        return transfer_out_request(r, intent.signer, source, intent.to_account, units)

    return prepare_request(services, build)


submit_route(router, "/transfers/out", "transfers/out", tags=["transfers"])


@router.post(
    "/transfers/out/{transfer_id}/approve/prepare",
    response_model=PreparedRequest,
    tags=["transfers"],
)
def prepare_approve_out(
    transfer_id: TransferId, intent: ApproveIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare approving a pending transfer to a peer registry (not by its initiator)."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r, "ApproveTransferOut", {"signer": intent.signer, "transferId": transfer_id}
        )

    return prepare_request(services, build)


submit_route(
    router,
    "/transfers/out/{transfer_id}/approve",
    "transfers/out/approve",
    tags=["transfers"],
    transfer_id=TransferId,
)


# -- the protocol ---------------------------------------------------------------------------


@router.post("/interop/proposals", response_model=ProposalReply)
def post_proposal(body: SignedSubmission, services: ServicesDep) -> dict[str, Any]:
    """A peer registry's signed proposal. Answers `pending` until this registry's signed answer
    is on its chain, then the answer. Idempotent: the peer sends it again until answered."""
    result = receive_proposal(services, body.typed_data, body.signature)
    result["as_of_block"] = services.indexed_block()
    return result


@router.get(
    "/interop/peers",
    response_model=PeerPage,
    dependencies=[Depends(reject_unknown_parameters)],
)
def list_peers(services: ServicesDep) -> dict[str, Any]:
    """The peer registries the administrator recorded on-chain, and this registry's identity."""
    block = services.indexed_block()
    with services.engine.connect() as conn:
        items = list(peers(conn).values())
    return {"items": items, "next_cursor": None, "as_of_block": block}


@router.get("/interop/identity", response_model=IdentityRead)
def identity(services: ServicesDep) -> dict[str, Any]:
    """This registry's signing identity, what a peer's administrator records (admin/peers)."""
    return _identity(services) | {"as_of_block": services.indexed_block()}


def _identity(services: Services) -> dict[str, Any]:
    me = own_domain(services)
    return {
        "registry_code": me.registry_code,
        "operator_address": me.operator_address,
        "chain_id": me.chain_id,
        "registry_address": me.registry_address,
    }


@router.get("/interop/transfers/{transfer_id}", response_model=InteropTransferRead)
def get_interop_transfer(
    transfer_id: TransferId,
    services: ServicesDep,
    source: Annotated[str | None, Query(max_length=8, pattern=r"^[A-Z0-9]+$")] = None,
) -> Response:
    """What this registry's chain and journal hold of a transfer: the events with their
    transaction hashes, and the signed messages (typed data, signer, signature). The body is
    signed by the operator key (header `Registry-Operator-Signature`, decision D48)."""
    block = services.indexed_block()
    with services.engine.connect() as conn:
        outbound = outbound_transfers(conn).get(transfer_id) if source is None else None
        known = peers(conn)
        inbound = [
            record
            for (code, tid), record in inbound_transfers(conn).items()
            if tid == transfer_id and source in (None, code)
        ]
    if outbound is None and not inbound:
        raise refuse("TRANSFER_NOT_FOUND", f"No inter-registry transfer {transfer_id} here.")
    body: dict[str, Any] = {"registry": _identity(services), "as_of_block": block}
    messages = _signed_messages(services, transfer_id)
    if outbound is not None:
        code = services.registry_code
        outbound["messages"] = outbound["messages"]
        outbound["signed"] = [m for m in messages if m["source_registry"] == code]
        outbound["peer"] = known.get(outbound["to_registry"])
        body["outbound"] = outbound
    if inbound:
        for record in inbound:
            record["signed"] = [
                m for m in messages if m["source_registry"] == record["source_registry"]
            ]
            record["peer"] = known.get(record["source_registry"])
        body["inbound"] = inbound
    read = InteropTransferRead.model_validate(body).model_dump(mode="json")
    return operator_signed_response(services, read)


def _signed_messages(services: Services, transfer_id: int) -> list[dict[str, Any]]:
    out = []
    for kind in ("Proposal", "Answer"):
        for row in message_rows(services, kind):
            message = row.typed_data["message"]
            if int(message["transferId"]) != transfer_id:
                continue
            proposal = message.get("proposal", message)
            out.append(
                {
                    "kind": kind,
                    "source_registry": bytes.fromhex(
                        str(proposal["sourceRegistry"]).removeprefix("0x")
                    )
                    .rstrip(b"\0")
                    .decode(),
                    "digest": row.request_id,
                    "signer": row.signer,
                    "signature": row.signature,
                    "status": row.status,
                    "tx_hash": row.tx_hash,
                    "block_number": row.block_number,
                    "typed_data": row.typed_data,
                }
            )
    return out


# -- reconciliation ---------------------------------------------------------------------------


def ledger(services: Services, peer: str) -> dict[str, Any]:
    """This registry's side of its exchanges with a peer, in the source's serial numbers."""
    with services.engine.connect() as conn:
        outs = outbound_transfers(conn)
        ins = inbound_transfers(conn)
        from api.queries.interop import outbound_blocks

        sent = []
        for t in outs.values():
            if t["to_registry"] != peer or t["status"] != "transferred":
                continue
            for b in outbound_blocks(conn, "transferred_out", t["transfer_id"]):
                sent.append([t["transfer_id"], b["start"], b["end"]])
    received = []
    for (code, tid), record in ins.items():
        if code != peer or record.get("status") != "accepted":
            continue
        for unit in record["imported"]:
            received.append([tid, unit["origin_start"], unit["origin_end"]])
    in_transit = sorted(
        t["transfer_id"]
        for t in outs.values()
        if t["to_registry"] == peer and t["status"] in ("pending", "in_transit")
    )
    return {"sent": sorted(sent), "received": sorted(received), "in_transit": in_transit}


@router.get("/interop/ledger", response_model=LedgerRead)
def get_ledger(services: ServicesDep, peer: PeerCode) -> Response:
    """Units this registry transferred to `peer` and received from it, by transfer and serial
    range (the source's serials), for the peer's reconciliation. Signed by the operator key
    (header `Registry-Operator-Signature`, decision D48)."""
    block = services.indexed_block()
    body = {"registry_code": services.registry_code, "peer": peer, "as_of_block": block}
    body |= ledger(services, peer)
    read = LedgerRead.model_validate(body).model_dump(mode="json")
    return operator_signed_response(services, read)


@router.get("/interop/reconciliation", response_model=ReconciliationRead)
def reconciliation(services: ServicesDep, peer: PeerCode) -> dict[str, Any]:
    """Compare this registry's exchanges with `peer` against the peer's own ledger, both
    directions: totals first, then transfer by transfer and range by range."""
    block = services.indexed_block()
    with services.engine.connect() as conn:
        record = peers(conn).get(peer)
    if record is None:
        raise refuse("PEER_NOT_FOUND", f"Registry {peer!r} is not a peer of this registry.")
    mine = ledger(services, peer)
    try:
        response = httpx.get(
            record["api_url"].rstrip("/") + "/v1/interop/ledger",
            params={"peer": services.registry_code},
            timeout=10.0,
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise refuse("PEER_UNREACHABLE", f"Peer {peer} did not answer: {exc}.") from exc
    try:
        theirs = verified_peer_read(response, record)
    except PeerReadUnverified as exc:
        raise refuse("PEER_UNVERIFIED", f"Peer {peer}'s ledger cannot be trusted: {exc}.") from exc
    directions = {
        f"{services.registry_code}->{peer}": (mine["sent"], theirs["received"]),
        f"{peer}->{services.registry_code}": (theirs["sent"], mine["received"]),
    }
    totals = {}
    differences = []
    for name, (source_side, dest_side) in directions.items():
        source_total = sum(end - start + 1 for _t, start, end in source_side)
        dest_total = sum(end - start + 1 for _t, start, end in dest_side)
        totals[name] = {"source": source_total, "destination": dest_total}
        a = {tuple(x) for x in source_side}
        b = {tuple(x) for x in dest_side}
        for tid, start, end in sorted(a - b):
            differences.append(
                {
                    "direction": name,
                    "transfer_id": tid,
                    "start": start,
                    "end": end,
                    "only_at": "source",
                }
            )
        for tid, start, end in sorted(b - a):
            differences.append(
                {
                    "direction": name,
                    "transfer_id": tid,
                    "start": start,
                    "end": end,
                    "only_at": "destination",
                }
            )
    return {
        "peer": peer,
        "as_of_block": block,
        "peer_as_of_block": theirs.get("as_of_block"),
        "totals": totals,
        "in_transit": {services.registry_code: mine["in_transit"], peer: theirs["in_transit"]},
        "differences": differences,
    }
