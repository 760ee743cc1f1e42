"""The API's runtime: settings, database, chain, deployment, relayer and journal worker."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, select

from api.chainview import ChainView
from api.config import ApiSettings
from api.db import upgrade_database
from api.events import EventShape
from api.ratelimit import RateLimiter
from api.responsekey import ResponseKey
from indexer.db import create_engine, database_url
from indexer.models import Checkpoint, table_of
from node.chain import ChainClient
from node.deploy import Deployment, load_abi, load_manifest
from node.errors import ConfigError
from node.keys import Keystore, load_dev_accounts
from node.notify import Notifier
from node.relayer import Relayer

__all__ = ["Services", "load_relayer_key"]

_CHECKPOINT = table_of(Checkpoint)


@dataclass
class Services:
    """Everything a route needs, built once per process."""

    settings: ApiSettings
    engine: Engine
    client: ChainClient
    deployment: Deployment
    abi: list[dict[str, Any]]
    chain: ChainView
    response_key: ResponseKey  # signs pull-and-view responses and the AEF (decision D29)
    relayer: Relayer | None = None
    # The operator key that signs inter-registry protocol messages (docs/interop.md): the
    # relayer's key. API workers hold it to sign answers to peers' proposals, and never relay.
    operator: LocalAccount | None = None
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(50.0, 200))
    # Readers' scopes by (address, indexed block): see api.deps.get_caller.
    caller_scopes: dict[tuple[str, int], Any] = field(default_factory=dict)
    # Bearer tokens' (address, expiry) by token digest: see api.deps.get_reader.
    bearer_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls,
        settings: ApiSettings,
        relayer_key: LocalAccount | None = None,
        *,
        migrate: bool = True,
        operator_key: LocalAccount | None = None,
    ) -> Services:
        """Connect to the chain and database a node's settings name, migrating the database.

        `migrate=False` when a supervisor migrated it already (API worker processes start at
        once and never race one another's migrations).
        """
        client = ChainClient(settings.chain_rpc_url)
        deployment = load_manifest(settings.deployments_dir, client.chain_id)
        abi = load_abi(settings.deployments_dir)
        engine = create_engine(database_url(settings))
        if migrate:
            upgrade_database(engine)
        relayer = None
        if relayer_key is not None:
            relayer = Relayer(
                client,
                deployment.registry,
                abi,
                relayer_key,
                receipt_timeout=settings.receipt_timeout_seconds,
            )
        return cls(
            settings=settings,
            engine=engine,
            client=client,
            deployment=deployment,
            abi=abi,
            chain=ChainView(client, deployment.registry, abi),
            relayer=relayer,
            operator=operator_key or relayer_key,
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            response_key=ResponseKey.load_or_create(settings.response_key_file),
        )

    @property
    def registry_code(self) -> str:
        """Return the registry code account ids are prefixed with, e.g. "AU"."""
        return self.deployment.registry_code

    @cached_property
    def notifier(self) -> Notifier:
        """Return this process's cross-process signals (decision D41)."""
        url = self.engine.url.render_as_string(hide_password=False)
        return Notifier(url, self.settings.data_dir)

    @cached_property
    def event_shape(self) -> EventShape:
        """Return the public shape of this registry's events (API.md conventions)."""
        return EventShape(self.abi, self.registry_code)

    def indexed_block(self) -> int:
        """Return the last block the mirror has indexed (-1 before the first sync)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(_CHECKPOINT.c.block_number).where(_CHECKPOINT.c.id == 1)
            ).scalar()
        return -1 if value is None else int(value)


def load_relayer_key(settings: ApiSettings) -> LocalAccount:
    """Return the relayer's key: the dev key on the dev chain, else an unlocked keystore."""
    if settings.uses_dev_chain and settings.dev_accounts_path.exists():
        accounts = load_dev_accounts(settings.dev_accounts_path)
        if settings.relayer_key in accounts:
            return accounts[settings.relayer_key]
    password = os.environ.get("REGISTRY_KEYSTORE_PASSWORD")
    if password is None:
        raise ConfigError(
            "The API needs the relayer key: set REGISTRY_KEYSTORE_PASSWORD to unlock keystore "
            f"{settings.relayer_key!r} in {settings.keystore_dir}."
        )
    return Keystore(settings.keystore_dir).load(settings.relayer_key, password)
