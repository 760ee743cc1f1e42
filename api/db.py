"""The API's database: the mirror's engine, plus the API's own tables migrated beside it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from indexer.db import upgrade_database as upgrade_mirror

__all__ = ["MIGRATIONS_DIR", "upgrade_database"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def upgrade_database(engine: Engine) -> None:
    """Bring the mirror's schema and the API's tables (journal, sessions) up to date."""
    upgrade_mirror(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = engine.url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
