"""Alembic environment: migrate the API's own tables (`api.models`), apart from the mirror's."""

from __future__ import annotations

from api.models import ApiTable
from indexer.migrations_env import run_migrations

run_migrations(ApiTable.metadata, version_table="api_alembic_version")
