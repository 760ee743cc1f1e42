"""Reorgs on a private anvil chain: the mirror follows the new fork and equals the audit."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, select

from indexer.models import Account, Article6PartyAdministrator, Cancellation, Transfer, table_of
from node.contracts import ApprovalPolicy, text_bytes8
from node.devchain import DevChain
from tests.conftest import Registry, _free_port, deploy_registry
from tests.indexer.conftest import make_indexer, restart_relayer, rpc
from tests.indexer.script import LedgerScript, rep
from tests.indexer.test_sync import assert_mirror_equals_chain

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def private_registry(
    dev_keys: dict[str, LocalAccount], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A registry on a chain of its own, so rewriting its blocks disturbs no other test."""
    chain = DevChain(tmp_path_factory.mktemp("reorg-chain"), port=_free_port()).start()
    registry = deploy_registry(chain.rpc_url, dev_keys, tmp_path_factory.mktemp("deployments"))
    try:
        yield registry
    finally:
        registry.relayer.stop()
        registry.client.close()
        chain.stop()


def two_accounts(script: LedgerScript) -> tuple[int, int, int]:
    keys = script.keys
    source = script.open_account(ApprovalPolicy.SINGLE, rep(keys["ar_3"].address, primary=True))
    target = script.open_account(ApprovalPolicy.SINGLE, rep(keys["ar_4"].address, primary=True))
    start, _ = script.issue(source, 1_000)
    return source, target, start


@pytest.mark.parametrize(
    ("depth", "method"),
    [(1, "anvil_rollback"), (5, "anvil_rollback"), (5, "evm_revert")],
)
def test_reorg_rolls_back_to_the_common_ancestor_and_follows_the_new_fork(
    private_registry: Registry, engine: Engine, depth: int, method: str
) -> None:
    registry = private_registry
    script = LedgerScript(registry, project="IDX-REORG")
    source, target, start = two_accounts(script)
    indexer = make_indexer(engine, registry)
    indexer.sync_once()
    ancestor = registry.client.block_number()
    snapshot = rpc(registry, "evm_snapshot")

    # `depth` blocks that the reorg will orphan: the automining chain puts each request in a
    # block of its own.
    orphaned = [
        script.cancel("ar_3", source, [(start + 10 * i, start + 10 * i + 4)]) for i in range(depth)
    ]
    assert registry.client.block_number() == ancestor + depth
    assert indexer.sync_once().end_block == ancestor + depth

    if method == "anvil_rollback":
        rpc(registry, "anvil_rollback", depth)
    else:
        assert rpc(registry, "evm_revert", snapshot) is True
    assert registry.client.block_number() == ancestor
    restart_relayer(registry)
    # A different, longer fork: transfers of overlapping serials instead of the cancellations.
    transfers = [
        script.transfer("ar_3", source, target, [(start + 10 * i, start + 10 * i + 2)])
        for i in range(depth + 1)
    ]

    result = indexer.sync_once()
    assert result.rolled_back_to == ancestor
    assert result.end_block == ancestor + depth + 1
    assert_mirror_equals_chain(engine, registry)
    with engine.connect() as conn:
        cancellations = table_of(Cancellation)
        gone = conn.execute(
            select(cancellations.c.id).where(
                cancellations.c.account_id == source, cancellations.c.id.in_(orphaned)
            )
        ).all()
        moved = conn.execute(
            select(table_of(Transfer).c.id).where(table_of(Transfer).c.to_account == target)
        ).all()
    # The fork reuses operation ids: every orphaned id now names a transfer, not a cancellation.
    assert gone == []
    assert sorted(r.id for r in moved) == sorted(transfers)


_parties = itertools.count()


def test_a_reorg_replaces_an_article6_party_registration(
    private_registry: Registry, engine: Engine
) -> None:
    """The Article 6 tables follow the new fork too: a Party's orphaned administrators go."""
    registry = private_registry
    party = f"R{next(_parties)}"  # the chain is shared by both databases' legs
    admin = registry.keys["registry_admin"]
    orphaned: str = registry.keys["ar_1"].address
    forked: list[str] = [registry.keys["ar_2"].address, registry.keys["ar_3"].address]

    def register(administrators: list[str]) -> None:
        fields = {
            "party": "0x" + text_bytes8(party).hex(),
            "registryId": "0x" + text_bytes8(party + "R").hex(),
            "labelAuthority": registry.keys["label_authority"].address,
            "administrators": administrators,
        }
        outcome = registry.relayer.relay(registry.signer.sign(admin, "RegisterParty", fields))
        assert outcome.ok, outcome.error

    indexer = make_indexer(engine, registry)
    indexer.sync_once()
    ancestor = registry.client.block_number()
    register([orphaned])
    indexer.sync_once()
    assert _administrators(engine, party) == {orphaned}

    rpc(registry, "anvil_rollback", 1)
    restart_relayer(registry)
    register(forked)
    result = indexer.sync_once()
    assert result.rolled_back_to == ancestor
    assert _administrators(engine, party) == set(forked)
    assert_mirror_equals_chain(engine, registry)


def _administrators(engine: Engine, party: str) -> set[str]:
    admins = table_of(Article6PartyAdministrator)
    with engine.connect() as conn:
        return set(conn.execute(select(admins.c.address).where(admins.c.party == party)).scalars())


def test_finality_depth_keeps_shallow_reorgs_out_of_the_mirror(
    private_registry: Registry, engine: Engine
) -> None:
    registry = private_registry
    script = LedgerScript(registry, project="IDX-REORG")
    source, target, start = two_accounts(script)
    indexer = make_indexer(engine, registry, finality_depth=2)
    head = registry.client.block_number()
    assert indexer.sync_once().end_block == head - 2

    script.cancel("ar_3", source, [(start, start + 4)])
    assert indexer.sync_once().end_block == head - 1
    rpc(registry, "anvil_rollback", 1)
    restart_relayer(registry)
    script.transfer("ar_3", source, target, [(start, start + 4)])
    script.transfer("ar_3", source, target, [(start + 5, start + 9)])

    result = indexer.sync_once()
    assert result.rolled_back_to is None
    assert result.end_block == registry.client.block_number() - 2
    assert_mirror_equals_chain(engine, registry)


def test_a_reorg_of_blocks_without_registry_events_needs_no_rebuild(
    private_registry: Registry, engine: Engine
) -> None:
    registry = private_registry
    indexer = make_indexer(engine, registry)
    indexer.sync_once()
    ancestor = registry.client.block_number()
    for _ in range(3):
        rpc(registry, "evm_mine")
    indexer.sync_once()
    rpc(registry, "anvil_rollback", 3)
    for _ in range(4):
        rpc(registry, "evm_mine")
    result = indexer.sync_once()
    assert result.rolled_back_to == ancestor
    assert result.end_block == ancestor + 4
    assert_mirror_equals_chain(engine, registry)


def test_a_chain_started_afresh_resets_the_mirror(
    dev_keys: dict[str, LocalAccount], tmp_path: Path, engine: Engine
) -> None:
    """A dev chain restarted without its state redeploys at the same address: start over."""
    chain = DevChain(tmp_path / "data", port=_free_port())
    try:
        chain.start()
        old = deploy_registry(chain.rpc_url, dev_keys, tmp_path / "deployments")
        source, _, _ = two_accounts(LedgerScript(old, project="IDX-FRESH"))
        old_checkpoint = make_indexer(engine, old).sync_once().end_block
        old.relayer.stop()
        chain.stop()
        shutil.rmtree(chain.chain_dir)

        chain.start()
        new = deploy_registry(chain.rpc_url, dev_keys, tmp_path / "deployments")
        try:
            assert new.deployment.registry == old.deployment.registry
            script = LedgerScript(new, project="IDX-FRESH")
            only = script.open_account(
                ApprovalPolicy.SINGLE, rep(dev_keys["ar_1"].address, primary=True)
            )
            result = make_indexer(engine, new).sync_once()
            assert result.rolled_back_to is not None
            assert result.rolled_back_to < old_checkpoint
            assert_mirror_equals_chain(engine, new)
            with engine.connect() as conn:
                accounts = conn.execute(select(table_of(Account).c.id)).scalars().all()
            assert accounts == [only] == [source]  # the same first id, on the new chain only
        finally:
            new.relayer.stop()
    finally:
        chain.stop()
