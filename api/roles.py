"""The API package's roles as processes: `registry serve api|relayer|webhooks|migrate`.

Each role runs in the foreground until its stop event is set (SIGTERM, Ctrl-C) and shares only
the database and the chain with the others, so they may run on one host under `registry up` or
on several hosts against one PostgreSQL and an external chain RPC:

- `migrate`: bring the mirror's and the API's tables to the current schema, then exit.
- `api`: the HTTP API with N uvicorn worker processes; it journals writes and relays nothing.
- `relayer`: the journal worker and the relayer key. Exactly one per registry: it holds the
  `relayer` lease (`api.lease`) and a second one waits until the lease is free.
- `webhooks`: fill the webhook outbox from the mirror and deliver it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from node.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from node.settings import NodeSettings

__all__ = ["create_worker_app", "migrate", "serve_api", "serve_relayer", "serve_webhooks"]

log = logging.getLogger(__name__)


def migrate(settings: NodeSettings, options: dict[str, Any], stop: threading.Event) -> None:
    """Create or upgrade the database's tables (mirror and API), then return.

    It also creates the response-signing key when there is none yet, so the API's worker
    processes, starting together, all load the same one.
    """
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import upgrade_database
    from api.responsekey import ResponseKey
    from api.server import api_settings
    from indexer.db import create_engine, database_url

    ResponseKey.load_or_create(api_settings(settings, options).response_key_file)

    url = database_url(settings)
    try:
        engine = create_engine(url)
        upgrade_database(engine)
        engine.dispose()
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot open the database {shown} ({cause}); set REGISTRY_DATABASE_URL to "
            "sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
        ) from exc


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"the API cannot listen on {host}:{port} ({exc.strerror})") from exc


def create_worker_app() -> FastAPI:
    """Build one API worker process's app from the environment (uvicorn's factory).

    A worker serves HTTP only: it journals writes and wakes the relayer process by notification,
    and delivers no webhooks.
    """
    from api.app import create_app
    from api.config import ApiSettings
    from api.services import Services
    from node.services import die_with_parent

    parent = os.environ.get("REGISTRY_API_PARENT_PID")
    if parent and int(parent) != os.getpid():  # a worker process of `serve api`
        die_with_parent(int(parent))
    settings = ApiSettings(api_relay=False, webhook_delivery=False)
    services = Services.from_settings(
        settings, relayer_key=None, migrate=False, operator_key=_operator_key(settings)
    )
    return create_app(services, run_workers=False)


def _operator_key(settings: Any) -> Any:
    """Return the operator key a worker signs answers to peers with, or None (interop off).

    NOTE: the key is the relayer's; a worker only signs with it (interop answers, which the
    relayer process then sends). Without it the node still serves everything but interop.
    """
    from api.services import load_relayer_key

    try:
        return load_relayer_key(settings)
    except ConfigError as exc:
        log.warning("api: no operator key, inter-registry transfers are off (%s)", exc)
        return None


def serve_api(settings: NodeSettings, options: dict[str, Any], stop: threading.Event) -> None:
    """Serve the HTTP API with `workers` processes (default: the machine's core count)."""
    import uvicorn

    from api.server import api_settings

    config = api_settings(settings, options)
    workers = int(options.get("workers") or os.cpu_count() or 1)
    _check_port(config.api_host, config.api_port)
    migrate(settings, options, stop)  # once, here, not in each worker (a no-op when current)
    # The worker processes build their settings from the environment: hand them ours.
    os.environ.update(_environment(config))
    os.environ["REGISTRY_API_PARENT_PID"] = str(os.getpid())
    uvicorn_config = uvicorn.Config(
        "api.roles:create_worker_app",
        factory=True,
        host=config.api_host,
        port=config.api_port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    log.warning("api: %s/v1 with %d worker(s)", config.api_url, workers)
    # NOTE: uvicorn handles SIGTERM and SIGINT itself here (it runs in the main thread), and its
    # multi-process supervisor replaces a worker that dies.
    if workers == 1:
        uvicorn.Server(uvicorn_config).run()
        return
    from uvicorn.supervisors import Multiprocess

    Multiprocess(uvicorn_config, sockets=[uvicorn_config.bind_socket()]).run()


def _environment(config: Any) -> dict[str, str]:
    values = {
        "REGISTRY_DATA_DIR": str(config.data_dir),
        "REGISTRY_CHAIN_PORT": str(config.chain_port),
        "REGISTRY_API_HOST": config.api_host,
        "REGISTRY_API_PORT": str(config.api_port),
        "REGISTRY_REGISTRY_CODE": config.registry_code,
    }
    if config.rpc_url:
        values["REGISTRY_RPC_URL"] = config.rpc_url
    if config.database_url:
        values["REGISTRY_DATABASE_URL"] = config.database_url
    if config.api_domain:
        values["REGISTRY_API_DOMAIN"] = config.api_domain
    return values


def serve_relayer(settings: NodeSettings, options: dict[str, Any], stop: threading.Event) -> None:
    """Hold the relayer lease, then relay the journal until stopped (or the lease is lost)."""
    from api.journal import JournalWorker
    from api.lease import DbLease
    from api.server import api_settings
    from api.services import Services, load_relayer_key

    config = api_settings(settings, options)
    key = load_relayer_key(config)
    services = Services.from_settings(config, relayer_key=key)
    lease = DbLease(services.engine, "relayer", period=float(options.get("lease_seconds", 6.0)))

    def waiting(holder: str | None) -> None:
        log.warning("relayer: another relayer holds the lease (%s); waiting", holder)

    if not lease.acquire(stop, on_wait=waiting):
        return
    log.warning("relayer: lease held (%s)", lease.holder)
    assert services.relayer is not None
    services.relayer.start()
    worker = JournalWorker(services).start()
    # Proposals to peer registries are signed with the operator key and sent from here, the one
    # process that holds the relayer lease (docs/interop.md).
    from api.interop import InteropWorker

    interop = InteropWorker(services, wake=worker.wake).start()
    try:
        while not stop.wait(0.5):
            if lease.lost.is_set():
                # NOTE: another process may relay now; stop at once rather than send twice.
                raise ConfigError("the relayer lease was lost; stopping this relayer")
            if not worker.is_alive():
                raise ConfigError("the journal worker stopped")
    finally:
        interop.stop()
        worker.stop()
        services.relayer.stop()
        lease.release()
        services.notifier.close()
        services.engine.dispose()


def serve_webhooks(settings: NodeSettings, options: dict[str, Any], stop: threading.Event) -> None:
    """Fill and deliver the webhook outbox until stopped."""
    from api.events import EventShape
    from api.server import api_settings
    from api.webhooks.delivery import WebhookWorker
    from indexer.db import create_engine, database_url
    from node.deploy import load_abi
    from node.notify import Notifier

    config = api_settings(settings, options)
    engine = create_engine(database_url(config))
    shape = EventShape(load_abi(config.deployments_dir), config.registry_code)
    notifier = Notifier(database_url(config), config.data_dir)
    worker = WebhookWorker(engine, config, shape, wake=notifier.event("mirror")).start()
    try:
        stop.wait()
    finally:
        worker.stop()
        notifier.close()
        engine.dispose()
