"""The API as a `registry up` service, and `registry api` to run it alone."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
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

__all__ = ["ApiService", "register", "start"]


@dataclass
class ApiService:
    """uvicorn serving the API in a background thread."""

    server: uvicorn.Server
    thread: threading.Thread
    services: Services
    name: str = "api"
    urls: dict[str, str] = field(default_factory=dict)

    def is_healthy(self) -> bool:
        """Return whether the server thread is still running."""
        return self.thread.is_alive()

    def stop(self) -> None:
        """Stop serving; journaled requests stay for the next start."""
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.services.engine.dispose()


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


def start(settings: NodeSettings, options: dict[str, Any]) -> ApiService:
    """Start the API on its port and wait until it accepts connections."""
    config = api_settings(settings, options)
    server, services = _serve(config)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RegistryError(f"The API did not start on {config.api_url}; is the port taken?")
        time.sleep(0.05)
    return ApiService(
        server,
        thread,
        services,
        urls={"api": f"{config.api_url}/v1", "docs": f"{config.api_url}/docs"},
    )


def serve(
    api_port: Annotated[
        int | None, typer.Option("--api-port", envvar="REGISTRY_API_PORT", help="Port to serve.")
    ] = None,
) -> None:
    """Serve the API alone, in the foreground, for a node whose chain and indexer run elsewhere."""
    from api.config import ApiSettings

    try:
        config = ApiSettings() if api_port is None else ApiSettings(api_port=api_port)
        server, _services = _serve(config)
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"API on {config.api_url}/v1 (docs {config.api_url}/docs)")
    server.run()


def register(root: typer.Typer) -> None:
    """Add `api` as a top-level command of the `registry` CLI."""
    root.command("api")(serve)
