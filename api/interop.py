"""The inter-registry protocol as a node runs it (docs/interop.md, decisions D37-D39).

Source side, driven by `InteropWorker`: for each outbound transfer InTransit without a recorded
proposal, sign a Proposal with the operator key and journal it (the contract checks it against
the locked blocks and records it); once recorded, POST it to the peer until the peer returns its
Answer recorded on the peer's chain, verify that answer against the peer record and journal it,
which settles the units (TransferredOut, or Held again).

Destination side, `receive_proposal` (the peer-facing route): check the proposal's signature
against the peer record and, through the source's API, that the source chain recorded this very
proposal; decide; sign the Answer and journal it; answer the source with the Answer only once it
is on this registry's chain.

Every step is idempotent and every message is durable in the journal, so either side may crash,
or the link break, at any point: the next round picks up from what the chains and journals hold.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

import httpx
from eth_account import Account as EthAccount
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak
from fastapi import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.models import JournalEntry, RequestStatus
from api.nonces import claim_nonce
from api.problems import refuse
from api.queries.interop import (
    inbound_transfers,
    outbound_blocks,
    outbound_transfers,
    peers,
)
from api.services import Services
from indexer.models import (
    Account,
    Article6ApproachParty,
    Article6Authorization,
    Article6Party,
    purposes_text,
    table_of,
)
from node.contracts import (
    FirstTransferDefinition,
    request_digest,
    text_bytes8,
    text_bytes32,
    typed_data,
)
from node.interop import (
    REASON_CODES,
    PeerDomain,
    answer_message,
    recover_signer,
    sign_message,
)

__all__ = [
    "OPERATOR_SIGNATURE_HEADER",
    "InteropWorker",
    "PeerReadUnverified",
    "journal_message",
    "message_rows",
    "operator_signed_response",
    "peer_domain",
    "receive_proposal",
    "verified_peer_read",
]

log = logging.getLogger(__name__)

_JOURNAL = JournalEntry.__table__  # type: ignore[attr-defined]
_ACCOUNTS = table_of(Account)
_A6_PARTIES = table_of(Article6Party)
_A6_APPROACH_PARTIES = table_of(Article6ApproachParty)
_A6_AUTHORIZATIONS = table_of(Article6Authorization)
_OPEN = (RequestStatus.ACCEPTED, RequestStatus.SUBMITTED, RequestStatus.CONFIRMED)


# Peer reads (decision D48): the body's exact bytes, signed by the operator key (EIP-191).
OPERATOR_SIGNATURE_HEADER = "Registry-Operator-Signature"


class PeerReadUnverified(ValueError):
    """A peer's answer that is not signed by the operator its peer record names."""


def operator_signed_response(services: Services, body: dict[str, Any]) -> Response:
    """Return `body` as compact JSON whose exact bytes the operator key signs (EIP-191), in the
    `Registry-Operator-Signature` header; unsigned when this process holds no operator key."""
    content = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    headers = {}
    if services.operator is not None:
        signed = services.operator.sign_message(encode_defunct(primitive=content))
        headers[OPERATOR_SIGNATURE_HEADER] = "0x" + bytes(signed.signature).hex()
    return Response(content=content, media_type="application/json", headers=headers)


def verified_peer_read(response: httpx.Response, peer: dict[str, Any]) -> dict[str, Any]:
    """Return a peer's signed read as JSON, once its signature over the exact body bytes recovers
    the operator of the peer record and the body names the peer's registry code; else raise
    PeerReadUnverified."""
    signature = response.headers.get(OPERATOR_SIGNATURE_HEADER)
    if not signature:
        raise PeerReadUnverified(f"{peer['registry_code']}'s answer is not signed")
    try:
        signer = EthAccount.recover_message(
            encode_defunct(primitive=response.content),
            signature=bytes.fromhex(signature.removeprefix("0x")),
        )
        body = json.loads(response.content)
    except Exception as exc:  # a malformed signature or body
        code = peer["registry_code"]
        raise PeerReadUnverified(f"{code}'s answer does not verify: {exc}") from exc
    if str(signer).lower() != str(peer["operator_address"]).lower():
        raise PeerReadUnverified(
            f"{peer['registry_code']}'s answer is signed by {signer}, not by its operator "
            f"{peer['operator_address']}"
        )
    named = body.get("registry_code") or (body.get("registry") or {}).get("registry_code")
    if not isinstance(body, dict) or named != peer["registry_code"]:
        raise PeerReadUnverified(f"the answer is {named!r}'s, not {peer['registry_code']}'s")
    return body


def peer_domain(record: dict[str, Any]) -> PeerDomain:
    """Return a peer record (as `api.queries.interop.peers` reads it) as a signing identity."""
    return PeerDomain(
        record["registry_code"],
        record["operator_address"],
        int(record["chain_id"]),
        record["registry_address"],
    )


def own_domain(services: Services) -> PeerDomain:
    """Return this registry's signing identity: its operator key and its domain."""
    if services.operator is None:
        raise refuse(
            "INTEROP_UNAVAILABLE", "This node holds no operator key; it cannot sign messages."
        )
    return PeerDomain(
        services.registry_code,
        services.operator.address,
        services.deployment.chain_id,
        services.deployment.registry,
    )


def message_rows(services: Services, kind: str) -> list[Any]:
    """Return the journal's rows of a protocol message kind ("Proposal" or "Answer")."""
    with services.engine.connect() as conn:
        return list(
            conn.execute(
                select(_JOURNAL).where(_JOURNAL.c.primary_type == kind).order_by(_JOURNAL.c.seq)
            )
        )


def journal_message(services: Services, data: dict[str, Any], signature: str) -> str:
    """Journal a protocol message for relaying; return its request id. Idempotent by digest."""
    digest = "0x" + request_digest(data).hex()
    message = data["message"]
    now = time.time()
    row = {
        "request_id": digest,
        "operation": "interop/" + data["primaryType"].lower(),
        "primary_type": data["primaryType"],
        "signer": message["signer"],
        "nonce": int(message["nonce"]),
        "typed_data": data,
        "signature": signature,
        "units_account": None,
        "status": RequestStatus.ACCEPTED,
        "attempts": 0,
        "accepted_at": now,
        "updated_at": now,
    }
    try:
        with services.engine.begin() as conn:
            conn.execute(_JOURNAL.insert().values(**row))
    except IntegrityError:
        pass  # already journaled: the same message, from a retry
    return digest


# -- source side ---------------------------------------------------------------------------------


def build_proposal(services: Services, transfer: dict[str, Any], deadline: int) -> dict[str, Any]:
    """Return the typed data of a proposal for an InTransit transfer, from the mirror."""
    me = own_domain(services)
    with services.engine.connect() as conn:
        blocks = outbound_blocks(conn, "in_transit", transfer["transfer_id"])
        nonce = claim_nonce(conn, services.chain, me.operator_address)
    units = [
        {
            "start": b["start"],
            "end": b["end"],
            "projectId": "0x" + text_bytes32(b["project_id"]).hex(),
            "unitType": "0x" + text_bytes32(b["unit_type"]).hex(),
            "vintage": b["vintage"],
            "monitoringStart": b["monitoring_start"],
            "monitoringEnd": b["monitoring_end"],
            "originRegistry": "0x" + text_bytes8(b["origin_registry"] or me.registry_code).hex(),
            "labels": ["0x" + text_bytes32(name).hex() for name in b["labels"]],
        }
        for b in blocks
    ]
    message = {
        "signer": me.operator_address,
        "transferId": transfer["transfer_id"],
        "sourceRegistry": "0x" + text_bytes8(me.registry_code).hex(),
        "destRegistry": "0x" + text_bytes8(transfer["to_registry"]).hex(),
        "fromAccount": transfer["from_account"],
        "toAccount": transfer["to_account"],
        "units": units,
        # ITMOs: the terms the contract recorded for the transfer and checks the proposal against.
        "itmos": services.chain.outbound_itmos(int(transfer["transfer_id"])),
        "nonce": nonce,
        "deadline": deadline,
    }
    return typed_data("Proposal", message, me.chain_id, me.registry_address)


def _rows_for(rows: list[Any], transfer_id: int, source: str | None = None) -> list[Any]:
    out = []
    for row in rows:
        message = row.typed_data["message"]
        if int(message["transferId"]) != transfer_id:
            continue
        if source is not None:
            proposal = message.get("proposal", message)
            if text_bytes8(source).hex() != str(proposal["sourceRegistry"]).removeprefix("0x"):
                continue
        out.append(row)
    return out


class InteropWorker:
    """Send this registry's proposals and record its peers' answers until transfers settle."""

    def __init__(self, services: Services, wake: Any = None) -> None:
        self.services = services
        self.interval = services.settings.interop_poll_seconds
        self._wake_journal = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=10.0)

    def start(self) -> InteropWorker:
        self._thread = threading.Thread(target=self._run, name="interop", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a peer, database or chain outage: log and retry next round
                log.exception("interop worker step failed; retrying")
            self._stop.wait(self.interval)

    def step(self) -> None:
        """One round over every unsettled outbound transfer."""
        with self.services.engine.connect() as conn:
            transfers = outbound_transfers(conn)
            known = peers(conn)
        unsettled = [t for t in transfers.values() if t["status"] == "in_transit"]
        if not unsettled:
            return
        proposals = message_rows(self.services, "Proposal")
        answers = message_rows(self.services, "Answer")
        for transfer in unsettled:
            peer = known.get(transfer["to_registry"])
            if peer is None:
                continue
            mine = _rows_for(proposals, transfer["transfer_id"])
            if "proposal_digest" not in transfer:
                if not any(r.status in _OPEN for r in mine):
                    self._propose(transfer)
                continue
            if any(r.status in _OPEN for r in _rows_for(answers, transfer["transfer_id"])):
                continue  # the answer is on its way to this chain
            sent = [r for r in mine if r.request_id == transfer["proposal_digest"]]
            if sent:
                self._deliver(peer, sent[0])

    def _propose(self, transfer: dict[str, Any]) -> None:
        deadline = int(time.time()) + self.services.settings.interop_deadline_seconds
        data = build_proposal(self.services, transfer, deadline)
        journal_message(self.services, data, sign_message(self.services.operator, data))  # type: ignore[arg-type]
        self._poke()

    def _deliver(self, peer: dict[str, Any], proposal: Any) -> None:
        try:
            response = self._http.post(
                peer["api_url"].rstrip("/") + "/v1/interop/proposals",
                json={"typed_data": proposal.typed_data, "signature": proposal.signature},
            )
        except httpx.HTTPError as exc:
            log.info("peer %s unreachable (%s); will retry", peer["registry_code"], exc)
            return
        if response.status_code != 200:
            log.warning(
                "peer %s answered %s: %s",
                peer["registry_code"],
                response.status_code,
                response.text[:300],
            )
            return
        answer = response.json().get("answer")
        if answer is None:
            return  # the peer is still recording its answer
        data, signature = answer["typed_data"], answer["signature"]
        domain = peer_domain(peer)
        message = data["message"]
        ours = typed_data("Answer", message, domain.chain_id, domain.registry_address)
        if (
            ours != data
            or recover_signer(ours, signature).lower() != domain.operator_address.lower()
            or "0x"
            + request_digest(
                typed_data(
                    "Proposal",
                    message["proposal"],
                    self.services.deployment.chain_id,
                    self.services.deployment.registry,
                )
            ).hex()
            != proposal.request_id
        ):
            log.warning(
                "peer %s sent an answer that does not verify; ignored", domain.registry_code
            )
            return
        journal_message(self.services, ours, signature)
        self._poke()

    def _poke(self) -> None:
        if self._wake_journal is not None:
            self._wake_journal()


# -- destination side ------------------------------------------------------------------------------


def _deterministic_nonce(source: str, transfer_id: int, reason: int, attempt: int) -> int:
    """An unordered nonce every worker derives alike, so two answers to one proposal collide."""
    seed = keccak(f"interop-answer:{source}:{transfer_id}:{reason}:{attempt}".encode())
    return (1 << 255) | int.from_bytes(seed[:8], "big")


def receive_proposal(
    services: Services, data: dict[str, Any], signature: str, http: httpx.Client | None = None
) -> dict[str, Any]:
    """Handle a peer's proposal: verify, decide, journal the answer; return it once recorded."""
    if not isinstance(data, dict) or data.get("primaryType") != "Proposal":
        raise refuse("INVALID_PROPOSAL", "The body's typed_data is not a Proposal.")
    message = data.get("message")
    if not isinstance(message, dict):
        raise refuse("INVALID_PROPOSAL", "The proposal has no message.")
    try:
        source = (
            bytes.fromhex(str(message["sourceRegistry"]).removeprefix("0x")).rstrip(b"\0").decode()
        )
        dest = bytes.fromhex(str(message["destRegistry"]).removeprefix("0x")).rstrip(b"\0").decode()
        transfer_id = int(message["transferId"])
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise refuse("INVALID_PROPOSAL", f"The proposal is malformed: {exc}.") from exc
    if dest != services.registry_code:
        raise refuse("INVALID_PROPOSAL", f"The proposal is for registry {dest!r}, not this one.")
    with services.engine.connect() as conn:
        known = peers(conn)
        answered = inbound_transfers(conn).get((source, transfer_id))
    peer = known.get(source)
    if peer is None:
        raise refuse("PEER_NOT_FOUND", f"Registry {source!r} is not a peer of this registry.")
    domain = peer_domain(peer)
    try:
        ours = typed_data("Proposal", message, domain.chain_id, domain.registry_address)
        signer = recover_signer(ours, signature)
    except Exception as exc:  # malformed fields or signature
        raise refuse("INVALID_PROPOSAL", f"The proposal cannot be verified: {exc}.") from exc
    if ours != data or signer.lower() != domain.operator_address.lower():
        raise refuse(
            "INVALID_SIGNATURE",
            f"The proposal is not signed by {source}'s operator {domain.operator_address} in "
            "its domain.",
        )
    answers = _rows_for(message_rows(services, "Answer"), transfer_id, source)
    if answered is not None and "answer_digest" in answered:
        for row in answers:
            if row.request_id == answered["answer_digest"]:
                return _answer_body(row, "answered")
        raise refuse(
            "INTEROP_UNAVAILABLE", "The answer is on-chain but not in this node's journal."
        )
    if any(row.status in _OPEN or row.status == RequestStatus.INDEXED for row in answers):
        return {"status": "pending", "answer": None}
    reason = _decide(services, peer, data, http)
    if reason is None:
        return {"status": "pending", "answer": None}
    me = own_domain(services)
    now = int(services.client.get_block("latest")["timestamp"])
    deadline = int(message["deadline"]) if reason == 0 else (now // 3600 + 25) * 3600
    answer = answer_message(me.operator_address, message, signature, reason, deadline)
    failed = sum(1 for row in answers if row.status == RequestStatus.FAILED)
    answer["nonce"] = _deterministic_nonce(source, transfer_id, reason, failed)
    answer_data = typed_data("Answer", answer, me.chain_id, me.registry_address)
    journal_message(services, answer_data, sign_message(services.operator, answer_data))  # type: ignore[arg-type]
    return {"status": "pending", "answer": None}


def _answer_body(row: Any, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "answer": {"typed_data": row.typed_data, "signature": row.signature},
        "tx_hash": row.tx_hash,
    }


def _decide(
    services: Services, peer: dict[str, Any], data: dict[str, Any], http: httpx.Client | None
) -> int | None:
    """Return 0 to accept, a refusal reason, or None to decide later (source unreachable)."""
    message = data["message"]
    # NOTE: the chain's clock, which the contract checks the acceptance against; with the wall
    # clock, a chain lagging behind it would refuse every acceptance the node signs.
    now = int(services.client.get_block("latest")["timestamp"])
    if int(message["deadline"]) < now + 5:
        return REASON_CODES["DEADLINE_PASSED"]
    itmos = message.get("itmos") or []
    if len(itmos) > 1:
        return REASON_CODES["PROPOSAL_INVALID"]
    with services.engine.connect() as conn:
        account = conn.execute(
            select(_ACCOUNTS).where(_ACCOUNTS.c.id == int(message["toAccount"]))
        ).first()
        if itmos and account is not None and not _can_acquire(conn, account, itmos[0]):
            return REASON_CODES["ITMOS_NOT_ACCEPTED"]
    if (
        account is None
        or account.status != "open"
        or account.kind
        in (
            "cancellation",
            "omge_cancellation",
        )
    ):
        return REASON_CODES["ACCOUNT_CANNOT_RECEIVE"]
    # The units: the source chain must hold this very proposal as recorded, which its contract
    # accepted only for exactly the locked blocks with these attributes.
    digest = "0x" + request_digest(data).hex()
    client = http or httpx.Client(timeout=10.0)
    try:
        response = client.get(
            peer["api_url"].rstrip("/") + f"/v1/interop/transfers/{int(message['transferId'])}"
        )
    except httpx.HTTPError:
        return None
    finally:
        if http is None:
            client.close()
    if response.status_code != 200:
        return None
    try:
        # The source's answer counts only signed by its operator (decision D48): a relay or a
        # proxy between the two registries cannot make this registry accept unlocked units.
        read = verified_peer_read(response, peer)
    except PeerReadUnverified as exc:
        log.warning("not deciding on transfer %s: %s", message["transferId"], exc)
        return None
    outbound = read.get("outbound") or {}
    if outbound.get("proposal_digest") != digest or outbound.get("status") != "in_transit":
        return REASON_CODES["UNITS_NOT_VERIFIED"]
    return 0


def _text(value: Any) -> str:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


def _can_acquire(conn: Any, account: Any, terms: dict[str, Any]) -> bool:
    """Whether the destination account's Party may acquire ITMOs with these terms (decision D47):
    it is the acquiring Party the proposal names, registered here and taking part in the approach,
    and the letter, if this registry already records it, has the same terms. The contract checks
    the same; refusing here answers with a reason instead of an answer the chain would revert."""
    party = _text(terms["acquiringParty"])
    approach = _text(terms["approachId"])
    if account.party != party:
        return False
    if conn.execute(select(_A6_PARTIES).where(_A6_PARTIES.c.party == party)).first() is None:
        return False
    participants = _A6_APPROACH_PARTIES
    if (
        conn.execute(
            select(participants).where(
                participants.c.approach_id == approach, participants.c.party == party
            )
        ).first()
        is None
    ):
        return False
    letter = conn.execute(
        select(_A6_AUTHORIZATIONS).where(
            _A6_AUTHORIZATIONS.c.party == _text(terms["authorizingParty"]),
            _A6_AUTHORIZATIONS.c.letter_id == _text(terms["letterId"]),
        )
    ).first()
    if letter is None:
        return bool(_text(terms["letterId"])) and int(terms["firstTransferDefinition"]) in (1, 2, 3)
    return bool(
        letter.approach_id == approach
        and letter.purposes == purposes_text(int(terms["purposes"]))
        and letter.first_transfer_definition
        == FirstTransferDefinition(int(terms["firstTransferDefinition"])).name.lower()
        and int(letter.authorized_at) == int(terms["authorizedAt"])
    )


# -- writes -------------------------------------------------------------------------------------


_REGISTRY_CODE = re.compile(r"[A-Z0-9]{1,8}")


def peer_account(account_id: str) -> tuple[str, int]:
    """Parse a peer registry's account id such as NZ-1000002 into (code, number)."""
    code, _, number = account_id.partition("-")
    well_formed = (
        _REGISTRY_CODE.fullmatch(code) is not None
        and number.isascii()
        and number.isdecimal()
        and not number.startswith("0")
        and 0 < int(number) < 2**64
    )
    if not well_formed:
        raise refuse(
            "INVALID_ACCOUNT_ID",
            f"{account_id!r} is not an account id: a registry code (up to 8 capitals or digits), "
            "a hyphen and the account's number, e.g. NZ-1000002.",
        )
    return code, int(number)


def transfer_out_request(
    r: Any, signer: str, source: Any, to_account: str, ranges: list[dict[str, int]]
) -> dict[str, Any]:
    """Return the checked TransferOut typed data of a transfer to a peer registry's account."""
    from api.writes import checked_request

    code, number = peer_account(to_account)
    return checked_request(
        r,
        "TransferOut",
        {
            "signer": signer,
            "fromAccount": source.id,
            "toRegistry": "0x" + text_bytes8(code).hex(),
            "toAccount": number,
            "ranges": ranges,
        },
    )
