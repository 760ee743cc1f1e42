"""Fixtures for the indexer tests: a mirror database on SQLite and on PostgreSQL, and a registry.

Every test that takes `database_url` runs twice, once per database. PostgreSQL tests use a
database created for the session (random name, dropped afterwards) and a fresh schema per test.
Set REGISTRY_TEST_POSTGRES_URL to use another server; without a reachable server the PostgreSQL
leg is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from indexer.db import create_engine, upgrade_database
from indexer.sync import Indexer
from node.chain import ChainClient
from node.compile import compile_contracts, registry_abi
from node.deploy import deploy, grant_roles
from node.ledger import EventDecoder
from node.relayer import Relayer
from node.signing import RequestSigner
from tests.conftest import Registry

POSTGRES_URL = os.environ.get(
    "REGISTRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Create a throwaway PostgreSQL database for the session; yield its URL."""
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = (
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); start it or set "
            "REGISTRY_TEST_POSTGRES_URL to run the PostgreSQL leg of the indexer tests"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"registry_test_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty mirror database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mirror.sqlite3'}"
        return
    base: str = request.getfixturevalue("postgres_database")
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Yield an engine on a migrated, empty mirror database."""
    upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def abi_of(registry: Registry) -> list[dict[str, Any]]:
    """Return the ABI the registry's relayer encodes with.

    NOTE: not `registry_abi(compile_contracts())` again: the sources may change while the suite
    runs (contract work in the same checkout), and the mirror must decode what was deployed.
    """
    abi: list[dict[str, Any]] = registry.relayer._contract.abi
    return abi


def make_indexer(engine: Engine, registry: Registry, **kwargs: Any) -> Indexer:
    """Return an indexer of `registry` writing to `engine`."""
    return Indexer(engine, registry.client, registry.deployment, abi_of(registry), **kwargs)


def deploy_registry(rpc_url: str, keys: dict[str, LocalAccount], deployments: Path) -> Registry:
    """Deploy a registry of its own on a chain, grant the dev roles and start a relayer."""
    client = ChainClient(rpc_url)
    deployment, _ = deploy(
        client, keys["deployer"], keys["registry_admin"].address, "AU", deployments
    )
    grant_roles(
        client,
        keys["registry_admin"],
        deployment,
        deployments,
        {
            "issuer": [keys["issuer"].address],
            "label_authority": [keys["label_authority"].address],
            "relayer": [keys["relayer"].address],
        },
    )
    abi = registry_abi(compile_contracts())
    return Registry(
        client=client,
        deployment=deployment,
        relayer=Relayer(client, deployment.registry, abi, keys["relayer"]).start(),
        signer=RequestSigner(client, deployment.registry),
        keys=keys,
        decoder=EventDecoder(abi),
    )


def restart_relayer(registry: Registry) -> None:
    """Replace the relayer: after a rollback its cached operator nonce is ahead of the chain."""
    abi = abi_of(registry)
    registry.relayer.stop()
    registry.relayer = Relayer(
        registry.client, registry.deployment.registry, abi, registry.keys["relayer"]
    ).start()
