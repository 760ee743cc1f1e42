"""The body of an Alembic environment, shared by the mirror's migrations and the API's.

Each `env.py` names its metadata and version table and calls `run_migrations`; everything else
(where the URL comes from, SQLite batch mode, migrating over the caller's connection) is the same.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, MetaData, create_engine, pool

from indexer.db import normalize_url

__all__ = ["run_migrations"]


def _url() -> str:
    config = context.config
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    url = url or os.environ.get("REGISTRY_DATABASE_URL")
    if not url:
        raise RuntimeError(
            "No database to migrate: set REGISTRY_DATABASE_URL or sqlalchemy.url in alembic.ini."
        )
    return normalize_url(str(url))


def run_migrations(metadata: MetaData, version_table: str = "alembic_version") -> None:
    """Run the migrations of one metadata, offline (SQL out) or online, as Alembic asks."""

    def configure(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables for later revisions.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            version_table=version_table,
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(
            url=_url(), target_metadata=metadata, literal_binds=True, version_table=version_table
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as opened:
        configure(opened)
    engine.dispose()
