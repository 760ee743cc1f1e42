"""Reads by platforms, on SQLite and PostgreSQL: exactly what their active consents cover.

A seller holds free units, units reserved for the platform, units reserved for another platform
and units escrowed to the platform. Each scope is checked against a replay of the chain's events:
`reserved` shows only the blocks reserved for that platform, never unreserved ones; `escrowed` only
those escrowed to it; `holdings` the account's holdings. A revoked consent refuses the next read;
a suspended platform reads nothing; and a platform learns nothing about accounts it has no consent
for (403 before 404, decision D11).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from indexer.models import Consent, table_of
from node.contracts import UnitState
from node.devchain import DevChain
from sdk import RegistryClient, RegistryError
from tests.api.helpers import DATABASES
from tests.api.platform_world import Market, Seller, indexed, serve_market


@dataclass
class Scene:
    """The market, a seller with units in every state, and a second platform."""

    market: Market
    seller: Seller
    other_platform: str
    other_signer: RegistryClient  # signs for the other platform; AR of its custodial account
    other_custody: str
    reserved: int  # reservation for the platform
    reserved_other: int  # reservation for the other platform
    escrowed: int  # escrow to the platform
    consents: dict[str, int]  # scope -> consent id of the platform


@pytest.fixture(scope="module", params=DATABASES)
def scene(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scene]:
    """Yield the scene once per database."""
    for market in serve_market(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("platform-reads")
    ):
        yield _build(market)


def _consent(market: Market, seller: Seller, platform: str, scope: str) -> int:
    return int(
        indexed(
            seller.ar1.write(
                "consents", {"account_id": seller.account, "platform": platform, "scope": scope}
            )
        )["consent_id"]
    )


def _build(market: Market) -> Scene:
    admin = market.admin
    other_signer = market.client()
    custody = indexed(
        admin.write(
            "admin/accounts",
            {
                "holder_name": "Other Exchange custody",
                "kind": "custodial",
                "representatives": [{"address": other_signer.address, "primary": True}],
            },
        )
    )["account_id"]
    other = Account.create().address
    indexed(
        admin.write(
            "admin/platforms",
            {
                "address": other,
                "name": "Other Exchange",
                "custodial_account": custody,
                "signers": [other_signer.address],
            },
        )
    )
    seller = market.open_seller("Scoped Seller Pty Ltd")
    consents = {
        "reserved": _consent(market, seller, market.platform, "reserved"),
        "escrowed": _consent(market, seller, market.platform, "escrowed"),
    }
    _consent(market, seller, other, "reserved")

    def lock(operation: str, platform: str, quantity: int) -> int:
        result = indexed(
            seller.ar1.write(
                operation,
                {"account_id": seller.account, "platform": platform, "quantity": quantity},
            )
        )
        return int(result["reservation_id" if operation == "reservations" else "escrow_id"])

    return Scene(
        market=market,
        seller=seller,
        other_platform=other,
        other_signer=other_signer,
        other_custody=custody,
        reserved=lock("reservations", market.platform, 100),
        reserved_other=lock("reservations", other, 40),
        escrowed=lock("escrows", market.platform, 60),
        consents=consents,
    )


def _chain_blocks(scene: Scene, states: dict[UnitState, set[int]] | None) -> list[tuple[int, int]]:
    """Return the seller's blocks from a chain replay, keeping those whose (state, lock) match."""
    number = int(scene.seller.account.split("-")[1])
    out = []
    for block in scene.market.node.registry.blocks().blocks():
        if block.account != number or block.state == UnitState.CANCELLED:
            continue
        if states is None or block.lock_id in states.get(block.state, set()):
            out.append((block.start, block.end))
    return out


def _seen(client: RegistryClient, account: str, **params: Any) -> list[tuple[int, int]]:
    items = client.get(f"/v1/accounts/{account}/holdings", **params)["items"]
    return [(item["start"], item["end"]) for item in items]


def test_reserved_scope_never_sees_unreserved_holdings(scene: Scene) -> None:
    market, seller = scene.market, scene.seller
    reader = market.signer2
    # With `reserved` and `escrowed` consents: the blocks reserved and escrowed to this platform,
    # not the free ones, not those reserved for the other platform.
    expected = _chain_blocks(
        scene, {UnitState.RESERVED: {scene.reserved}, UnitState.ESCROWED: {scene.escrowed}}
    )
    assert _seen(reader, seller.account) == expected
    assert sum(end - start + 1 for start, end in expected) == 160
    assert _seen(reader, seller.account, state="held") == []
    assert _seen(reader, seller.account, state="cancelled") == []
    detail = reader.get(f"/v1/accounts/{seller.account}")
    assert sorted((b["state"], b["quantity"]) for b in detail["balances"]) == [
        ("escrowed", 60),
        ("reserved", 100),
    ]

    # Only `reserved`: the escrowed blocks disappear too.
    indexed(seller.ar2.write(f"consents/{scene.consents['escrowed']}/revoke", {}))
    only_reserved = _chain_blocks(scene, {UnitState.RESERVED: {scene.reserved}})
    assert _seen(reader, seller.account) == only_reserved
    assert all(item["state"] == "reserved" for item in _items(reader, seller.account))
    # The other platform sees its own reservation only.
    assert _seen(scene.other_signer, seller.account) == _chain_blocks(
        scene, {UnitState.RESERVED: {scene.reserved_other}}
    )
    # The seller's own AR sees everything.
    assert _seen(seller.ar1, seller.account) == _chain_blocks(scene, None)
    scene.consents["escrowed"] = _consent(market, seller, market.platform, "escrowed")


def _items(client: RegistryClient, account: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(f"/v1/accounts/{account}/holdings")["items"]
    return items


def test_consents_are_listed_to_the_holder_and_each_platform_its_own(scene: Scene) -> None:
    market, seller = scene.market, scene.seller
    path = f"/v1/accounts/{seller.account}/consents"
    everything = seller.ar1.get(path)["items"]
    mine = market.signer2.get(path)["items"]
    theirs = scene.other_signer.get(path)["items"]
    assert {c["platform"] for c in mine} == {market.platform}
    assert {c["platform"] for c in theirs} == {scene.other_platform}
    assert sorted(c["consent_id"] for c in mine + theirs) == [c["consent_id"] for c in everything]
    active = {(c["scope"], c["consent_id"]) for c in mine if c["status"] == "active"}
    assert active == {(scope, consent) for scope, consent in scene.consents.items()}
    (revoked,) = seller.ar1.get(path, status="revoked", scope="escrowed")["items"]
    assert revoked["platform"] == market.platform and revoked["revoked_by"] == seller.ar2.address
    assert all(c["granted_by"] == seller.ar1.address for c in everything)


def test_holdings_scope_sees_the_accounts_holdings(scene: Scene) -> None:
    market, seller = scene.market, scene.seller
    consent = _consent(market, seller, scene.other_platform, "holdings")
    try:
        assert _seen(scene.other_signer, seller.account) == _chain_blocks(scene, None)
        assert _items(scene.other_signer, seller.account) == _items(seller.ar1, seller.account)
    finally:
        indexed(seller.ar1.write(f"consents/{consent}/revoke", {}))
    assert _seen(scene.other_signer, seller.account) == _chain_blocks(
        scene, {UnitState.RESERVED: {scene.reserved_other}}
    )


def test_revoked_consent_refuses_the_next_read(scene: Scene) -> None:
    market, seller = scene.market, scene.seller
    account = seller.account
    other = scene.other_signer
    assert _seen(other, account)
    listed = other.get("/v1/accounts")["items"]
    assert [a["account_id"] for a in listed] == [scene.other_custody, account]
    (other_consent,) = _active_consents(market, account, scene.other_platform)
    indexed(seller.ar2.write(f"consents/{other_consent}/revoke", {}))
    for path in (f"/v1/accounts/{account}/holdings", f"/v1/accounts/{account}"):
        with pytest.raises(RegistryError) as refused:
            other.get(path)
        assert (refused.value.status, refused.value.code) == (403, "CONSENT_REQUIRED")
    listed = other.get("/v1/accounts")["items"]
    assert [a["account_id"] for a in listed] == [scene.other_custody]


def _active_consents(market: Market, account: str, platform: str) -> list[int]:
    """Return the ids of the platform's active consents on an account, from the mirror."""
    consents = table_of(Consent)
    with market.node.services.engine.connect() as conn:
        rows = conn.execute(
            select(consents.c.id).where(
                consents.c.account_id == int(account.split("-")[1]),
                consents.c.platform == platform,
                consents.c.status == "active",
            )
        )
        return [int(r[0]) for r in rows]


def test_suspended_platform_sees_nothing_until_reactivated(scene: Scene) -> None:
    market, seller = scene.market, scene.seller
    reader = market.signer2
    before = _seen(reader, seller.account)
    assert before
    status = f"admin/platforms/{market.platform}/status"
    indexed(market.admin.write(status, {"status": "suspended"}))
    try:
        for path in (f"/v1/accounts/{seller.account}/holdings", f"/v1/accounts/{seller.account}"):
            with pytest.raises(RegistryError) as refused:
                reader.get(path)
            assert (refused.value.status, refused.value.code) == (403, "PLATFORM_SUSPENDED")
        assert reader.get("/v1/accounts")["items"] == []
        public = market.node.client.get(f"/v1/platforms/{market.platform}").json()
        assert public["status"] == "suspended"
    finally:
        indexed(market.admin.write(status, {"status": "active"}))
    assert _seen(reader, seller.account) == before


def test_platform_reads_refuse_before_looking(scene: Scene) -> None:
    market = scene.market
    reader = market.signer2
    # Whether the account exists or not, and whatever the path: the same 403.
    for account in (market.buyer, "AU-999999999"):
        for suffix in ("", "/holdings", "/transactions"):
            with pytest.raises(RegistryError) as refused:
                reader.get(f"/v1/accounts/{account}{suffix}")
            assert (refused.value.status, refused.value.code) == (403, "CONSENT_REQUIRED")
    # A consent covers holdings, never the transaction history.
    with pytest.raises(RegistryError) as history:
        reader.get(f"/v1/accounts/{scene.seller.account}/transactions")
    assert (history.value.status, history.value.code) == (403, "NOT_AUTHORISED")


def test_removed_signer_reads_nothing(scene: Scene) -> None:
    market, seller = scene.market, scene.seller
    newcomer = market.client()
    with pytest.raises(RegistryError) as before:
        newcomer.get(f"/v1/accounts/{seller.account}/holdings")
    assert before.value.code == "NOT_AUTHORISED"
    indexed(
        market.admin.write(
            f"admin/platforms/{market.platform}/signers", {"address": newcomer.address}
        )
    )
    assert _seen(newcomer, seller.account) == _seen(market.signer2, seller.account)
    indexed(
        market.admin.write(
            f"admin/platforms/{market.platform}/signers",
            {"address": newcomer.address, "enabled": False},
        )
    )
    with pytest.raises(RegistryError) as after:
        newcomer.get(f"/v1/accounts/{seller.account}/holdings")
    assert after.value.code == "NOT_AUTHORISED"
