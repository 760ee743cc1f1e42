"""Prechecks of the inter-registry writes: what the InteropModule would refuse, refused early."""

from __future__ import annotations

from typing import Any

from api.intents import Resolver, message_ranges
from api.operations.refusals import Refusal
from api.queries.interop import outbound_transfers, peers
from node.contracts import bytes32_text

__all__ = ["INTEROP_PRECHECKS"]


def check_set_peer(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin")
    code = bytes32_text(m["registryCode"])
    if not code or code == r.registry_code:
        raise Refusal("InvalidPeer", f"{code!r} cannot be a peer: give another registry's code.")
    zero = "0x" + "0" * 40
    if (
        int(m["chainId"]) == 0
        or str(m["operator"]).lower() == zero
        or str(m["registry"]).lower() == zero
    ):
        raise Refusal("InvalidPeer", "A peer needs an operator address, a chain id and a registry.")


def check_transfer_out(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    account = r.account_at(m["fromAccount"])
    r.require_right(account, m["signer"], "initiate")
    code = bytes32_text(m["toRegistry"])
    if code not in peers(r.conn):
        raise Refusal("PeerNotFound", f"Registry {code!r} is not a peer of this registry.")
    if int(m["toAccount"]) == 0:
        raise Refusal("INVALID_ACCOUNT_ID", "The destination account id is zero.")
    r.check_ranges(account, message_ranges(m))


def check_approve_transfer_out(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    if "transfer_id" in p and int(p["transfer_id"]) != m["transferId"]:
        raise Refusal("INVALID_REQUEST", "message.transferId differs from the transfer in the path")
    transfer = outbound_transfers(r.conn).get(int(m["transferId"]))
    if transfer is None:
        raise Refusal("TransferNotFound", f"There is no outbound transfer {m['transferId']}.")
    if transfer["status"] != "pending":
        raise Refusal("TransferNotPending", f"Transfer {m['transferId']} is {transfer['status']}.")
    account = r.account_at(transfer["from_account"])
    r.require_right(account, m["signer"], "approve")
    if str(transfer["initiator"]).lower() == str(m["signer"]).lower():
        raise Refusal(
            "ApproverIsInitiator",
            "Under two-person approval, another representative must approve.",
        )


INTEROP_PRECHECKS = {
    "SetPeer": check_set_peer,
    "TransferOut": check_transfer_out,
    "ApproveTransferOut": check_approve_transfer_out,
}
