"""Build and sign registry requests with eth-account keys, for operators, tests and tooling.

The API builds the same typed data for platforms in `prepare`; this module is the node-side path
(bootstrap, CLI, tests) that talks to the chain directly.
"""

from __future__ import annotations

import time
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3

from node.chain import ChainClient
from node.contracts import (
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    CancellationPurpose,
    PendingTransfer,
    SignedRequest,
    sign_typed_data,
    text_bytes8,
    text_bytes32,
    typed_data,
)
from node.ledger import BlockIndex

__all__ = ["RequestSigner"]

_NONCES_ABI = [
    {
        "type": "function",
        "name": "nonces",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]


_TRANSFER_INITIATED = Web3.keccak(text="TransferInitiated(uint64,uint64,uint64,address,uint64)")


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


class RequestSigner:
    """Sign requests for one registry deployment; nonces come from the chain or the caller."""

    def __init__(
        self, client: ChainClient, registry_address: str, deadline_seconds: int = 3600
    ) -> None:
        self.client = client
        self.registry = Web3.to_checksum_address(registry_address)
        self.deadline_seconds = deadline_seconds
        self._nonces = client.w3.eth.contract(address=self.registry, abi=_NONCES_ABI)

    def next_nonce(self, signer: str) -> int:
        """Return the signer's next unused nonce (lane 0) as the chain sees it now."""
        return int(self._nonces.functions.nonces(Web3.to_checksum_address(signer)).call())

    def sign(
        self,
        account: LocalAccount,
        primary_type: str,
        fields: dict[str, Any],
        block_hints: list[int] | None = None,
        nonce: int | None = None,
        deadline: int | None = None,
    ) -> SignedRequest:
        """Complete a request with signer, nonce and deadline, and sign it."""
        message = {
            "signer": account.address,
            **fields,
            "nonce": self.next_nonce(account.address) if nonce is None else nonce,
            "deadline": int(time.time()) + self.deadline_seconds if deadline is None else deadline,
        }
        data = typed_data(primary_type, message, self.client.chain_id, self.registry)
        return SignedRequest(data, sign_typed_data(account, data), tuple(block_hints or ()))

    # -- request shapes ----------------------------------------------------------------------

    def open_account(
        self,
        admin: LocalAccount,
        holder_name: str,
        representatives: list[dict[str, Any]],
        kind: AccountKind = AccountKind.HOLDING,
        policy: ApprovalPolicy = ApprovalPolicy.TWO_PERSON,
        party: str = "",
        **kw: Any,
    ) -> SignedRequest:
        """Sign an OpenAccount request; each representative is a Representative struct dict."""
        return self.sign(
            admin,
            "OpenAccount",
            {
                "kind": int(kind),
                "holderName": holder_name,
                "party": _hex(text_bytes8(party)),
                "approvalPolicy": int(policy),
                "representatives": representatives,
            },
            **kw,
        )

    def set_representative(
        self, admin: LocalAccount, account_id: int, representative: dict[str, Any], **kw: Any
    ) -> SignedRequest:
        """Sign a SetRepresentative request."""
        return self.sign(
            admin,
            "SetRepresentative",
            {"accountId": account_id, "representative": representative},
            **kw,
        )

    def set_account_status(
        self, admin: LocalAccount, account_id: int, status: AccountStatus, **kw: Any
    ) -> SignedRequest:
        """Sign a SetAccountStatus request."""
        return self.sign(
            admin, "SetAccountStatus", {"accountId": account_id, "status": int(status)}, **kw
        )

    def register_project(
        self,
        signer: LocalAccount,
        project_id: str,
        name: str,
        methodology: str,
        country: str,
        **kw: Any,
    ) -> SignedRequest:
        """Sign a RegisterProject request."""
        return self.sign(
            signer,
            "RegisterProject",
            {
                "projectId": _hex(text_bytes32(project_id)),
                "name": name,
                "methodology": methodology,
                "country": _hex(text_bytes8(country)),
            },
            **kw,
        )

    def define_label(
        self, admin: LocalAccount, name: str, authority: str, **kw: Any
    ) -> SignedRequest:
        """Sign a DefineLabel request."""
        return self.sign(
            admin,
            "DefineLabel",
            {"name": _hex(text_bytes32(name)), "authority": Web3.to_checksum_address(authority)},
            **kw,
        )

    def issue(
        self,
        issuer: LocalAccount,
        project_id: str,
        unit_type: str,
        vintage: int,
        monitoring_start: int,
        monitoring_end: int,
        quantity: int,
        to_account: int,
        labels: int = 0,
        origin_registry: str = "",
        **kw: Any,
    ) -> SignedRequest:
        """Sign an Issue request; monitoring dates are unix seconds."""
        return self.sign(
            issuer,
            "Issue",
            {
                "projectId": _hex(text_bytes32(project_id)),
                "unitType": _hex(text_bytes32(unit_type)),
                "vintage": vintage,
                "monitoringStart": monitoring_start,
                "monitoringEnd": monitoring_end,
                "originRegistry": _hex(text_bytes8(origin_registry)),
                "quantity": quantity,
                "toAccount": to_account,
                "labels": labels,
            },
            **kw,
        )

    def initiate_transfer(
        self,
        ar: LocalAccount,
        from_account: int,
        to_account: int,
        ranges: list[tuple[int, int]],
        blocks: BlockIndex,
        **kw: Any,
    ) -> SignedRequest:
        """Sign an InitiateTransfer request, with block hints from a replayed block index."""
        return self.sign(
            ar,
            "InitiateTransfer",
            {
                "fromAccount": from_account,
                "toAccount": to_account,
                "ranges": [{"start": s, "end": e} for s, e in ranges],
            },
            block_hints=blocks.hints_for(ranges),
            **kw,
        )

    def decide_transfer(
        self,
        ar: LocalAccount,
        transfer_id: int,
        approve: bool,
        block_hints: list[int],
        pending: PendingTransfer | None = None,
        **kw: Any,
    ) -> SignedRequest:
        """Sign an ApproveTransfer or RescindTransfer request.

        The request is relayed with the transfer's record (decision D46): `pending`, or else the
        record its TransferInitiated event logged on-chain (none if there is no such event).
        """
        signed = self.sign(
            ar,
            "ApproveTransfer" if approve else "RescindTransfer",
            {"transferId": transfer_id},
            block_hints=block_hints,
            **kw,
        )
        record = pending if pending is not None else self.pending_transfer(transfer_id)
        return SignedRequest(signed.typed_data, signed.signature, signed.block_hints, record)

    def pending_transfer(self, transfer_id: int) -> PendingTransfer | None:
        """Return a transfer's record from its TransferInitiated log, or None if none was logged."""
        logs = self.client.w3.eth.get_logs(
            {
                "address": self.registry,
                "fromBlock": 0,
                "toBlock": "latest",
                "topics": [_TRANSFER_INITIATED, HexBytes(transfer_id.to_bytes(32, "big"))],
            }
        )
        if not logs:
            return None
        log = logs[-1]
        data = bytes(log["data"])
        return PendingTransfer(
            from_account=int.from_bytes(log["topics"][2], "big"),
            to_account=int.from_bytes(log["topics"][3], "big"),
            quantity=int.from_bytes(data[32:64], "big"),
            initiator=Web3.to_checksum_address(data[12:32]),
        )

    def cancel(
        self,
        ar: LocalAccount,
        account_id: int,
        ranges: list[tuple[int, int]],
        blocks: BlockIndex,
        purpose: CancellationPurpose = CancellationPurpose.VOLUNTARY,
        beneficiary: str = "",
        reason: str = "",
        **kw: Any,
    ) -> SignedRequest:
        """Sign a Cancel request."""
        return self.sign(
            ar,
            "Cancel",
            {
                "accountId": account_id,
                "ranges": [{"start": s, "end": e} for s, e in ranges],
                "purpose": int(purpose),
                "beneficiary": beneficiary,
                "reason": reason,
            },
            block_hints=blocks.hints_for(ranges),
            **kw,
        )

    def set_label(
        self,
        authority: LocalAccount,
        label_id: int,
        applied: bool,
        ranges: list[tuple[int, int]],
        blocks: BlockIndex,
        **kw: Any,
    ) -> SignedRequest:
        """Sign a SetLabel request."""
        return self.sign(
            authority,
            "SetLabel",
            {
                "labelId": label_id,
                "applied": applied,
                "ranges": [{"start": s, "end": e} for s, e in ranges],
            },
            block_hints=blocks.hints_for(ranges),
            **kw,
        )
