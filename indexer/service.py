"""The indexer as a `registry up` service: follow the chain in a background thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from indexer.db import create_engine, database_url, upgrade_database
from indexer.sync import Indexer
from node.errors import ConfigError
from node.settings import NodeSettings

__all__ = ["IndexerService", "start"]


@dataclass
class IndexerService:
    """An indexer following the chain until stopped."""

    indexer: Indexer
    engine: Engine
    thread: threading.Thread
    stop_event: threading.Event
    name: str = "indexer"
    urls: dict[str, str] = field(default_factory=dict)

    def is_healthy(self) -> bool:
        """Return whether the sync thread is still running."""
        return self.thread.is_alive()

    def stop(self) -> None:
        """Stop following the chain (the last committed batch stays)."""
        self.stop_event.set()
        self.thread.join(timeout=30)
        self.engine.dispose()


def start(settings: NodeSettings, options: dict[str, Any]) -> IndexerService:
    """Migrate the mirror and start following the chain."""
    url = database_url(settings)
    try:
        engine = create_engine(url)
        upgrade_database(engine)
    except SQLAlchemyError as exc:
        shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
        cause = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"cannot open the mirror database {shown} ({cause}); set REGISTRY_DATABASE_URL to "
            "sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
        ) from exc
    indexer = Indexer.from_settings(settings, engine)
    stop = threading.Event()
    poll = float(options.get("poll_interval", 0.2))
    thread = threading.Thread(
        target=indexer.run_forever, args=(poll, stop), name="indexer", daemon=True
    )
    thread.start()
    rendered = engine.url.render_as_string(hide_password=True)
    return IndexerService(indexer, engine, thread, stop, urls={"mirror": rendered})
