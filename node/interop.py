"""Inter-registry protocol messages: typed data, signing, and offline verification.

Two registries exchange two messages per transfer (docs/interop.md, decisions D37-D39):

- a `Proposal`, signed by the source registry's operator in the source's EIP-712 domain;
- an `Answer`, signed by the destination registry's operator in the destination's domain. It
  contains the proposal and the proposal's signature, so its one digest commits to both.

Both chains record both messages. Everything here is pure computation: a third party needs only
the two messages, their signatures and the two peer records (operator address, chain id and
registry address) to check who signed what.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from node.contracts import request_digest, sign_typed_data, typed_data

__all__ = [
    "REFUSAL_REASONS",
    "PeerDomain",
    "VerifiedMessage",
    "answer_message",
    "message_typed_data",
    "recover_signer",
    "sign_message",
    "unordered_nonce",
    "verify_exchange",
]

# Why a destination refuses, as the Answer's `reason` carries it (0 means accepted).
REFUSAL_REASONS: dict[int, str] = {
    1: "ACCOUNT_CANNOT_RECEIVE",
    2: "DEADLINE_PASSED",
    3: "UNITS_NOT_VERIFIED",
    4: "PROPOSAL_INVALID",
    5: "ITMOS_NOT_ACCEPTED",
}
REASON_CODES: dict[str, int] = {name: code for code, name in REFUSAL_REASONS.items()}


@dataclass(frozen=True)
class PeerDomain:
    """A registry's signing identity: its code, operator key and EIP-712 domain."""

    registry_code: str
    operator_address: str
    chain_id: int
    registry_address: str


def unordered_nonce() -> int:
    """Return a fresh unordered nonce (decision D33): bit 255 set, random low bits."""
    return (1 << 255) | secrets.randbits(64)


def message_typed_data(kind: str, message: dict[str, Any], domain: PeerDomain) -> dict[str, Any]:
    """Return the typed data of a protocol message ("Proposal" or "Answer") in a domain."""
    return typed_data(kind, message, domain.chain_id, domain.registry_address)


def sign_message(account: LocalAccount, data: dict[str, Any]) -> str:
    """Sign a protocol message with an operator key; return the 0x-hex signature."""
    return "0x" + sign_typed_data(account, data).hex()


def recover_signer(data: dict[str, Any], signature: str) -> str:
    """Return the address that signed typed data."""
    signable = encode_typed_data(full_message=data)
    return str(Account.recover_message(signable, signature=bytes.fromhex(signature[2:])))


def answer_message(
    signer: str,
    proposal: dict[str, Any],
    proposal_signature: str,
    reason: int,
    deadline: int,
) -> dict[str, Any]:
    """Return an Answer message to a proposal: accepted when `reason` is 0."""
    return {
        "signer": signer,
        "transferId": int(proposal["transferId"]),
        "proposal": proposal,
        "proposalSignature": proposal_signature,
        "accepted": reason == 0,
        "reason": reason,
        "nonce": unordered_nonce(),
        "deadline": deadline,
    }


@dataclass(frozen=True)
class VerifiedMessage:
    """One protocol message, checked."""

    kind: str
    digest: str
    signer: str
    expected_signer: str
    ok: bool


def verify_exchange(
    answer: dict[str, Any], answer_signature: str, source: PeerDomain, destination: PeerDomain
) -> list[VerifiedMessage]:
    """Check an answer and the proposal inside it against the two registries' identities.

    `answer` is the Answer's typed data (as either node's interop record shows it). Returns one
    line per message; all must be ok. The proposal's typed data is rebuilt in the source's domain
    from the copy the answer embeds, so the answer's signature also covers what was proposed.
    """
    message = answer["message"]
    proposal = message["proposal"]
    proposal_data = message_typed_data("Proposal", proposal, source)
    results = []
    signer = recover_signer(proposal_data, message["proposalSignature"])
    results.append(
        VerifiedMessage(
            "Proposal",
            "0x" + request_digest(proposal_data).hex(),
            signer,
            source.operator_address,
            signer.lower() == source.operator_address.lower()
            and str(proposal["signer"]).lower() == signer.lower()
            and _code(proposal["sourceRegistry"]) == source.registry_code
            and _code(proposal["destRegistry"]) == destination.registry_code,
        )
    )
    answer_data = message_typed_data("Answer", message, destination)
    domain_ok = answer["domain"] == answer_data["domain"]
    signer = recover_signer(answer_data, answer_signature)
    results.append(
        VerifiedMessage(
            "Answer",
            "0x" + request_digest(answer_data).hex(),
            signer,
            destination.operator_address,
            domain_ok
            and signer.lower() == destination.operator_address.lower()
            and str(message["signer"]).lower() == signer.lower(),
        )
    )
    return results


def _code(value: str) -> str:
    raw = bytes.fromhex(value.removeprefix("0x")) if value.startswith("0x") else value.encode()
    return raw.rstrip(b"\0").decode("ascii", errors="replace")
