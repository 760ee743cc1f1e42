"""Alembic environment: migrate the SQL mirror described by `indexer.models`."""

from __future__ import annotations

from sqlmodel import SQLModel

import indexer.models  # noqa: F401  (registers every table on SQLModel.metadata)
from indexer.migrations_env import run_migrations

run_migrations(SQLModel.metadata)
