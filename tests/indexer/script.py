"""Drive the ledger through the relayer with signed requests, as the e2e tests do."""

from __future__ import annotations

import itertools
from typing import Any

from eth_account import Account

from node.contracts import (
    AccountStatus,
    ApprovalPolicy,
    CancellationPurpose,
    SignedRequest,
    UnitState,
)
from node.relayer import RelayOutcome
from tests.conftest import Registry

YEAR = 365 * 24 * 3600
_years = itertools.count()


def rep(
    address: str, primary: bool = False, initiate: bool = True, approve: bool = True
) -> dict[str, Any]:
    """Return a Representative struct."""
    return {"addr": address, "primary": primary, "canInitiate": initiate, "canApprove": approve}


class LedgerScript:
    """Signed ledger operations on one registry; every call waits for its outcome."""

    def __init__(self, registry: Registry, project: str = "IDX-TEST") -> None:
        self.registry = registry
        self.keys = registry.keys
        self.signer = registry.signer
        self.project = project
        self._project_registered = False

    def relay(self, request: SignedRequest) -> RelayOutcome:
        """Relay a request that must succeed."""
        outcome = self.registry.relayer.relay(request)
        assert outcome.ok, f"{request.primary_type} failed: {outcome.error}"
        return outcome

    def relay_failing(self, request: SignedRequest) -> str:
        """Relay a request that must fail on-chain; return the error name."""
        outcome = self.registry.relayer.relay(request)
        assert not outcome.ok and outcome.error is not None
        return outcome.error.name

    def open_account(
        self, policy: ApprovalPolicy, *reps: dict[str, Any], holder: str = "Holder Pty Ltd"
    ) -> int:
        """Open an account; return its id."""
        request = self.signer.open_account(
            self.keys["registry_admin"], holder, list(reps), policy=policy, party="AU"
        )
        return int(self.relay(request).event("AccountOpened").args["accountId"])

    def issue(self, account: int, quantity: int, vintage: int = 2024) -> tuple[int, int]:
        """Issue units for a fresh monitoring year; return the serial range."""
        if not self._project_registered:
            contract_has = self._is_registered()
            if not contract_has:
                self.relay(
                    self.signer.register_project(
                        self.keys["issuer"], self.project, "Savanna burning", "SFM 2018", "AU"
                    )
                )
            self._project_registered = True
        start = 1_600_000_000 + next(_years) * YEAR
        event = self.relay(
            self.signer.issue(
                self.keys["issuer"],
                self.project,
                "ACCU",
                vintage,
                start,
                start + YEAR - 1,
                quantity,
                account,
            )
        ).event("UnitsIssued")
        return int(event.args["start"]), int(event.args["end"])

    def transfer(self, key: str, source: int, target: int, ranges: list[tuple[int, int]]) -> int:
        """Initiate a transfer; return its id."""
        request = self.signer.initiate_transfer(
            self.keys[key], source, target, ranges, self.registry.blocks()
        )
        outcome = self.relay(request)
        # A single-policy transfer logs TransferExecuted, a two-person one TransferInitiated.
        name = next(e.name for e in outcome.events if e.name.startswith("Transfer"))
        return int(outcome.event(name).args["transferId"])

    def decide(self, key: str, transfer_id: int, approve: bool) -> None:
        """Approve or rescind a pending transfer."""
        hints = [b.start for b in self.registry.blocks().locked_by(UnitState.PENDING, transfer_id)]
        self.relay(self.signer.decide_transfer(self.keys[key], transfer_id, approve, hints))

    def cancel(
        self,
        key: str,
        account: int,
        ranges: list[tuple[int, int]],
        purpose: CancellationPurpose = CancellationPurpose.VOLUNTARY,
        beneficiary: str = "Acme",
        reason: str = "FY25 offset",
    ) -> int:
        """Cancel ranges; return the cancellation id."""
        request = self.signer.cancel(
            self.keys[key],
            account,
            ranges,
            self.registry.blocks(),
            purpose=purpose,
            beneficiary=beneficiary,
            reason=reason,
        )
        return int(self.relay(request).event("UnitsCancelled").args["cancellationId"])

    def define_label(self, name: str) -> int:
        """Define a label owned by the label authority; return its id."""
        request = self.signer.define_label(
            self.keys["registry_admin"], name, self.keys["label_authority"].address
        )
        return int(self.relay(request).event("LabelDefined").args["labelId"])

    def label(self, label_id: int, applied: bool, ranges: list[tuple[int, int]]) -> None:
        """Apply or remove a label on ranges."""
        self.relay(
            self.signer.set_label(
                self.keys["label_authority"], label_id, applied, ranges, self.registry.blocks()
            )
        )

    def set_status(self, account: int, status: AccountStatus) -> None:
        """Suspend, reopen or close an account."""
        self.relay(self.signer.set_account_status(self.keys["registry_admin"], account, status))

    def set_representative(self, account: int, representative: dict[str, Any]) -> None:
        """Appoint, change or (all flags false) remove a representative."""
        self.relay(
            self.signer.set_representative(self.keys["registry_admin"], account, representative)
        )

    def _is_registered(self) -> bool:
        contract = self.registry.client.w3.eth.contract(
            address=self.registry.deployment.registry,
            abi=[
                {
                    "type": "function",
                    "name": "isProjectRegistered",
                    "stateMutability": "view",
                    "inputs": [{"name": "projectId", "type": "bytes32"}],
                    "outputs": [{"name": "", "type": "bool"}],
                }
            ],
        )
        return bool(
            contract.functions.isProjectRegistered(self.project.encode().ljust(32, b"\0")).call()
        )


def run_full_scenario(script: LedgerScript) -> dict[str, int]:
    """Exercise every event the mirror handles; return the ids it created."""
    keys = script.keys
    seller = script.open_account(
        ApprovalPolicy.TWO_PERSON,
        rep(keys["ar_1"].address, primary=True),
        rep(keys["ar_2"].address),
        holder="Seller\x00 Pty Ltd",  # NUL: PostgreSQL text cannot store it as such
    )
    buyer = script.open_account(ApprovalPolicy.SINGLE, rep(keys["ar_3"].address, primary=True))
    other = script.open_account(ApprovalPolicy.SINGLE, rep(keys["ar_4"].address, primary=True))
    label = script.define_label("IDX-CORSIA")
    start, _ = script.issue(seller, 1_000)
    script.issue(buyer, 50, vintage=2023)

    script.label(label, True, [(start + 100, start + 399)])
    approved = script.transfer("ar_1", seller, buyer, [(start + 150, start + 249)])
    script.decide("ar_2", approved, approve=True)
    rescinded = script.transfer("ar_2", seller, buyer, [(start + 500, start + 509)])
    failing = script.signer.decide_transfer(keys["ar_2"], rescinded, True, [start + 500])
    assert script.relay_failing(failing) == "ApproverIsInitiator"
    script.decide("ar_1", rescinded, approve=False)
    pending = script.transfer("ar_1", seller, other, [(start + 600, start + 609)])
    cancelled = script.cancel(
        "ar_1",
        seller,
        [(start + 300, start + 349), (start + 700, start + 709)],
        purpose=CancellationPurpose.NDC_USE,
        beneficiary="Acme\x00",
    )
    script.label(label, False, [(start + 200, start + 220)])
    single = script.transfer("ar_3", buyer, other, [(start + 160, start + 169)])
    script.set_status(buyer, AccountStatus.SUSPENDED)
    script.set_status(buyer, AccountStatus.OPEN)
    newcomer = Account.create().address
    script.set_representative(other, rep(newcomer))
    script.set_representative(other, rep(newcomer, primary=True))
    script.set_representative(other, rep(keys["ar_4"].address, initiate=False, approve=False))
    return {
        "seller": seller,
        "buyer": buyer,
        "other": other,
        "label": label,
        "start": start,
        "approved": approved,
        "rescinded": rescinded,
        "pending": pending,
        "cancelled": cancelled,
        "single": single,
    }
