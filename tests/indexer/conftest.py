"""Fixtures for the indexer tests: a mirror database on SQLite and on PostgreSQL, and a registry.

Every test that takes `database_url` runs twice, once per database. PostgreSQL tests use a
database created for the session (random name, dropped afterwards) and a fresh schema per test,
on the server `tests.postgres` finds: REGISTRY_TEST_POSTGRES_URL (default: the local server),
else an embedded one (under CI an unreachable server fails the leg).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from indexer.db import create_engine, upgrade_database
from indexer.sync import Indexer
from node.relayer import Relayer
from tests.conftest import Registry
from tests.postgres import admin_url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Create a throwaway PostgreSQL database for the session; yield its URL."""
    server = admin_url()
    admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    name = f"registry_test_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
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


def make_indexer(engine: Engine, registry: Registry, **kwargs: Any) -> Indexer:
    """Return an indexer of `registry` writing to `engine`."""
    return Indexer(engine, registry.client, registry.deployment, registry.abi, **kwargs)


def restart_relayer(registry: Registry) -> None:
    """Replace the relayer: after a rollback its cached operator nonce is ahead of the chain."""
    abi = registry.abi
    registry.relayer.stop()
    registry.relayer = Relayer(
        registry.client, registry.deployment.registry, abi, registry.keys["relayer"]
    ).start()


def rpc(registry: Registry, method: str, *params: Any) -> Any:
    """Call a (test-only, anvil) JSON-RPC method."""
    response = registry.client.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]
