"""A trading-platform market for the platform-model API tests, built over HTTP with the SDK.

Distinct actors, each with its own key: the registry administrator and the issuer (dev keys), the
sellers' authorised representatives, a buyer's AR, the platform's signers (one of them also the AR
of its custodial account), a platform representative appointed into sellers' accounts (B.2), and a
third-party certificate registry (C.1). Every test opens sellers of its own, so the final holdings
of each party are the test's alone.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.deploy import grant_roles
from node.devchain import DevChain
from sdk import RegistryClient
from tests.api.conftest import ApiNode
from tests.api.helpers import serve

__all__ = ["Market", "Seller", "holdings_by_state", "indexed", "serve_market"]

_years = itertools.count(2001)


def indexed(request: dict[str, Any]) -> dict[str, Any]:
    """Assert a request resource is indexed and return its result."""
    assert request["status"] == "indexed", request
    assert request["tx_hash"] and request["block_number"]
    result: dict[str, Any] = request["result"]
    return result


def holdings_by_state(client: RegistryClient, account: str) -> dict[str, int]:
    """Return an account's units by state (cancelled included), as the client may read them."""
    quantities: Counter[str] = Counter()
    for state in (None, "cancelled"):
        params: dict[str, Any] = {"limit": 1000}
        if state is not None:
            params["state"] = state
        page = client.get(f"/v1/accounts/{account}/holdings", **params)
        assert page["next_cursor"] is None
        for item in page["items"]:
            quantities[item["state"]] += item["quantity"]
    return dict(quantities)


@dataclass
class Seller:
    """A seller's account, its two ARs (two-person policy unless opened `single`) and its units."""

    account: str
    ar1: RegistryClient
    ar2: RegistryClient
    issued: dict[str, int]  # the issued range


@dataclass
class Market:
    """The parties of the market and SDK clients acting as each."""

    node: ApiNode
    database: str
    admin: RegistryClient
    issuer: RegistryClient
    platform: str  # the platform's address (its identity; it never signs)
    platform_name: str
    signer1: RegistryClient  # signs for the platform; AR of its custodial account
    signer2: RegistryClient  # signs for the platform
    delegate: RegistryClient  # the platform's representative for B.2 (not a platform signer)
    custody: str  # the platform's interim custodial account
    buyer: str
    buyer_ar: RegistryClient
    certifier: RegistryClient  # a third-party certificate registry
    project: str

    def client(self, key: LocalAccount | None = None) -> RegistryClient:
        """Return an SDK client for a key (a fresh one by default), logged in."""
        client = RegistryClient(self.node.client, key or Account.create(), domain="testserver")
        client.login()
        return client

    def open_seller(self, name: str, policy: str = "two_person", quantity: int = 1000) -> Seller:
        """Open a seller's account with two ARs and issue it `quantity` units of a fresh vintage."""
        ar1, ar2 = self.client(), self.client()
        account = indexed(
            self.admin.write(
                "admin/accounts",
                {
                    "holder_name": name,
                    "approval_policy": policy,
                    "representatives": [
                        {"address": ar1.address, "primary": True},
                        {"address": ar2.address},
                    ],
                },
            )
        )["account_id"]
        year = next(_years)
        issued = indexed(
            self.issuer.write(
                "admin/issuances",
                {
                    "project_id": self.project,
                    "unit_type": "ACCU",
                    "vintage": 2020,
                    "monitoring_period_start": f"{year}-01-01",
                    "monitoring_period_end": f"{year}-12-31",
                    "quantity": quantity,
                    "to_account": account,
                },
            )
        )["ranges"][0]
        return Seller(account, ar1, ar2, issued)


def build_market(node: ApiNode, database: str) -> Market:
    """Register the market's accounts, platform, roles and project through the API."""
    admin = RegistryClient(node.client, node.keys["registry_admin"], domain="testserver")
    issuer = RegistryClient(node.client, node.keys["issuer"], domain="testserver")
    admin.login()
    market_keys = {name: Account.create() for name in ("s1", "s2", "delegate", "buyer", "cert")}
    clients = {
        name: RegistryClient(node.client, key, domain="testserver")
        for name, key in market_keys.items()
    }
    for client in clients.values():
        client.login()
    custody = indexed(
        admin.write(
            "admin/accounts",
            {
                "holder_name": "Tradex Markets custody",
                "kind": "custodial",
                "approval_policy": "single",
                "representatives": [{"address": clients["s1"].address, "primary": True}],
            },
        )
    )["account_id"]
    buyer = indexed(
        admin.write(
            "admin/accounts",
            {
                "holder_name": "Buyer Energy Ltd",
                "approval_policy": "single",
                "representatives": [{"address": clients["buyer"].address, "primary": True}],
            },
        )
    )["account_id"]
    platform = Account.create().address
    registered = indexed(
        admin.write(
            "admin/platforms",
            {
                "address": platform,
                "name": "Tradex Markets",
                "custodial_account": custody,
                "signers": [clients["s1"].address, clients["s2"].address],
            },
        )
    )
    assert registered == {"platform": platform, "custodial_account": custody}
    registry = node.registry
    grant_roles(
        registry.client,
        registry.keys["registry_admin"],
        registry.deployment,
        registry.deployments_dir,
        {"third_party_registry": [clients["cert"].address]},
    )
    project = indexed(
        issuer.write(
            "admin/projects",
            {"project_id": "ERF-PLAT", "name": "Mulga regeneration", "country": "AU"},
        )
    )["project_id"]
    return Market(
        node=node,
        database=database,
        admin=admin,
        issuer=issuer,
        platform=platform,
        platform_name="Tradex Markets",
        signer1=clients["s1"],
        signer2=clients["s2"],
        delegate=clients["delegate"],
        custody=custody,
        buyer=buyer,
        buyer_ar=clients["buyer"],
        certifier=clients["cert"],
        project=project,
    )


def serve_market(
    database: str, chain: DevChain, keys: dict[str, LocalAccount], data_dir: Path
) -> Iterator[Market]:
    """Yield the market on a fresh registry whose mirror is SQLite or PostgreSQL."""
    yield from serve(build_market, database, chain, keys, data_dir)
