"""One end-to-end test per platform model (CER B.1-B.5, C.1) over HTTP, on SQLite and PostgreSQL.

Every step goes through the API with the SDK (prepare -> check -> sign -> submit -> indexed),
signed by the actor the model names; each test ends by reading the final holdings of every party
through the API, as that party may read them, and compares the seller's with a replay of the
chain's events. The module ends with `registry audit`: the mirror, new tables included, equals
the chain.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount

from indexer.audit import audit, compare, read_mirror
from indexer.mirror import rebuild_derived
from node.contracts import UnitState
from node.devchain import DevChain
from sdk import RegistryError
from tests.api.helpers import DATABASES
from tests.api.platform_world import Market, Seller, holdings_by_state, indexed, serve_market


@pytest.fixture(scope="module", params=DATABASES)
def market(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Market]:
    """Yield the market once per database."""
    yield from serve_market(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("platforms")
    )


def _chain_states(market: Market, account: str) -> dict[str, int]:
    """Return an account's units by state from a replay of the chain's events (not the mirror)."""
    number = int(account.split("-")[1])
    out: dict[str, int] = {}
    for block in market.node.registry.blocks().blocks():
        if block.account == number:
            state = block.state.name.lower()
            out[state] = out.get(state, 0) + block.quantity
    return out


def _finally(market: Market, seller: Seller, expected: dict[str, dict[str, int]]) -> None:
    """Check the final holdings of the seller, the buyer and the platform's custody."""
    assert holdings_by_state(seller.ar1, seller.account) == expected["seller"]
    assert _chain_states(market, seller.account) == expected["seller"]
    assert holdings_by_state(market.buyer_ar, market.buyer) == expected["buyer"]
    assert _chain_states(market, market.buyer) == expected["buyer"]
    assert holdings_by_state(market.signer1, market.custody) == expected["custody"]
    assert _chain_states(market, market.custody) == expected["custody"]


def _buyer_before(market: Market) -> dict[str, int]:
    return holdings_by_state(market.buyer_ar, market.buyer)


def _plus(before: dict[str, int], **more: int) -> dict[str, int]:
    out = dict(before)
    for state, quantity in more.items():
        out[state] = out.get(state, 0) + quantity
    return {state: quantity for state, quantity in out.items() if quantity}


def _consent(market: Market, seller: Seller, scope: str) -> int:
    result = indexed(
        seller.ar1.write(
            "consents", {"account_id": seller.account, "platform": market.platform, "scope": scope}
        )
    )
    return int(result["consent_id"])


# -- B.1 view consent --------------------------------------------------------------------------


def test_b1_view_consent_platform_reads_what_the_seller_sells(market: Market) -> None:
    seller = market.open_seller("B1 Seller Pty Ltd")
    buyer_before, custody_before = (
        _buyer_before(market),
        holdings_by_state(market.signer1, market.custody),
    )
    with pytest.raises(RegistryError) as refused:
        market.signer2.get(f"/v1/accounts/{seller.account}/holdings")
    assert refused.value.status == 403 and refused.value.code == "CONSENT_REQUIRED"

    consent = _consent(market, seller, "holdings")
    listed = market.signer2.get("/v1/accounts")["items"]
    assert seller.account in [a["account_id"] for a in listed]
    assert market.buyer not in [a["account_id"] for a in listed]
    seen = market.signer2.get(f"/v1/accounts/{seller.account}/holdings")["items"]
    assert seen == seller.ar1.get(f"/v1/accounts/{seller.account}/holdings")["items"]
    detail = market.signer2.get(f"/v1/accounts/{seller.account}")
    assert detail["representatives"] == []  # a view consent covers holdings, not the ARs
    assert detail["balances"] == [{"unit_type": "ACCU", "state": "held", "quantity": 1000}]

    # The seller keeps all control and settles the trade the platform brokered (two ARs).
    transfer = indexed(
        seller.ar1.write(
            "transfers",
            {"from_account": seller.account, "to_account": market.buyer, "quantity": 300},
        )
    )
    indexed(seller.ar2.write(f"transfers/{transfer['transfer_id']}/approve", {}))
    # The platform has no right to move anything: the contract refuses its signature.
    with pytest.raises(RegistryError) as moved:
        market.signer2.prepare(
            "transfers",
            {"from_account": seller.account, "to_account": market.buyer, "quantity": 1},
        )
    assert moved.value.code == "NOT_AUTHORISED"

    seen = market.signer2.get(f"/v1/accounts/{seller.account}/holdings")["items"]
    assert sum(b["quantity"] for b in seen) == 700
    _finally(
        market,
        seller,
        {
            "seller": {"held": 700},
            "buyer": _plus(buyer_before, held=300),
            "custody": custody_before,
        },
    )
    indexed(seller.ar2.write(f"consents/{consent}/revoke", {}))


# -- B.2 delegation ----------------------------------------------------------------------------


def test_b2_platform_representative_appointed_as_ar_settles(market: Market) -> None:
    seller = market.open_seller("B2 Seller Pty Ltd", policy="single")
    buyer_before = _buyer_before(market)
    custody_before = holdings_by_state(market.signer1, market.custody)
    delegate = market.delegate
    with pytest.raises(RegistryError) as outside:
        delegate.get(f"/v1/accounts/{seller.account}")
    assert outside.value.code == "NOT_AUTHORISED"

    indexed(
        market.admin.write(
            f"admin/accounts/{seller.account}/representatives",
            {"address": delegate.address, "can_initiate": True, "can_approve": True},
        )
    )
    representatives = delegate.get(f"/v1/accounts/{seller.account}")["representatives"]
    assert delegate.address in [r["address"] for r in representatives]
    sold = indexed(
        delegate.write(
            "transfers",
            {"from_account": seller.account, "to_account": market.buyer, "quantity": 250},
        )
    )
    assert sold["status"] == "completed"
    history = delegate.get(f"/v1/accounts/{seller.account}/transactions", type="transfer")
    (row,) = history["items"]
    assert row["initiated_by"] == delegate.address and row["quantity"] == 250
    _finally(
        market,
        seller,
        {
            "seller": {"held": 750},
            "buyer": _plus(buyer_before, held=250),
            "custody": custody_before,
        },
    )
    # The seller ends the delegation; the platform's representative reads nothing more.
    indexed(
        market.admin.write(
            f"admin/accounts/{seller.account}/representatives", {"address": delegate.address}
        )
    )
    with pytest.raises(RegistryError) as removed:
        delegate.get(f"/v1/accounts/{seller.account}/holdings")
    assert removed.value.code == "NOT_AUTHORISED"


# -- B.3 full custody --------------------------------------------------------------------------


def test_b3_full_custody_seller_to_platform_account_to_buyer(market: Market) -> None:
    seller = market.open_seller("B3 Seller Pty Ltd")
    buyer_before = _buyer_before(market)
    custody_before = holdings_by_state(market.signer1, market.custody)
    listed = indexed(
        seller.ar1.write(
            "transfers",
            {"from_account": seller.account, "to_account": market.custody, "quantity": 400},
        )
    )
    indexed(seller.ar2.write(f"transfers/{listed['transfer_id']}/approve", {}))
    assert holdings_by_state(market.signer1, market.custody) == _plus(custody_before, held=400)

    # The platform's representative (AR of the custodial account) completes the trade.
    sold = indexed(
        market.signer1.write(
            "transfers",
            {
                "from_account": market.custody,
                "to_account": market.buyer,
                "ranges": listed["ranges"],
            },
        )
    )
    assert sold["status"] == "completed" and sold["ranges"] == listed["ranges"]
    _finally(
        market,
        seller,
        {
            "seller": {"held": 600},
            "buyer": _plus(buyer_before, held=400),
            "custody": custody_before,
        },
    )


# -- B.4 fleeting custody ----------------------------------------------------------------------


def test_b4_fleeting_custody_reserve_release_transfer_and_deliver(market: Market) -> None:
    seller = market.open_seller("B4 Seller Pty Ltd")
    buyer_before = _buyer_before(market)
    custody_before = holdings_by_state(market.signer1, market.custody)
    consent = _consent(market, seller, "reserved")
    listing = indexed(
        seller.ar1.write(
            "reservations",
            {"account_id": seller.account, "platform": market.platform, "quantity": 300},
        )
    )
    withdrawn = indexed(
        seller.ar1.write(
            "reservations",
            {"account_id": seller.account, "platform": market.platform, "quantity": 100},
        )
    )
    # Reserved units leave the free holdings: the platform sees exactly the reserved blocks.
    seen = market.signer2.get(f"/v1/accounts/{seller.account}/holdings")["items"]
    assert {b["state"] for b in seen} == {"reserved"}
    assert sum(b["quantity"] for b in seen) == 400
    assert {b["lock_id"] for b in seen} == {
        listing["reservation_id"],
        withdrawn["reservation_id"],
    }
    assert holdings_by_state(seller.ar1, seller.account) == {"held": 600, "reserved": 400}
    with pytest.raises(RegistryError) as locked:
        seller.ar1.prepare(
            "transfers",
            {
                "from_account": seller.account,
                "to_account": market.buyer,
                "ranges": listing["ranges"],
            },
        )
    assert locked.value.code == "UNITS_NOT_HELD"

    # The holder unreserves at any time; the platform's view shrinks at once.
    released = indexed(seller.ar2.write(f"reservations/{withdrawn['reservation_id']}/release", {}))
    assert released == {"reservation_id": withdrawn["reservation_id"], "status": "released"}
    seen = market.signer2.get(f"/v1/accounts/{seller.account}/holdings")["items"]
    assert sum(b["quantity"] for b in seen) == 300

    # Settlement: seller -> the platform's interim custodial account (two ARs) -> buyer.
    moved = indexed(seller.ar1.write(f"reservations/{listing['reservation_id']}/transfer", {}))
    assert moved["status"] == "pending" and moved["to_account"] == market.custody
    assert moved["ranges"] == listing["ranges"]
    indexed(seller.ar2.write(f"transfers/{moved['transfer_id']}/approve", {}))
    assert holdings_by_state(market.signer1, market.custody) == _plus(custody_before, held=300)
    delivered = indexed(
        market.signer1.write(
            "transfers",
            {"from_account": market.custody, "to_account": market.buyer, "ranges": moved["ranges"]},
        )
    )
    assert delivered["status"] == "completed"
    assert market.signer2.get(f"/v1/accounts/{seller.account}/holdings")["items"] == []
    history = seller.ar1.get(f"/v1/accounts/{seller.account}/transactions", type="reservation")
    statuses = {r["transaction_id"]: r["status"] for r in history["items"]}
    assert statuses == {
        f"reservation-{listing['reservation_id']}": "transferred",
        f"reservation-{withdrawn['reservation_id']}": "released",
    }
    _finally(
        market,
        seller,
        {
            "seller": {"held": 700},
            "buyer": _plus(buyer_before, held=300),
            "custody": custody_before,
        },
    )
    indexed(seller.ar1.write(f"consents/{consent}/revoke", {}))


# -- B.5 escrow --------------------------------------------------------------------------------


def test_b5_escrow_platform_settles_and_releases(market: Market) -> None:
    seller = market.open_seller("B5 Seller Pty Ltd")
    buyer_before = _buyer_before(market)
    custody_before = holdings_by_state(market.signer1, market.custody)
    _consent(market, seller, "escrowed")
    deal = indexed(
        seller.ar1.write(
            "escrows", {"account_id": seller.account, "platform": market.platform, "quantity": 200}
        )
    )
    cancelled_deal = indexed(
        seller.ar1.write(
            "escrows", {"account_id": seller.account, "platform": market.platform, "quantity": 50}
        )
    )
    # The units stay in the seller's account, under the platform's control.
    assert holdings_by_state(seller.ar1, seller.account) == {"held": 750, "escrowed": 250}
    seen = market.signer2.get(f"/v1/accounts/{seller.account}/holdings")["items"]
    assert {b["state"] for b in seen} == {"escrowed"}
    assert sum(b["quantity"] for b in seen) == 250
    # The seller cannot pull them back or move them alone.
    with pytest.raises(RegistryError) as pulled:
        seller.ar1.prepare(f"escrows/{deal['escrow_id']}/release", {})
    assert pulled.value.code == "NOT_AUTHORISED"
    with pytest.raises(RegistryError) as moved:
        seller.ar1.prepare(
            "transfers",
            {"from_account": seller.account, "to_account": market.buyer, "ranges": deal["ranges"]},
        )
    assert moved.value.code == "UNITS_NOT_HELD"

    settled = indexed(
        market.signer2.write(f"escrows/{deal['escrow_id']}/settle", {"to_account": market.buyer})
    )
    assert settled == {
        "escrow_id": deal["escrow_id"],
        "to_account": market.buyer,
        "status": "settled",
    }
    released = indexed(market.signer1.write(f"escrows/{cancelled_deal['escrow_id']}/release", {}))
    assert released["status"] == "released"
    buyer_history = market.buyer_ar.get(f"/v1/accounts/{market.buyer}/transactions", type="escrow")
    assert [r["transaction_id"] for r in buyer_history["items"]] == [f"escrow-{deal['escrow_id']}"]
    assert market.signer2.get(f"/v1/accounts/{seller.account}/holdings")["items"] == []
    _finally(
        market,
        seller,
        {
            "seller": {"held": 800},
            "buyer": _plus(buyer_before, held=200),
            "custody": custody_before,
        },
    )


# -- C.1 third-party certificates --------------------------------------------------------------


def test_c1_certificate_association_retire_and_dissociate(market: Market) -> None:
    seller = market.open_seller("C1 Seller Pty Ltd")
    buyer_before = _buyer_before(market)
    custody_before = holdings_by_state(market.signer1, market.custody)
    certificate = f"GS-{market.database[:2].upper()}-7781"
    backed = indexed(
        seller.ar1.write(
            "associations",
            {
                "account_id": seller.account,
                "third_party_registry": market.certifier.address,
                "certificate_id": certificate,
                "quantity": 120,
            },
        )
    )
    spare = indexed(
        seller.ar1.write(
            "associations",
            {
                "account_id": seller.account,
                "third_party_registry": market.certifier.address,
                "certificate_id": certificate + "-B",
                "quantity": 30,
            },
        )
    )
    assert holdings_by_state(seller.ar1, seller.account) == {"held": 850, "associated": 150}
    # The public unit register shows which certificate a unit backs (never its holder).
    unit = market.node.client.get(f"/v1/registers/units/{backed['ranges'][0]['end']}").json()
    assert (unit["state"], unit["association"]["certificate_id"]) == ("associated", certificate)
    assert unit["association"]["status"] == "active" and unit["cancellation"] is None
    # Associated units cannot back a second certificate, or be transferred.
    with pytest.raises(RegistryError) as again:
        seller.ar1.prepare(
            "associations",
            {
                "account_id": seller.account,
                "third_party_registry": market.certifier.address,
                "certificate_id": certificate,
                "quantity": 1,
            },
        )
    assert again.value.code == "CERTIFICATE_ALREADY_USED"
    with pytest.raises(RegistryError) as moved:
        seller.ar1.prepare(
            "transfers",
            {
                "from_account": seller.account,
                "to_account": market.buyer,
                "ranges": backed["ranges"],
            },
        )
    assert moved.value.code == "UNITS_NOT_HELD"
    # Only the third-party registry retires or dissociates.
    with pytest.raises(RegistryError) as not_registry:
        seller.ar1.prepare(f"associations/{backed['association_id']}/retire", {})
    assert not_registry.value.code == "NOT_AUTHORISED"

    retired = indexed(
        market.certifier.write(
            f"associations/{backed['association_id']}/retire",
            {"beneficiary": "Acme Airlines", "reason": "Scope 3 claim FY25"},
        )
    )
    assert retired["association_id"] == backed["association_id"]
    assert retired["ranges"] == backed["ranges"]
    dissociated = indexed(
        market.certifier.write(f"associations/{spare['association_id']}/dissociate", {})
    )
    assert dissociated["status"] == "dissociated"

    serial = backed["ranges"][0]["start"]
    unit = market.node.client.get(f"/v1/registers/units/{serial}").json()
    assert unit["state"] == "cancelled"
    assert certificate.encode().hex() in unit["cancellation"]["reason"]
    assert unit["association"] == {
        "association_id": backed["association_id"],
        "third_party_registry": market.certifier.address,
        "certificate_id": certificate,
        "status": "retired",
    }
    block, _labels = market.node.registry.contract.functions.getBlock(serial).call()
    assert block[4] == UnitState.CANCELLED and block[3] == retired["cancellation_id"]
    history = seller.ar1.get(f"/v1/accounts/{seller.account}/transactions")["items"]
    kinds = {r["transaction_id"]: r["status"] for r in history}
    assert kinds[f"association-{backed['association_id']}"] == "retired"
    assert kinds[f"association-{spare['association_id']}"] == "dissociated"
    assert kinds[f"cancellation-{retired['cancellation_id']}"] == "completed"
    _finally(
        market,
        seller,
        {
            "seller": {"held": 880, "cancelled": 120},
            "buyer": buyer_before,
            "custody": custody_before,
        },
    )


# -- the audit ---------------------------------------------------------------------------------


def test_audit_reports_mirror_equals_chain_with_the_platform_tables(market: Market) -> None:
    node = market.node
    node.wait_indexed(node.registry.client.block_number())
    registry = node.registry
    report = audit(node.services.engine, registry.client, registry.deployment, registry.abi, seed=5)
    assert report.ok, report.differences
    for section in ("platforms", "platform_signers", "consents", "reservations", "escrows"):
        assert report.compared[section] > 0, section
    assert report.compared["associations"] >= 2
    # ... and contract storage agrees: the module's views are spot-checked for every one of them.
    c = report.compared
    platform_checks = (
        c["platforms"] + c["consents"] + c["reservations"] + 2 * c["escrows"]
    ) + 2 * c["associations"]
    assert report.spot_checks >= platform_checks
    # The new tables are a function of the raw events alone: a rebuild (the reorg path) from
    # the stored events gives the same mirror.
    forward = read_mirror(node.services.engine)
    with node.services.engine.begin() as conn:
        rebuild_derived(conn)
    assert compare(forward, read_mirror(node.services.engine)) == []
