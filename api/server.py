"""`registry api`: the API with its relayer in one process (roles: `api.roles`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from node.errors import RegistryError

# NOTE: FastAPI, uvicorn and the services are imported when the API starts, not when the CLI
# loads this module to list its commands (`registry --help` stays instant).
if TYPE_CHECKING:
    import uvicorn

    from api.config import ApiSettings
    from api.services import Services
    from node.settings import NodeSettings

__all__ = ["api_settings", "register"]


def api_settings(settings: NodeSettings, options: dict[str, Any]) -> ApiSettings:
    """Return API settings: the node's own, the environment, and `up`'s options on top."""
    from api.config import ApiSettings

    overrides = {k: v for k, v in options.items() if k.startswith("api_") and v is not None}
    return ApiSettings(**{**settings.model_dump(exclude_unset=True), **overrides})


def _serve(settings: ApiSettings) -> tuple[uvicorn.Server, Services]:
    import uvicorn

    from api.app import create_app
    from api.services import Services, load_relayer_key

    key = load_relayer_key(settings) if settings.api_relay else None
    services = Services.from_settings(settings, relayer_key=key)
    config = uvicorn.Config(
        create_app(services),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
    )
    return uvicorn.Server(config), services


def serve(
    api_port: Annotated[
        int | None, typer.Option("--api-port", envvar="REGISTRY_API_PORT", help="Port to serve.")
    ] = None,
) -> None:
    """Serve the API and its relayer in one process (chain and indexer elsewhere).

    The relayer part takes the registry's relayer lease first (waiting while another relayer
    holds it); with REGISTRY_API_RELAY=false it only journals. The process-per-role way is
    `registry serve api` plus `registry serve relayer`.
    """
    import threading

    from api.config import ApiSettings
    from api.lease import DbLease

    try:
        config = ApiSettings() if api_port is None else ApiSettings(api_port=api_port)
        server, services = _serve(config)
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    lease = DbLease(services.engine, "relayer")
    if services.relayer is not None:
        lease.acquire(
            threading.Event(),
            on_wait=lambda holder: typer.echo(f"waiting for the relayer lease ({holder})"),
        )
    typer.echo(f"API on {config.api_url}/v1 (docs {config.api_url}/docs)")
    try:
        server.run()
    finally:
        lease.release()


def register(root: typer.Typer) -> None:
    """Add `api` as a top-level command of the `registry` CLI."""
    root.command("api")(serve)
