"""Platform-model requests: node.contracts' typed data, signed in Python, verified by the contract.

Every request type of `PlatformHashing.sol` is signed from `REQUEST_TYPES` and relayed to a real
registry. The contract recomputes the EIP-712 digest from its own type strings and logs it in
`RequestExecuted`; that digest must equal the one eth-account signed, so a field missing, renamed or
out of order on either side fails here.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.contracts import (
    REQUEST_TYPES,
    AccountKind,
    ApprovalPolicy,
    AssociationStatus,
    ConsentScope,
    EscrowStatus,
    PlatformStatus,
    ReservationStatus,
    SignedRequest,
    UnitState,
    text_bytes32,
)
from node.deploy import grant_roles
from node.relayer import RelayOutcome
from tests.conftest import Registry

PLATFORM_TYPES = {
    "RegisterPlatform",
    "SetPlatformSigner",
    "SetPlatformStatus",
    "GrantConsent",
    "RevokeConsent",
    "Reserve",
    "ReleaseReservation",
    "TransferReservation",
    "Escrow",
    "SettleEscrow",
    "ReleaseEscrow",
    "Associate",
    "Dissociate",
    "RetireAssociation",
}
_years = itertools.count()


def _relay(registry: Registry, request: SignedRequest, seen: set[str]) -> RelayOutcome:
    outcome = registry.relayer.relay(request)
    assert outcome.ok, f"{request.primary_type} failed: {outcome.error}"
    executed = outcome.event("RequestExecuted").args
    assert bytes.fromhex(executed["digest"].removeprefix("0x")) == request.digest, (
        f"{request.primary_type}: the contract's digest differs from node.contracts' typed data"
    )
    seen.add(request.primary_type)
    return outcome


def _rep(address: str) -> dict[str, Any]:
    return {"addr": address, "primary": True, "canInitiate": True, "canApprove": True}


@pytest.fixture
def actors() -> dict[str, LocalAccount]:
    """Fresh keys, so that the session's shared registry never sees the same platform twice."""
    return {
        name: Account.create()
        for name in ("platform", "signer_1", "signer_2", "custodian", "holder", "third_party")
    }


def test_every_platform_request_type_verifies_on_chain(
    registry: Registry, actors: dict[str, LocalAccount]
) -> None:
    keys, signer, seen = registry.keys, registry.signer, set[str]()
    admin, issuer, holder = keys["registry_admin"], keys["issuer"], actors["holder"]
    platform, third_party = actors["platform"].address, actors["third_party"]
    grant_roles(
        registry.client,
        admin,
        registry.deployment,
        registry.deployments_dir,
        {"third_party_registry": [third_party.address]},
    )

    def open_account(kind: AccountKind, representative: LocalAccount) -> int:
        request = signer.open_account(
            admin, "Holder", [_rep(representative.address)], kind=kind, policy=ApprovalPolicy.SINGLE
        )
        return int(registry.relayer.relay(request).event("AccountOpened").args["accountId"])

    seller = open_account(AccountKind.HOLDING, holder)
    buyer = open_account(AccountKind.HOLDING, keys["ar_3"])
    custodial = open_account(AccountKind.CUSTODIAL, actors["custodian"])
    project = "ERF-PLATFORMS"
    if not registry.contract.functions.isProjectRegistered(text_bytes32(project)).call():
        registry.relayer.relay(signer.register_project(issuer, project, "Savanna", "SFM", "AU"))
    period = 1_000_000_000 + next(_years) * 366 * 86_400
    issued = registry.relayer.relay(
        signer.issue(issuer, project, "ACCU", 2024, period, period + 86_400, 100, seller)
    ).event("UnitsIssued")
    start = int(issued.args["start"])

    def ranged(
        primary: str, who: LocalAccount, fields: dict[str, Any], first: int, event: str, key: str
    ) -> int:
        """Relay a request over [first, first + 9] of the seller; return its operation id."""
        blocks = registry.blocks()
        request = signer.sign(
            who, primary, {**fields, "ranges": [{"start": first, "end": first + 9}]}
        )
        request = SignedRequest(
            request.typed_data, request.signature, tuple(blocks.hints_for([(first, first + 9)]))
        )
        return int(_relay(registry, request, seen).event(event).args[key])

    def decided(
        primary: str, who: LocalAccount, fields: dict[str, Any], state: UnitState, lock_id: int
    ) -> None:
        """Relay a decision on an existing lock, hinting every block it holds."""
        hints = [b.start for b in registry.blocks().locked_by(state, lock_id)]
        _relay(registry, signer.sign(who, primary, fields, block_hints=hints), seen)

    # Platforms.
    _relay(
        registry,
        signer.sign(
            admin,
            "RegisterPlatform",
            {
                "platform": platform,
                "name": "Carbon Exchange",
                "custodialAccount": custodial,
                "signers": [actors["signer_1"].address],
            },
        ),
        seen,
    )
    _relay(
        registry,
        signer.sign(
            admin,
            "SetPlatformSigner",
            {"platform": platform, "platformSigner": actors["signer_2"].address, "enabled": True},
        ),
        seen,
    )
    assert registry.contract.functions.platformOfSigner(actors["signer_2"].address).call() == (
        platform
    )

    # Consents.
    consents = {}
    for scope in ConsentScope:
        outcome = _relay(
            registry,
            signer.sign(
                holder,
                "GrantConsent",
                {"accountId": seller, "platform": platform, "scope": int(scope)},
            ),
            seen,
        )
        consents[scope] = int(outcome.event("ConsentGranted").args["consentId"])
    _relay(
        registry,
        signer.sign(holder, "RevokeConsent", {"consentId": consents[ConsentScope.HOLDINGS]}),
        seen,
    )

    # Reservations: released, then reserved again and transferred into custody.
    fields = {"accountId": seller, "platform": platform}
    reserved = ("UnitsReserved", "reservationId")
    released = ranged("Reserve", holder, fields, start, *reserved)
    decided("ReleaseReservation", holder, {"reservationId": released}, UnitState.RESERVED, released)
    transferred = ranged("Reserve", holder, fields, start, *reserved)
    decided(
        "TransferReservation",
        holder,
        {"reservationId": transferred},
        UnitState.RESERVED,
        transferred,
    )

    # Escrows: one settled by a platform signer, one released by the other.
    escrowed = ("UnitsEscrowed", "escrowId")
    settled = ranged("Escrow", holder, fields, start + 10, *escrowed)
    decided(
        "SettleEscrow",
        actors["signer_1"],
        {"escrowId": settled, "toAccount": buyer},
        UnitState.ESCROWED,
        settled,
    )
    escrow_released = ranged("Escrow", holder, fields, start + 20, *escrowed)
    decided(
        "ReleaseEscrow",
        actors["signer_2"],
        {"escrowId": escrow_released},
        UnitState.ESCROWED,
        escrow_released,
    )

    # Third-party certificates: one dissociated, one retired.
    def association(certificate: str, first: int) -> int:
        return ranged(
            "Associate",
            holder,
            {
                "accountId": seller,
                "thirdPartyRegistry": third_party.address,
                "certificateId": "0x" + text_bytes32(certificate).hex(),
            },
            first,
            "UnitsAssociated",
            "associationId",
        )

    dissociated = association(f"CERT-{platform[-8:]}-1", start + 30)
    decided(
        "Dissociate",
        third_party,
        {"associationId": dissociated},
        UnitState.ASSOCIATED,
        dissociated,
    )
    retired = association(f"CERT-{platform[-8:]}-2", start + 40)
    decided(
        "RetireAssociation",
        third_party,
        {"associationId": retired, "beneficiary": "Acme", "reason": "FY25 claim"},
        UnitState.ASSOCIATED,
        retired,
    )

    _relay(
        registry,
        signer.sign(
            admin,
            "SetPlatformStatus",
            {"platform": platform, "status": int(PlatformStatus.SUSPENDED)},
        ),
        seen,
    )

    assert seen == PLATFORM_TYPES
    assert PLATFORM_TYPES <= set(REQUEST_TYPES)

    # The contract's records agree with what the requests did.
    views = registry.contract.functions
    assert views.getReservation(released).call()[3] == ReservationStatus.RELEASED
    assert views.getReservation(transferred).call()[3] == ReservationStatus.TRANSFERRED
    assert tuple(views.getEscrow(settled).call()[3:]) == (EscrowStatus.SETTLED, buyer)
    assert views.getEscrow(escrow_released).call()[3] == EscrowStatus.RELEASED
    assert views.getAssociation(dissociated).call()[3] == AssociationStatus.DISSOCIATED
    assert views.getAssociation(retired).call()[3] == AssociationStatus.RETIRED
    assert views.getPlatform(platform).call()[0] == PlatformStatus.SUSPENDED
    blocks = registry.blocks()
    expected = {start: (custodial, UnitState.HELD), start + 10: (buyer, UnitState.HELD)}
    expected[start + 40] = (seller, UnitState.CANCELLED)
    for serial, (account, state) in expected.items():
        block = blocks.containing(serial)
        assert block is not None and (block.account, block.state) == (account, state), serial
