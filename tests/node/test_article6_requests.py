"""Article 6 requests signed from node/contracts' typed data and relayed to a real chain.

Every new EIP-712 type is signed by eth-account from `REQUEST_TYPES` and verified on-chain by the
Article 6 modules: a type string that differs by one character would fail with `InvalidSigner`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.contracts import (
    OPERATIONS,
    PROTOCOL_TYPES,
    REQUEST_TYPES,
    AccountKind,
    ApprovalPolicy,
    Article6Action,
    Article64Share,
    AuthorizationPurpose,
    CancellationPurpose,
    FirstTransferDefinition,
    SignedRequest,
    UnitState,
    text_bytes8,
    text_bytes32,
)
from node.relayer import RelayOutcome
from tests.conftest import Registry

_unique = itertools.count(1)


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _relay(registry: Registry, request: SignedRequest) -> RelayOutcome:
    outcome = registry.relayer.relay(request)
    assert outcome.ok, outcome.error
    return outcome


def _rep(account: LocalAccount) -> dict[str, Any]:
    return {"addr": account.address, "primary": True, "canInitiate": True, "canApprove": True}


def _open(
    registry: Registry,
    party: str,
    kind: AccountKind = AccountKind.HOLDING,
    policy: ApprovalPolicy = ApprovalPolicy.SINGLE,
    reps: list[dict[str, Any]] | None = None,
) -> int:
    request = registry.signer.open_account(
        registry.keys["registry_admin"],
        f"{party or 'mechanism'} {kind.name.lower()}",
        reps or [_rep(registry.keys["ar_1"])],
        kind=kind,
        policy=policy,
        party=party,
    )
    return int(_relay(registry, request).event("AccountOpened").args["accountId"])


def _register_party(registry: Registry, party: str) -> None:
    admin = registry.keys["registry_admin"]
    _relay(
        registry,
        registry.signer.sign(
            admin,
            "RegisterParty",
            {
                "party": _hex(text_bytes8(party)),
                "registryId": _hex(text_bytes8(f"{party}-NR")),
                "labelAuthority": registry.keys["label_authority"].address,
                "administrators": [registry.keys["ar_4"].address],
            },
        ),
    )


@dataclass
class Setup:
    """Two Parties in one cooperative approach, their accounts, and the 6.4 mechanism accounts."""

    approach: bytes
    ch: int
    gh: int
    gh_two_person: int
    participant: int
    pending: int
    share_of_proceeds: int
    omge: int


@pytest.fixture(scope="module")
def setup(registry: Registry) -> Setup:
    _register_party(registry, "CH")
    _register_party(registry, "GH")
    approach = text_bytes32("CH-GH-2030")
    _relay(
        registry,
        registry.signer.sign(
            registry.keys["registry_admin"],
            "RegisterCooperativeApproach",
            {
                "approachId": _hex(approach),
                "name": "Switzerland-Ghana bilateral agreement",
                "parties": [_hex(text_bytes8("CH")), _hex(text_bytes8("GH"))],
            },
        ),
    )
    ar1, ar2 = registry.keys["ar_1"], registry.keys["ar_2"]
    two = [
        _rep(ar1),
        {"addr": ar2.address, "primary": False, "canInitiate": True, "canApprove": True},
    ]
    s = Setup(
        approach=approach,
        ch=_open(registry, "CH"),
        gh=_open(registry, "GH"),
        gh_two_person=_open(registry, "GH", policy=ApprovalPolicy.TWO_PERSON, reps=two),
        participant=_open(registry, "GH"),
        pending=_open(registry, "", AccountKind.PENDING),
        share_of_proceeds=_open(registry, "", AccountKind.SHARE_OF_PROCEEDS),
        omge=_open(registry, "", AccountKind.OMGE_CANCELLATION),
    )
    holding = _open(registry, "")
    cancellation = _open(registry, "", AccountKind.CANCELLATION)
    _relay(
        registry,
        registry.signer.sign(
            registry.keys["registry_admin"],
            "SetMechanismAccounts",
            {
                "pending": s.pending,
                "holding": holding,
                "cancellation": cancellation,
                "omgeCancellation": s.omge,
                "shareOfProceeds": s.share_of_proceeds,
            },
        ),
    )
    return s


def _issue_64(registry: Registry, setup: Setup, quantity: int, forwards: list[int]) -> RelayOutcome:
    issuer = registry.keys["issuer"]
    project = f"A64-{next(_unique)}"
    _relay(registry, registry.signer.register_project(issuer, project, "Cookstoves", "AMS", "GH"))
    return _relay(
        registry,
        registry.signer.sign(
            issuer,
            "IssueArticle64",
            {
                "projectId": _hex(text_bytes32(project)),
                "unitType": _hex(text_bytes32("A6.4ER")),
                "vintage": 2026,
                "monitoringStart": 1_700_000_000,
                "monitoringEnd": 1_710_000_000,
                "quantity": quantity,
                "forwards": [{"accountId": setup.participant, "quantity": q} for q in forwards],
            },
        ),
    )


def _authorize(
    registry: Registry,
    setup: Setup,
    ranges: list[tuple[int, int]],
    definition: FirstTransferDefinition,
    party: str = "GH",
) -> RelayOutcome:
    return _relay(
        registry,
        registry.signer.sign(
            registry.keys["label_authority"],
            "Authorize",
            {
                "party": _hex(text_bytes8(party)),
                "letterId": _hex(text_bytes32(f"LOA-{next(_unique)}")),
                "approachId": _hex(setup.approach),
                "purposes": int(AuthorizationPurpose.NDC | AuthorizationPurpose.OIMP),
                "firstTransferDefinition": int(definition),
                "authorizedAt": 1_750_000_000,
                "ranges": [{"start": s, "end": e} for s, e in ranges],
            },
            block_hints=[s for s, _ in ranges],
        ),
    )


def _actions(outcome: RelayOutcome) -> list[tuple[Article6Action, int, int, str, str]]:
    def code(raw: str) -> str:
        return bytes.fromhex(raw.removeprefix("0x")).rstrip(b"\0").decode()

    return [
        (
            Article6Action(e.args["action"]),
            e.args["start"],
            e.args["end"],
            code(e.args["party"]),
            code(e.args["counterparty"]),
        )
        for e in outcome.events
        if e.name == "Article6ActionRecorded"
    ]


def test_every_article6_request_type_is_routed_to_a_function() -> None:
    article6 = {
        "RegisterParty",
        "RegisterCooperativeApproach",
        "SetMechanismAccounts",
        "Authorize",
        "IssueArticle64",
        "TransferItmos",
        "ApproveItmoTransfer",
        "RescindItmoTransfer",
        "CancelItmos",
    }
    # Every signed type is routed: requests, and the inter-registry protocol's messages.
    assert article6 <= set(REQUEST_TYPES)
    assert set(REQUEST_TYPES) | set(PROTOCOL_TYPES) == set(OPERATIONS)
    for name in article6:
        fields = [f["name"] for f in REQUEST_TYPES[name]]
        assert fields[0] == "signer" and fields[-2:] == ["nonce", "deadline"], name


@pytest.mark.parametrize(
    ("quantity", "share_of_proceeds", "omge", "forwarded"),
    [(1000, 50, 20, 930), (1001, 51, 21, 929), (19, 1, 1, 17)],
)
def test_article64_issuance_splits_as_the_worked_examples(
    registry: Registry,
    setup: Setup,
    quantity: int,
    share_of_proceeds: int,
    omge: int,
    forwarded: int,
) -> None:
    outcome = _issue_64(registry, setup, quantity, [forwarded - 1, 1])
    start = outcome.event("UnitsIssued").args["start"]
    issued = outcome.event("Article64Issued").args
    assert (issued["shareOfProceeds"], issued["omge"], issued["forwarded"]) == (
        share_of_proceeds,
        omge,
        forwarded,
    )
    parts = [
        (Article64Share(e.args["share"]), e.args["accountId"], e.args["start"], e.args["end"])
        for e in outcome.events
        if e.name == "Article64Distributed"
    ]
    sop_end = start + share_of_proceeds - 1
    omge_end = sop_end + omge
    assert parts == [
        (Article64Share.SHARE_OF_PROCEEDS, setup.share_of_proceeds, start, sop_end),
        (Article64Share.OMGE, setup.omge, sop_end + 1, omge_end),
        (Article64Share.FORWARDED, setup.participant, omge_end + 1, omge_end + forwarded - 1),
        (Article64Share.FORWARDED, setup.participant, start + quantity - 1, start + quantity - 1),
    ]
    cancelled = outcome.event("UnitsCancelled").args
    assert (cancelled["purpose"], cancelled["quantity"], cancelled["accountId"]) == (
        CancellationPurpose.OMGE,
        omge,
        setup.omge,
    )
    blocks = {b.start: b for b in registry.blocks().blocks()}
    assert blocks[sop_end + 1].state == UnitState.CANCELLED
    assert blocks[sop_end + 1].end == omge_end


def test_authorized_units_move_and_are_used_with_their_article6_records(
    registry: Registry, setup: Setup
) -> None:
    forwarded = [
        e for e in _issue_64(registry, setup, 100, [93]).events if e.name == "Article64Distributed"
    ][-1]
    start, end = forwarded.args["start"], forwarded.args["end"]
    authorized = _authorize(
        registry, setup, [(start, end)], FirstTransferDefinition.AT_USE_OR_CANCELLATION
    )
    authorization_id = authorized.event("AuthorizationRecorded").args["authorizationId"]
    assert _actions(authorized) == [(Article6Action.AUTHORIZATION, start, end, "GH", "")]

    # Within the Party's section: a transfer, but no Article 6 action.
    signer = registry.signer
    ar1, ar2 = registry.keys["ar_1"], registry.keys["ar_2"]
    domestic = _relay(
        registry,
        signer.sign(
            ar1,
            "TransferItmos",
            {
                "fromAccount": setup.participant,
                "toAccount": setup.gh_two_person,
                "authorizationId": authorization_id,
                "ranges": [{"start": start, "end": start + 39}],
            },
            block_hints=[start],
        ),
    )
    assert _actions(domestic) == []
    assert domestic.event("ItmoTransferInitiated").args["authorizationId"] == authorization_id

    # Two-person: initiate to Switzerland, rescind, initiate again, approve.
    def initiate() -> int:
        outcome = _relay(
            registry,
            signer.sign(
                ar1,
                "TransferItmos",
                {
                    "fromAccount": setup.gh_two_person,
                    "toAccount": setup.ch,
                    "authorizationId": authorization_id,
                    "ranges": [{"start": start, "end": start + 29}],
                },
                block_hints=[start],
            ),
        )
        assert _actions(outcome) == []
        return int(outcome.event("TransferInitiated").args["transferId"])

    rescinded = _relay(
        registry,
        signer.sign(ar1, "RescindItmoTransfer", {"transferId": initiate()}, block_hints=[start]),
    )
    assert rescinded.event("TransferRescinded")
    approved = _relay(
        registry,
        signer.sign(ar2, "ApproveItmoTransfer", {"transferId": initiate()}, block_hints=[start]),
    )
    last = start + 29
    assert _actions(approved) == [
        (Article6Action.FIRST_TRANSFER, start, last, "GH", "CH"),
        (Article6Action.TRANSFER, start, last, "GH", "CH"),
        (Article6Action.ACQUISITION, start, last, "CH", "GH"),
    ]

    # Use towards Switzerland's NDC: no second first transfer.
    used = _relay(
        registry,
        signer.sign(
            ar1,
            "CancelItmos",
            {
                "accountId": setup.ch,
                "authorizationId": authorization_id,
                "ranges": [{"start": start, "end": start + 9}],
                "purpose": int(CancellationPurpose.NDC_USE),
                "beneficiary": "Switzerland",
                "reason": "NDC 2031-2035",
            },
            block_hints=[start],
        ),
    )
    assert _actions(used) == [(Article6Action.USE_TOWARDS_NDC, start, start + 9, "CH", "")]

    # Cancelled at home: the first transfer happens at the cancellation, per the definition.
    home = _relay(
        registry,
        signer.sign(
            ar1,
            "CancelItmos",
            {
                "accountId": setup.participant,
                "authorizationId": authorization_id,
                "ranges": [{"start": start + 40, "end": end}],
                "purpose": int(CancellationPurpose.VOLUNTARY),
                "beneficiary": "Ghana",
                "reason": "voluntary cancellation",
            },
            block_hints=[start + 40],
        ),
    )
    assert _actions(home) == [
        (Article6Action.FIRST_TRANSFER, start + 40, end, "GH", ""),
        (Article6Action.VOLUNTARY_CANCELLATION, start + 40, end, "GH", ""),
    ]

    identifier = registry.contract.functions.itmoIdentifier(start + 40).call()
    assert identifier[0] == setup.approach
    assert identifier[2] == text_bytes8("GH")
    assert identifier[3] == 2026
    assert identifier[6] == authorization_id and identifier[7] is True


def test_the_core_refuses_authorized_units(registry: Registry, setup: Setup) -> None:
    forwarded = [
        e for e in _issue_64(registry, setup, 100, [93]).events if e.name == "Article64Distributed"
    ][-1]
    start = forwarded.args["start"]
    authorization_id = (
        _authorize(registry, setup, [(start, start + 9)], FirstTransferDefinition.AT_AUTHORIZATION)
        .event("AuthorizationRecorded")
        .args["authorizationId"]
    )
    outcome = registry.relayer.relay(
        registry.signer.initiate_transfer(
            registry.keys["ar_1"],
            setup.participant,
            setup.gh,
            [(start, start + 9)],
            registry.blocks(),
        )
    )
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.name == "UnitsLocked"
    assert outcome.error.args["lockId"] == authorization_id
