"""The indexer as a role: `registry serve indexer`, its own process.

It follows the chain, publishes `mirror` when it committed blocks (the journal worker
and waiting clients wake at once), and looks at the chain again when the relayer publishes
`chain` (a transaction was mined) or its poll interval passes (decision D41).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from indexer.db import create_engine, database_url, upgrade_database
from indexer.sync import Indexer
from node.errors import ChainError, ConfigError
from node.notify import Notifier
from node.settings import NodeSettings

__all__ = ["follow", "serve"]

log = logging.getLogger(__name__)


def follow(
    indexer: Indexer, notifier: Notifier, poll_interval: float, stop: threading.Event
) -> None:
    """Sync until `stop`: publish `mirror` after progress, wake on `chain` or the poll interval.

    Chain and database outages are logged and retried with backoff (the chain may be restarting);
    anything else (a mirror that no longer matches the chain) ends the loop with its error.
    """
    from sqlalchemy.exc import OperationalError

    mined = notifier.event("chain")
    delay = poll_interval
    while not stop.is_set():
        mined.clear()
        try:
            result = indexer.sync_once(stop=stop)
        except (ChainError, OperationalError) as exc:
            delay = min(max(delay, 0.5) * 2, 10.0)
            log.warning("indexer: %s; retrying in %.1fs", exc, delay)
            stop.wait(delay)
            continue
        delay = poll_interval
        if result.end_block != result.start_block or result.rolled_back_to is not None:
            notifier.publish("mirror")
            if result.end_block < result.head - indexer.finality_depth:
                continue  # more to catch up on
        mined.wait(poll_interval)


def _open(settings: NodeSettings) -> Engine:
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
    return engine


def serve(settings: NodeSettings, options: dict[str, Any], stop: threading.Event) -> None:
    """Follow the chain in the foreground until `stop` (the `registry serve indexer` role)."""
    engine = _open(settings)
    notifier = Notifier(engine.url.render_as_string(hide_password=False), settings.data_dir)
    try:
        indexer = Indexer.from_settings(settings, engine)
        follow(indexer, notifier, float(options.get("poll_interval", 0.2)), stop)
    finally:
        notifier.close()
        engine.dispose()
