"""The read scenario plus a retirement whose beneficiary and reason are formulas and markup.

Shared by the public-register, explorer, CADT and auditor tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from node.devchain import DevChain
from tests.api.conftest import ApiNode
from tests.api.helpers import World, build_world, serve
from tests.indexer.script import LedgerScript

FORMULA_BENEFICIARY = (
    '=HYPERLINK("http://evil.invalid","Zed")<img src="http://evil.invalid/x.png" alt="">'
)
FORMULA_REASON = "@SUM(1)"


@dataclass
class PublicWorld:
    """The read scenario, and the id of the retirement by Charlie with formula-like text."""

    world: World
    formula_cancellation: int
    head: int


def build_public_world(node: ApiNode, database: str = "sqlite") -> PublicWorld:
    """Build the read scenario, then retire 5 of Charlie's units with formula-like text."""
    world = build_world(node, database)
    start, _ = world.issuances["charlie_accu"]
    cancellation = LedgerScript(node.registry).cancel(
        "ar_4",
        world.charlie,
        [(start, start + 4)],
        beneficiary=FORMULA_BENEFICIARY,
        reason=FORMULA_REASON,
    )
    head = node.registry.client.block_number()
    node.wait_indexed(head)
    world.head = head
    return PublicWorld(world, cancellation, head)


def serve_public_world(
    database: str, chain: DevChain, keys: dict[str, LocalAccount], data_dir: Path
) -> Iterator[PublicWorld]:
    """Yield the public scenario on a fresh registry whose mirror is SQLite or PostgreSQL."""
    yield from serve(build_public_world, database, chain, keys, data_dir)
