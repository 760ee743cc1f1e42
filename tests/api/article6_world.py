"""An Article 6 registry driven over HTTP: two Parties in a cooperative approach, their accounts,
the Article 6.4 mechanism accounts, and a scripted year of ITMO actions.

Every step goes through the API's prepare -> sign -> submit path with the SDK, as a Party, an
issuer or a representative would, and waits until the mirror holds it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.devchain import DevChain
from sdk import RegistryClient
from tests.api.conftest import ApiNode
from tests.api.helpers import serve

__all__ = ["A6World", "build_a6_world", "indexed", "sdk", "serve_a6_world"]

_periods = itertools.count()


def sdk(node: ApiNode, key: LocalAccount) -> RegistryClient:
    """Return an SDK client over the test app, acting as a key."""
    return RegistryClient(node.client, key, domain="testserver")


def indexed(request: dict[str, Any]) -> dict[str, Any]:
    """Assert a request resource is indexed and return its result."""
    assert request["status"] == "indexed", request
    result: dict[str, Any] = request["result"]
    return result


@dataclass
class A6World:
    """Parties MN (host) and JP (buyer) in approach JCM-MN-JP, and the 6.4 mechanism."""

    node: ApiNode
    database: str
    keys: dict[str, LocalAccount]
    accounts: dict[str, str]  # name -> account id
    project: str
    issued: dict[str, int] = field(default_factory=dict)  # start/end of the MN issuance
    issued_period: dict[str, str] = field(default_factory=dict)  # its monitoring period
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> request

    def client(self, name: str) -> RegistryClient:
        """Return an SDK client acting as a named key."""
        return sdk(self.node, self.keys[name])

    def write(self, name: str, operation: str, intent: dict[str, Any]) -> dict[str, Any]:
        """Write as a named key and return the indexed request resource."""
        request = self.client(name).write(operation, intent)
        assert request["status"] == "indexed", request
        return request

    def monitoring_period(self) -> dict[str, str]:
        """Return a monitoring period no issuance of this world used before."""
        year = 1990 + next(_periods)
        return {
            "monitoring_period_start": f"{year}-01-01",
            "monitoring_period_end": f"{year}-12-31",
        }


def _open(world: A6World, name: str, kind: str, party: str | None, ar: str) -> None:
    intent: dict[str, Any] = {
        "holder_name": f"{name} ({kind})",
        "kind": kind,
        "approval_policy": "single",
        "representatives": [{"address": world.keys[ar].address, "primary": True}],
    }
    if party is not None:
        intent["party"] = party
    world.accounts[name] = indexed(world.write("registry_admin", "admin/accounts", intent))[
        "account_id"
    ]


def build_a6_world(node: ApiNode, database: str) -> A6World:
    """Register the Parties, the approach, accounts and the mechanism; issue MN's units."""
    keys = {
        **node.keys,
        "mn_admin": Account.create(),
        "jp_admin": Account.create(),
        "kr_admin": Account.create(),
        "mn_ar": Account.create(),
        "jp_ar": Account.create(),
        "participant_ar": Account.create(),
        "mechanism_ar": Account.create(),
    }
    world = A6World(node, database, keys, {}, "JCM-MN-001")
    authority = keys["label_authority"].address
    for party, registry_id, admin in (
        ("MN", "MNG", "mn_admin"),
        ("JP", "JPN", "jp_admin"),
        ("KR", "KOR", "kr_admin"),  # registered, but outside the approach
    ):
        world.write(
            "registry_admin",
            "article6/parties",
            {
                "party": party,
                "registry_id": registry_id,
                "label_authority": authority,
                "administrators": [keys[admin].address],
            },
        )
    world.write(
        "registry_admin",
        "article6/cooperative-approaches",
        {"approach_id": "JCM-MN-JP", "name": "Joint Crediting Mechanism", "parties": ["MN", "JP"]},
    )
    _open(world, "mn_holder", "holding", "MN", "mn_ar")
    _open(world, "mn_other", "holding", "MN", "mn_ar")
    _open(world, "jp_holder", "holding", "JP", "jp_ar")
    _open(world, "outsider", "holding", "KR", "jp_ar")
    _open(world, "participant", "holding", None, "participant_ar")
    _open(world, "participant_2", "holding", None, "participant_ar")
    for kind in ("pending", "holding", "cancellation", "omge_cancellation", "share_of_proceeds"):
        _open(world, f"mechanism_{kind}", kind, None, "mechanism_ar")
    world.write(
        "registry_admin",
        "article6/mechanism-accounts",
        {
            "pending": world.accounts["mechanism_pending"],
            "holding": world.accounts["mechanism_holding"],
            "cancellation": world.accounts["mechanism_cancellation"],
            "omge_cancellation": world.accounts["mechanism_omge_cancellation"],
            "share_of_proceeds": world.accounts["mechanism_share_of_proceeds"],
        },
    )
    world.write(
        "issuer",
        "admin/projects",
        {
            "project_id": world.project,
            "name": "Ulaanbaatar solar",
            "methodology": "MN_AM003 solar power",
            "country": "MN",
        },
    )
    world.issued_period = world.monitoring_period()
    issued = indexed(
        world.write(
            "issuer",
            "admin/issuances",
            {
                "project_id": world.project,
                "unit_type": "JCM",
                "vintage": 2025,
                **world.issued_period,
                "quantity": 1000,
                "to_account": world.accounts["mn_holder"],
                "origin_registry": "MNG",
            },
        )
    )
    (issued_range,) = issued["ranges"]
    world.issued = dict(issued_range)
    return world


def serve_a6_world(
    database: str, chain: DevChain, keys: dict[str, LocalAccount], data_dir: Path
) -> Iterator[A6World]:
    """Yield the Article 6 world on a fresh registry whose mirror is SQLite or PostgreSQL."""
    yield from serve(build_a6_world, database, chain, keys, data_dir)
