"""Database engines for the SQL mirror, and its Alembic migrations applied in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url

from indexer.indexes import restore
from node.settings import NodeSettings

__all__ = [
    "MIGRATIONS_DIR",
    "SQLITE_FILENAME",
    "create_engine",
    "database_url",
    "normalize_url",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_FILENAME = "mirror.sqlite3"


def database_url(settings: NodeSettings) -> str:
    """Return the mirror's URL: REGISTRY_DATABASE_URL, else a SQLite file in the data dir."""
    if settings.database_url:
        return normalize_url(settings.database_url)
    return f"sqlite:///{settings.data_dir / SQLITE_FILENAME}"


def normalize_url(url: str) -> str:
    """Select the psycopg 3 driver for PostgreSQL URLs given without one."""
    # NOTE: SQLAlchemy maps a bare postgresql:// to psycopg2, which is not a dependency; operators
    # paste libpq-style URLs, so accept those (and Heroku-style postgres://) as they are.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for the mirror, with per-database settings that keep it safe and quick."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa_create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa_create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets API readers run while the indexer writes. synchronous=NORMAL stays consistent
        # after a crash (a committed batch and its checkpoint survive or vanish together); only a
        # power loss can drop the last batches, which the indexer then fetches again.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 32 MiB of page cache instead of SQLite's 2 MiB: the indexer's bulk writes touch the
        # leaves of several indexes at random, which a small cache reads again and again. The
        # memory is taken only as pages are used.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    return engine


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not a main option: configparser would treat a '%' in a URL-encoded
    # password as interpolation syntax.
    config.attributes["url"] = url
    return config


def upgrade_database(target: str | Engine, revision: str = "head") -> None:
    """Apply the mirror's migrations up to `revision` (head by default) to a URL or an engine."""
    if isinstance(target, str):
        engine = create_engine(target)
        try:
            upgrade_database(engine, revision)
        finally:
            engine.dispose()
        return
    config = _alembic_config(target.url.render_as_string(hide_password=False))
    with target.begin() as connection:
        # Indexes a backfill dropped come back first: a migration may alter or drop them.
        restore(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
