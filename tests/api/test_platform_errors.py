"""Bad input to the platform-model writes: each is a problem with a stable code; nothing changes.

"Nothing changes" is checked on the chain (no new block: nothing was relayed), the request journal
(no new row) and the mirror (the platform tables and every unit block as they were).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select

from api.models import JournalEntry
from indexer.models import (
    Association,
    Consent,
    Escrow,
    Platform,
    PlatformSigner,
    Reservation,
    UnitBlock,
    table_of,
)
from node.contracts import sign_typed_data, text_bytes32, typed_data
from sdk import RegistryClient
from tests.api.conftest import ApiNode
from tests.api.helpers import assert_problem
from tests.api.platform_world import Market, Seller, build_market, indexed

_WATCHED = (JournalEntry, Platform, PlatformSigner, Consent, Reservation, Escrow, Association)


@dataclass
class Fixture:
    """A seller with units in every state, and the ids the bad requests aim at."""

    market: Market
    seller: Seller
    stranger: RegistryClient
    other_platform: str  # active, no consent from the seller
    other_signer: RegistryClient
    suspended: str  # a suspended platform
    reservation: int  # active
    released: int  # a released reservation
    escrow: int  # active
    association: int  # active, certificate "USED-1"
    revoked: int  # a revoked consent
    pending: list[dict[str, int]]  # ranges of a pending transfer
    reserved: list[dict[str, int]]
    associated: list[dict[str, int]]
    escrowed: list[dict[str, int]]


def _platform(market: Market, name: str, signer: RegistryClient) -> str:
    custody = indexed(
        market.admin.write(
            "admin/accounts",
            {
                "holder_name": f"{name} custody",
                "kind": "custodial",
                "representatives": [{"address": signer.address, "primary": True}],
            },
        )
    )["account_id"]
    address: str = Account.create().address
    indexed(
        market.admin.write(
            "admin/platforms",
            {
                "address": address,
                "name": name,
                "custodial_account": custody,
                "signers": [signer.address],
            },
        )
    )
    return address


@pytest.fixture(scope="module")
def fx(node: ApiNode) -> Fixture:
    """Build the market and a seller with pending, reserved, escrowed and associated units."""
    market = build_market(node, "sqlite")
    seller = market.open_seller("Refusals Pty Ltd")
    other_signer = market.client()
    other = _platform(market, "Other Exchange", other_signer)
    suspended = _platform(market, "Dormant Exchange", market.client())
    indexed(market.admin.write(f"admin/platforms/{suspended}/status", {"status": "suspended"}))

    def write(operation: str, intent: dict[str, Any]) -> dict[str, Any]:
        return indexed(seller.ar1.write(operation, {"account_id": seller.account, **intent}))

    for scope in ("reserved", "escrowed"):
        write("consents", {"platform": market.platform, "scope": scope})
    revoked = write("consents", {"platform": market.platform, "scope": "holdings"})["consent_id"]
    indexed(seller.ar1.write(f"consents/{revoked}/revoke", {}))
    pending = indexed(
        seller.ar1.write(
            "transfers",
            {"from_account": seller.account, "to_account": market.buyer, "quantity": 10},
        )
    )["ranges"]
    reserved = write("reservations", {"platform": market.platform, "quantity": 20})
    released = write("reservations", {"platform": market.platform, "quantity": 5})
    indexed(seller.ar1.write(f"reservations/{released['reservation_id']}/release", {}))
    escrowed = write("escrows", {"platform": market.platform, "quantity": 30})
    associated = write(
        "associations",
        {
            "third_party_registry": market.certifier.address,
            "certificate_id": "USED-1",
            "quantity": 40,
        },
    )
    return Fixture(
        market=market,
        seller=seller,
        stranger=market.client(),
        other_platform=other,
        other_signer=other_signer,
        suspended=suspended,
        reservation=reserved["reservation_id"],
        released=released["reservation_id"],
        escrow=escrowed["escrow_id"],
        association=associated["association_id"],
        revoked=revoked,
        pending=pending,
        reserved=reserved["ranges"],
        associated=associated["ranges"],
        escrowed=escrowed["ranges"],
    )


def _state(fx: Fixture) -> tuple[Any, ...]:
    """Return what a refused request must not change: chain head, journal, mirror tables."""
    node = fx.market.node
    with node.services.engine.connect() as conn:
        counts = tuple(
            conn.execute(select(func.count()).select_from(table_of(model))).scalar()
            for model in _WATCHED
        )
        blocks = tuple(conn.execute(select(table_of(UnitBlock)).order_by("start")).all())
    return (node.registry.client.block_number(), counts, blocks)


# (case, operation, intent, signer, status, code); the signer is a Fixture attribute path.
Case = tuple[str, Callable[[Fixture], str], Callable[[Fixture], dict[str, Any]], str, int, str]


def _seller(fx: Fixture, **intent: Any) -> dict[str, Any]:
    return {"account_id": fx.seller.account, **intent}


CASES: list[Case] = [
    # consents
    (
        "consent to an unknown platform",
        lambda f: "consents",
        lambda f: _seller(f, platform=Account.create().address, scope="holdings"),
        "seller.ar1",
        404,
        "PLATFORM_NOT_FOUND",
    ),
    (
        "consent of an unknown scope",
        lambda f: "consents",
        lambda f: _seller(f, platform=f.market.platform, scope="everything"),
        "seller.ar1",
        422,
        "INVALID_REQUEST",
    ),
    (
        "consent to a malformed address",
        lambda f: "consents",
        lambda f: _seller(f, platform="0x1234", scope="holdings"),
        "seller.ar1",
        422,
        "INVALID_REQUEST",
    ),
    (
        "consent by a stranger",
        lambda f: "consents",
        lambda f: _seller(f, platform=f.market.platform, scope="holdings"),
        "stranger",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "consent given twice",
        lambda f: "consents",
        lambda f: _seller(f, platform=f.market.platform, scope="reserved"),
        "seller.ar1",
        409,
        "CONSENT_EXISTS",
    ),
    (
        "consent to a suspended platform",
        lambda f: "consents",
        lambda f: _seller(f, platform=f.suspended, scope="holdings"),
        "seller.ar1",
        403,
        "PLATFORM_SUSPENDED",
    ),
    (
        "consent on an unknown account",
        lambda f: "consents",
        lambda f: {
            "account_id": "AU-999999999",
            "platform": f.market.platform,
            "scope": "holdings",
        },
        "seller.ar1",
        404,
        "ACCOUNT_NOT_FOUND",
    ),
    (
        "revoke an unknown consent",
        lambda f: "consents/999999/revoke",
        lambda f: {},
        "seller.ar1",
        404,
        "CONSENT_NOT_FOUND",
    ),
    (
        "revoke a revoked consent",
        lambda f: f"consents/{f.revoked}/revoke",
        lambda f: {},
        "seller.ar1",
        409,
        "CONSENT_NOT_ACTIVE",
    ),
    # reservations
    (
        "reserve for a platform without consent",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.other_platform, quantity=1),
        "seller.ar1",
        403,
        "CONSENT_REQUIRED",
    ),
    (
        "reserve for a suspended platform",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.suspended, quantity=1),
        "seller.ar1",
        403,
        "PLATFORM_SUSPENDED",
    ),
    (
        "reserve more than held",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.market.platform, quantity=100_000),
        "seller.ar1",
        409,
        "INSUFFICIENT_UNITS",
    ),
    (
        "reserve pending units",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.market.platform, ranges=f.pending),
        "seller.ar1",
        409,
        "UNITS_NOT_HELD",
    ),
    (
        "reserve reserved units again",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.market.platform, ranges=f.reserved),
        "seller.ar1",
        409,
        "UNITS_NOT_HELD",
    ),
    (
        "reserve associated units",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.market.platform, ranges=f.associated),
        "seller.ar1",
        409,
        "UNITS_NOT_HELD",
    ),
    (
        "reserve with quantity and ranges",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.market.platform, quantity=1, ranges=f.pending),
        "seller.ar1",
        422,
        "INVALID_REQUEST",
    ),
    (
        "reserve zero units",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.market.platform, quantity=0),
        "seller.ar1",
        422,
        "INVALID_REQUEST",
    ),
    (
        "reserve by a stranger",
        lambda f: "reservations",
        lambda f: _seller(f, platform=f.market.platform, quantity=1),
        "stranger",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "release an unknown reservation",
        lambda f: "reservations/999999/release",
        lambda f: {},
        "seller.ar1",
        404,
        "RESERVATION_NOT_FOUND",
    ),
    (
        "release a released reservation",
        lambda f: f"reservations/{f.released}/release",
        lambda f: {},
        "seller.ar1",
        409,
        "RESERVATION_NOT_ACTIVE",
    ),
    (
        "release by the platform",
        lambda f: f"reservations/{f.reservation}/release",
        lambda f: {},
        "market.signer2",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "transfer a reservation by a stranger",
        lambda f: f"reservations/{f.reservation}/transfer",
        lambda f: {},
        "stranger",
        403,
        "NOT_AUTHORISED",
    ),
    # escrows
    (
        "escrow to a platform without consent",
        lambda f: "escrows",
        lambda f: _seller(f, platform=f.other_platform, quantity=1),
        "seller.ar1",
        403,
        "CONSENT_REQUIRED",
    ),
    (
        "escrow escrowed units again",
        lambda f: "escrows",
        lambda f: _seller(f, platform=f.market.platform, ranges=f.escrowed),
        "seller.ar1",
        409,
        "UNITS_NOT_HELD",
    ),
    (
        "seller settles its escrow",
        lambda f: f"escrows/{f.escrow}/settle",
        lambda f: {"to_account": f.market.buyer},
        "seller.ar1",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "seller releases its escrow",
        lambda f: f"escrows/{f.escrow}/release",
        lambda f: {},
        "seller.ar1",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "another platform settles units not escrowed to it",
        lambda f: f"escrows/{f.escrow}/settle",
        lambda f: {"to_account": f.market.buyer},
        "other_signer",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "settle to the seller's own account",
        lambda f: f"escrows/{f.escrow}/settle",
        lambda f: {"to_account": f.seller.account},
        "market.signer2",
        422,
        "SAME_ACCOUNT",
    ),
    (
        "settle to an unknown account",
        lambda f: f"escrows/{f.escrow}/settle",
        lambda f: {"to_account": "AU-999999999"},
        "market.signer2",
        404,
        "ACCOUNT_NOT_FOUND",
    ),
    (
        "settle to a malformed account id",
        lambda f: f"escrows/{f.escrow}/settle",
        lambda f: {"to_account": "XX-1"},
        "market.signer2",
        422,
        "INVALID_ACCOUNT_ID",
    ),
    (
        "settle without a destination",
        lambda f: f"escrows/{f.escrow}/settle",
        lambda f: {},
        "market.signer2",
        422,
        "INVALID_REQUEST",
    ),
    (
        "settle an unknown escrow",
        lambda f: "escrows/999999/settle",
        lambda f: {"to_account": f.market.buyer},
        "market.signer2",
        404,
        "ESCROW_NOT_FOUND",
    ),
    # associations
    (
        "associate with an address that is no third-party registry",
        lambda f: "associations",
        lambda f: _seller(
            f, third_party_registry=f.stranger.address, certificate_id="NEW-1", quantity=1
        ),
        "seller.ar1",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "associate a certificate twice",
        lambda f: "associations",
        lambda f: _seller(
            f, third_party_registry=f.market.certifier.address, certificate_id="USED-1", quantity=1
        ),
        "seller.ar1",
        409,
        "CERTIFICATE_ALREADY_USED",
    ),
    (
        "associate associated units again",
        lambda f: "associations",
        lambda f: _seller(
            f,
            third_party_registry=f.market.certifier.address,
            certificate_id="NEW-2",
            ranges=f.associated,
        ),
        "seller.ar1",
        409,
        "UNITS_NOT_HELD",
    ),
    (
        "certificate id with spaces",
        lambda f: "associations",
        lambda f: _seller(
            f, third_party_registry=f.market.certifier.address, certificate_id="A B", quantity=1
        ),
        "seller.ar1",
        422,
        "INVALID_REQUEST",
    ),
    (
        "certificate id longer than 32 characters",
        lambda f: "associations",
        lambda f: _seller(
            f,
            third_party_registry=f.market.certifier.address,
            certificate_id="C" * 33,
            quantity=1,
        ),
        "seller.ar1",
        422,
        "INVALID_REQUEST",
    ),
    (
        "seller retires the certificate",
        lambda f: f"associations/{f.association}/retire",
        lambda f: {"beneficiary": "Acme", "reason": "claim"},
        "seller.ar1",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "seller dissociates",
        lambda f: f"associations/{f.association}/dissociate",
        lambda f: {},
        "seller.ar1",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "retire an unknown association",
        lambda f: "associations/999999/retire",
        lambda f: {},
        "market.certifier",
        404,
        "ASSOCIATION_NOT_FOUND",
    ),
    (
        "retire with a control character in the reason",
        lambda f: f"associations/{f.association}/retire",
        lambda f: {"reason": "bell\x07"},
        "market.certifier",
        422,
        "INVALID_REQUEST",
    ),
    # platforms
    (
        "register a platform as a non-administrator",
        lambda f: "admin/platforms",
        lambda f: {
            "address": Account.create().address,
            "name": "Rogue",
            "custodial_account": f.market.custody,
        },
        "seller.ar1",
        403,
        "NOT_AUTHORISED",
    ),
    (
        "register a platform whose custody is a holding account",
        lambda f: "admin/platforms",
        lambda f: {
            "address": Account.create().address,
            "name": "Rogue",
            "custodial_account": f.seller.account,
        },
        "market.admin",
        422,
        "CUSTODIAL_ACCOUNT_REQUIRED",
    ),
    (
        "register a platform on another platform's custody",
        lambda f: "admin/platforms",
        lambda f: {
            "address": Account.create().address,
            "name": "Rogue",
            "custodial_account": f.market.custody,
        },
        "market.admin",
        409,
        "CUSTODIAL_ACCOUNT_TAKEN",
    ),
    (
        "register a platform twice",
        lambda f: "admin/platforms",
        lambda f: {
            "address": f.market.platform,
            "name": "Again",
            "custodial_account": f.market.custody,
        },
        "market.admin",
        409,
        "PLATFORM_EXISTS",
    ),
    (
        "register a platform with a malformed signer",
        lambda f: "admin/platforms",
        lambda f: {
            "address": Account.create().address,
            "name": "Rogue",
            "custodial_account": f.market.custody,
            "signers": ["0xnothex"],
        },
        "market.admin",
        422,
        "INVALID_REQUEST",
    ),
    (
        "add a signer who signs for another platform",
        lambda f: f"admin/platforms/{f.market.platform}/signers",
        lambda f: {"address": f.other_signer.address},
        "market.admin",
        409,
        "PLATFORM_SIGNER_TAKEN",
    ),
    (
        "add a signer to an unknown platform",
        lambda f: f"admin/platforms/{Account.create().address}/signers",
        lambda f: {"address": f.stranger.address},
        "market.admin",
        404,
        "PLATFORM_NOT_FOUND",
    ),
    (
        "malformed platform in the path",
        lambda f: "admin/platforms/0x12/status",
        lambda f: {"status": "suspended"},
        "market.admin",
        422,
        "INVALID_REQUEST",
    ),
    (
        "activate an active platform",
        lambda f: f"admin/platforms/{f.market.platform}/status",
        lambda f: {"status": "active"},
        "market.admin",
        409,
        "INVALID_STATUS_CHANGE",
    ),
    (
        "suspend a platform as a non-administrator",
        lambda f: f"admin/platforms/{f.market.platform}/status",
        lambda f: {"status": "suspended"},
        "market.signer1",
        403,
        "NOT_AUTHORISED",
    ),
]


def _client(fx: Fixture, path: str) -> RegistryClient:
    target: Any = fx
    for part in path.split("."):
        target = getattr(target, part)
    client: RegistryClient = target
    return client


@pytest.mark.parametrize(
    ("case", "operation", "intent", "signer", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_platform_intents_are_refused(
    fx: Fixture,
    case: str,
    operation: Callable[[Fixture], str],
    intent: Callable[[Fixture], dict[str, Any]],
    signer: str,
    status: int,
    code: str,
) -> None:
    client = _client(fx, signer)
    before = _state(fx)
    response = fx.market.node.client.post(
        f"/v1/{operation(fx)}/prepare", json={"signer": client.address, **intent(fx)}
    )
    assert_problem(response, status, code)
    assert _state(fx) == before


# -- refused at submit: typed data signed without `prepare`, which the mirror check stops ------


def _signed(fx: Fixture, signer: RegistryClient, primary: str, message: dict[str, Any]) -> Any:
    deployment = fx.market.node.services.deployment
    data = typed_data(
        primary,
        {
            "signer": signer.address,
            **message,
            "nonce": 0,
            "deadline": int(time.time()) + 600,
        },
        deployment.chain_id,
        deployment.registry,
    )
    return data, "0x" + sign_typed_data(signer.key, data).hex()


SUBMITS: list[tuple[str, str, Callable[[Fixture], tuple[RegistryClient, str, dict[str, Any]]]]] = [
    (
        "reserve without consent",
        "reservations",
        lambda f: (
            f.seller.ar1,
            "Reserve",
            {
                "accountId": int(f.seller.account.split("-")[1]),
                "platform": f.other_platform,
                "ranges": [{"start": f.seller.issued["end"], "end": f.seller.issued["end"]}],
            },
        ),
    ),
    (
        "settle an escrow of another platform",
        "escrows/{escrow}/settle",
        lambda f: (
            f.other_signer,
            "SettleEscrow",
            {"escrowId": f.escrow, "toAccount": int(f.market.buyer.split("-")[1])},
        ),
    ),
    (
        "associate a used certificate",
        "associations",
        lambda f: (
            f.seller.ar1,
            "Associate",
            {
                "accountId": int(f.seller.account.split("-")[1]),
                "thirdPartyRegistry": f.market.certifier.address,
                "certificateId": "0x" + text_bytes32("USED-1").hex(),
                "ranges": [{"start": f.seller.issued["end"], "end": f.seller.issued["end"]}],
            },
        ),
    ),
    (
        "retire by someone else than the registry",
        "associations/{association}/retire",
        lambda f: (
            f.stranger,
            "RetireAssociation",
            {"associationId": f.association, "beneficiary": "", "reason": ""},
        ),
    ),
]
SUBMITS += [
    (
        "consent of a scope the contract has not",
        "consents",
        lambda f: (
            f.seller.ar1,
            "GrantConsent",
            {
                "accountId": int(f.seller.account.split("-")[1]),
                "platform": f.other_platform,
                "scope": 7,
            },
        ),
    ),
    (
        "platform status none",
        "admin/platforms/{platform}/status",
        lambda f: (
            f.market.admin,
            "SetPlatformStatus",
            {"platform": f.market.platform, "status": 0},
        ),
    ),
]
_SUBMIT_CODES = {
    "consent of a scope the contract has not": (422, "INVALID_TYPED_DATA"),
    "platform status none": (422, "INVALID_TYPED_DATA"),
    "reserve without consent": (403, "CONSENT_REQUIRED"),
    "settle an escrow of another platform": (403, "NOT_AUTHORISED"),
    "associate a used certificate": (409, "CERTIFICATE_ALREADY_USED"),
    "retire by someone else than the registry": (403, "NOT_AUTHORISED"),
}


@pytest.mark.parametrize(("case", "operation", "build"), SUBMITS, ids=[s[0] for s in SUBMITS])
def test_signed_requests_the_mirror_refuses_are_not_journaled(
    fx: Fixture,
    case: str,
    operation: str,
    build: Callable[[Fixture], tuple[RegistryClient, str, dict[str, Any]]],
) -> None:
    signer, primary, message = build(fx)
    data, signature = _signed(fx, signer, primary, message)
    path = operation.format(
        escrow=fx.escrow, association=fx.association, platform=fx.market.platform
    )
    before = _state(fx)
    response = fx.market.node.client.post(
        f"/v1/{path}", json={"typed_data": data, "signature": signature}
    )
    assert_problem(response, *_SUBMIT_CODES[case])
    assert _state(fx) == before


def test_a_path_that_names_another_reservation_is_refused(fx: Fixture) -> None:
    seller = fx.seller.ar1
    typed = seller.prepare(f"reservations/{fx.reservation}/release", {})
    before = _state(fx)
    response = fx.market.node.client.post(
        f"/v1/reservations/{fx.released}/release",
        json={"typed_data": typed, "signature": seller.sign(typed)},
    )
    assert_problem(response, 422, "INVALID_TYPED_DATA")
    assert _state(fx) == before


# -- the journal's hints for a decision on a lock (decision D21) -------------------------------


def test_release_right_after_a_label_splits_the_reservation_needs_no_resend(fx: Fixture) -> None:
    market, seller = fx.market, fx.seller
    indexed(
        market.admin.write(
            "admin/labels",
            {"name": "HINTS", "authority": market.node.keys["label_authority"].address},
        )
    )
    reserved = indexed(
        seller.ar1.write(
            "reservations",
            {"account_id": seller.account, "platform": market.platform, "quantity": 12},
        )
    )
    (whole,) = reserved["ranges"]
    authority = RegistryClient(
        market.node.client, market.node.keys["label_authority"], domain="testserver"
    )
    # Label the middle of the reserved block, and release at once: the release's hints must
    # name the three blocks the label will have made, before the mirror shows them.
    middle = [{"start": whole["start"] + 4, "end": whole["start"] + 7}]
    labelled = authority.write("labels/HINTS/apply", {"ranges": middle}, wait=False)
    released = seller.ar2.write(
        f"reservations/{reserved['reservation_id']}/release", {}, wait=False
    )
    outcomes = {}
    for reader, accepted in ((authority, labelled), (seller.ar1, released)):
        request_id = accepted["request_id"]  # the authority reads its own; ar1 its account's
        deadline = time.monotonic() + 60
        while (row := reader.request(request_id))["status"] not in ("indexed", "failed"):
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
        outcomes[request_id] = row
    assert all(row["status"] == "indexed" for row in outcomes.values()), outcomes
    with market.node.services.engine.connect() as conn:
        attempts = conn.execute(
            select(table_of(JournalEntry).c.attempts).where(
                table_of(JournalEntry).c.request_id == released["request_id"]
            )
        ).scalar()
    assert attempts == 1
    blocks = market.node.registry.blocks()
    pieces = [b for b in blocks.blocks() if whole["start"] <= b.start <= whole["end"]]
    assert [(b.start, b.end) for b in pieces] == [
        (whole["start"], whole["start"] + 3),
        (whole["start"] + 4, whole["start"] + 7),
        (whole["start"] + 8, whole["end"]),
    ]
    assert {b.state.name for b in pieces} == {"HELD"}
