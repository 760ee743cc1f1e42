"""The `registry` command: run a node, deploy contracts, manage keys, generate network configs."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from node.errors import ConfigError, RegistryError
from node.lock import DataDirLock

# NOTE: the modules behind the commands (web3, eth-account, pydantic-settings, and the other
# packages' commands) are imported by the commands that use them, so `registry --help` and
# `registry --version` answer at once.
if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from node.chain import ChainClient
    from node.deploy import Deployment
    from node.devchain import DevChain
    from node.settings import NodeSettings

app = typer.Typer(
    rich_markup_mode=None,  # plain help: no <bool> placeholders on flags
    name="registry",
    help="Permissioned, blockchain-backed registry node for carbon and environmental units.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(
    rich_markup_mode=None,  # plain help: no <bool> placeholders on flags
    help="Operator keys: encrypted keystores and the dev keys.",
    no_args_is_help=True,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"registry {version('registry-node')}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Permissioned, blockchain-backed registry node for carbon and environmental units."""


node_app = typer.Typer(
    rich_markup_mode=None,  # plain help: no <bool> placeholders on flags
    help="Chain engine configuration for production networks.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
app.add_typer(node_app, name="node")

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="REGISTRY_DATA_DIR", help="Node data directory."),
]
ChainPort = Annotated[
    int | None,
    typer.Option("--chain-port", envvar="REGISTRY_CHAIN_PORT", help="Port of the embedded chain."),
]
RpcUrl = Annotated[
    str | None,
    typer.Option(
        "--rpc-url", envvar="REGISTRY_RPC_URL", help="Use this JSON-RPC endpoint, start no chain."
    ),
]
ApiPort = Annotated[
    int | None,
    typer.Option("--api-port", envvar="REGISTRY_API_PORT", help="Port of the HTTP API."),
]
ApiHost = Annotated[
    str | None,
    typer.Option(
        "--api-host", envvar="REGISTRY_API_HOST", help="Interface the API listens on (127.0.0.1)."
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="REGISTRY_DATABASE_URL",
        help="SQL mirror and journal: sqlite:///PATH or postgresql://... (SQLite in the data dir).",
    ),
]

# Dev roles granted on a dev chain, by registry role name.
_DEV_ROLE_GRANTS = {
    "issuer": ["issuer"],
    "label_authority": ["label_authority"],
    "relayer": ["relayer"],
    "third_party_registry": ["third_party_registry"],
}


def _settings(
    data_dir: Path | None, chain_port: int | None, rpc_url: str | None, **more: Any
) -> NodeSettings:
    from node.settings import load_settings

    return load_settings(data_dir=data_dir, chain_port=chain_port, rpc_url=rpc_url, **more)


def _fail(exc: Exception, context: str | None = None) -> typer.Exit:
    """Print one line saying what failed (no traceback) and return the exit to raise."""
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, RegistryError):
        cause = f"{type(exc).__name__}: {cause}"
    err.print(f"[bold red]error:[/] {context + ': ' if context else ''}{cause}", soft_wrap=True)
    return typer.Exit(code=1)


def _deploy_dev(settings: NodeSettings, client: ChainClient) -> tuple[Deployment, bool]:
    from node.deploy import deploy, grant_roles
    from node.keys import dev_accounts

    keys = dev_accounts()
    deployment, fresh = deploy(
        client,
        keys["deployer"],
        keys["registry_admin"].address,
        settings.registry_code,
        settings.deployments_dir,
    )
    grants: dict[str, list[str]] = {
        role: [str(keys[name].address) for name in names]
        for role, names in _DEV_ROLE_GRANTS.items()
    }
    deployment = grant_roles(
        client, keys["registry_admin"], deployment, settings.deployments_dir, grants
    )
    return deployment, fresh


def _print_deployment(deployment: Deployment, fresh: bool, rpc_url: str) -> None:
    from rich.table import Table

    table = Table(title="Registry node", show_header=False)
    table.add_row("chain", f"{rpc_url} (chain id {deployment.chain_id})")
    table.add_row("registry code", deployment.registry_code)
    for name, address in deployment.contracts.items():
        table.add_row(name, address)
    table.add_row("deployed", "now" if fresh else f"earlier, at block {deployment.deploy_block}")
    console.print(table)


ApiWorkers = Annotated[
    int | None,
    typer.Option(
        "--api-workers",
        envvar="REGISTRY_API_WORKERS",
        min=1,
        help="API worker processes (default: the number of cores).",
    ),
]


@app.command()
def up(
    data_dir: DataDir = None,
    chain_port: ChainPort = None,
    rpc_url: RpcUrl = None,
    api_port: ApiPort = None,
    api_host: ApiHost = None,
    database_url: DatabaseUrl = None,
    api_workers: ApiWorkers = None,
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Start only the chain, leave it running and return."),
    ] = False,
) -> None:
    """Start the node: chain, contracts (deployed if needed), then one process per role."""
    try:
        settings = _settings(data_dir, chain_port, rpc_url, database_url=database_url)
        lock = None if detach else DataDirLock(settings.data_dir)
        if lock is not None:
            lock.acquire(api_port=api_port or "default", chain=settings.chain_rpc_url)
    except RegistryError as exc:
        raise _fail(exc) from exc
    options = {"api_port": api_port, "api_host": api_host, "api_workers": api_workers}
    try:
        _up(settings, options, detach, lock)
    finally:
        if lock is not None:
            lock.release()


def _up(
    settings: NodeSettings, options: dict[str, Any], detach: bool, lock: DataDirLock | None
) -> None:
    from node.chain import ChainClient
    from node.devchain import DevChain
    from node.keys import DEV_KEYS_WARNING, write_dev_accounts

    chain: DevChain | None = None
    try:
        if settings.uses_dev_chain:
            with err.status("Starting the embedded chain..."):
                chain = DevChain.from_settings(settings).start()
            accounts_file = settings.dev_accounts_path
            write_dev_accounts(accounts_file)
            err.print(f"[bold yellow]{DEV_KEYS_WARNING}[/]")
            err.print(f"[yellow]Dev keys written to {accounts_file}[/]")
        client = ChainClient(settings.chain_rpc_url)
        if chain is not None:
            with err.status("Compiling and deploying the contracts (first run: a minute)..."):
                deployment, fresh = _deploy_dev(settings, client)
        else:
            from node.deploy import load_manifest

            deployment, fresh = load_manifest(settings.deployments_dir, client.chain_id), False
    except RegistryError as exc:
        _stop_all([], chain)
        raise _fail(exc) from exc
    _print_deployment(deployment, fresh, settings.chain_rpc_url)
    console.print(f"JSON-RPC: {settings.chain_rpc_url}")
    console.print(f"Manifest: {settings.deployments_dir / f'{deployment.chain_id}.json'}")
    if detach:
        if chain is not None:
            console.print("Chain left running; stop it with `registry down`.")
        return
    _supervise(settings, options, chain, lock)


def _supervise(
    settings: NodeSettings,
    options: dict[str, Any],
    chain: DevChain | None,
    lock: DataDirLock | None,
) -> None:
    """Migrate, start one process per role, restart dead ones with backoff, stop all on exit."""
    import subprocess
    import sys

    from node.services import ROLES, Backoff, RoleProcess, role_environment

    env = role_environment(
        settings, api_port=options.get("api_port"), api_host=options.get("api_host")
    )
    with err.status("Migrating the database..."):
        migrated = subprocess.run(
            [sys.executable, "-m", "node", "serve", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
    if migrated.returncode != 0:
        _stop_all([], chain)
        raise _fail(ConfigError(_child_error(migrated.stderr)))
    workers = options.get("api_workers")
    roles = [
        RoleProcess(
            name,
            env,
            ["--api-workers", str(workers)] if name == "api" and workers else None,
            say=lambda text: err.print(f"[bold yellow]{text}[/]"),
        )
        for name in ROLES
    ]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for role in roles:
            role.start()
        api_url = _wait_for_api(env, roles)
    except RegistryError as exc:
        _stop_all(roles, chain)
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        _stop_all(roles, chain)
        raise typer.Exit(code=130) from None
    for role in roles:
        console.print(f"{role.name}: pid {role.pid}")
    console.print(f"api: {api_url}/v1")
    console.print(f"docs: {api_url}/docs")
    if lock is not None:
        lock.update(api=f"{api_url}/v1", roles={r.name: r.pid for r in roles})
    console.print("Node running. Press Ctrl-C to stop (chain state and the mirror are kept).")
    restarts = Backoff()
    recorded = {r.name: r.pid for r in roles}
    try:
        while not stop.wait(0.5):
            if chain is not None and not chain.is_healthy() and restarts.due():
                # NOTE: the chain restarts from its last state dump. Blocks mined since are lost:
                # the indexer rewinds to the common ancestor and the journal sends again every
                # request whose effects vanished (their nonces keep a resend harmless).
                err.print(
                    "[bold yellow]The chain stopped unexpectedly; restarting it from its saved "
                    f"state (attempt {restarts.attempts + 1}); see[/] {chain.log_path}"
                )
                try:
                    chain.start()
                except RegistryError as exc:
                    restarts.failed()
                    err.print(f"[bold red]The chain could not restart:[/] {exc}")
                    continue
                restarts.succeeded()
                console.print(f"Chain restarted: {settings.chain_rpc_url}")
            for role in roles:
                role.watch()
            pids = {r.name: r.pid for r in roles}
            if lock is not None and pids != recorded:
                lock.update(roles=pids)
                recorded = pids
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all(roles, chain)
        console.print("Stopped.")


def _child_error(stderr: str) -> str:
    """Return a failed role's one-line error (its last `error:` line), without the prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    return lines[-1] if lines else "the database could not be migrated"


def _wait_for_api(env: dict[str, str], roles: list[Any], timeout: float = 120.0) -> str:
    """Wait until the API accepts connections; fail if a role exits while starting."""
    import socket

    host = env.get("REGISTRY_API_HOST", "127.0.0.1")
    port = int(env.get("REGISTRY_API_PORT", "8000"))
    deadline = time.monotonic() + timeout
    while True:
        for role in roles:
            code = role.exit_code()
            if code is not None:
                raise ConfigError(
                    f"the {role.name} role could not start (exit code {code}); see its error above"
                )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return f"http://{host}:{port}"
        if time.monotonic() > deadline:
            raise ConfigError(f"the API did not start on {host}:{port} within {timeout:.0f}s")
        time.sleep(0.1)


def _stop_all(roles: list[Any], chain: DevChain | None) -> None:
    from node.services import stop_roles

    stop_roles(roles)
    # NOTE: only a chain this process started; one it reused belongs to whoever started it.
    if chain is not None and chain.started:
        chain.stop()


@app.command("serve")
def serve_command(
    role: Annotated[
        str, typer.Argument(help="api, indexer, relayer or webhooks (or migrate, one-shot).")
    ],
    data_dir: DataDir = None,
    chain_port: ChainPort = None,
    rpc_url: RpcUrl = None,
    api_port: ApiPort = None,
    api_host: ApiHost = None,
    database_url: DatabaseUrl = None,
    api_workers: ApiWorkers = None,
) -> None:
    """Run one role of the node in the foreground, against a shared database and chain RPC."""
    import logging

    from node.services import role_runner

    logging.basicConfig(level=logging.WARNING, format=f"[{role}] %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    options = {"api_port": api_port, "api_host": api_host, "workers": api_workers}
    try:
        settings = _settings(data_dir, chain_port, rpc_url, database_url=database_url)
        runner = role_runner(role)
        runner(settings, options, stop)
    except RegistryError as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        pass


@app.command()
def down(data_dir: DataDir = None, chain_port: ChainPort = None) -> None:
    """Stop the embedded chain of a data directory (its state is kept)."""
    from node.devchain import DevChain

    try:
        settings = _settings(data_dir, chain_port, None)
        chain = DevChain.from_settings(settings)
        pid = chain.pid
        chain.stop()
    except RegistryError as exc:
        raise _fail(exc) from exc
    if pid is None:
        console.print(f"No chain was running for {settings.data_dir}.")
    else:
        console.print(
            f"Stopped the chain of {settings.data_dir} (anvil, pid {pid}); its state is kept."
        )


@app.command("deploy")
def deploy_command(
    data_dir: DataDir = None,
    chain_port: ChainPort = None,
    rpc_url: RpcUrl = None,
    deployer: Annotated[
        str | None,
        typer.Option(help="Keystore name of the deploying key (external chains)."),
    ] = None,
    admin: Annotated[
        str | None,
        typer.Option(help="Address that becomes registry administrator (external chains)."),
    ] = None,
) -> None:
    """Deploy the contracts unless a live deployment is recorded for the chain."""
    from node.chain import ChainClient
    from node.deploy import deploy
    from node.devchain import DevChain

    try:
        settings = _settings(data_dir, chain_port, rpc_url)
        client = ChainClient(settings.chain_rpc_url)
        if settings.uses_dev_chain:
            DevChain.from_settings(settings).start()
            with err.status("Compiling and deploying the contracts (first run: a minute)..."):
                deployment, fresh = _deploy_dev(settings, client)
        else:
            if deployer is None or admin is None:
                raise ConfigError(
                    "An external chain needs --deployer (a keystore name, see `registry keys`) "
                    "and --admin (the registry administrator's address)."
                )
            account = _unlock(settings, deployer)
            deployment, fresh = deploy(
                client, account, admin, settings.registry_code, settings.deployments_dir
            )
    except RegistryError as exc:
        raise _fail(exc) from exc
    _print_deployment(deployment, fresh, settings.chain_rpc_url)


def _unlock(settings: NodeSettings, name: str) -> LocalAccount:
    from node.keys import Keystore

    password = os.environ.get("REGISTRY_KEYSTORE_PASSWORD") or typer.prompt(
        f"Password for keystore {name!r}", hide_input=True
    )
    return Keystore(settings.keystore_dir).load(name, password)


@keys_app.command("create")
def keys_create(name: str, data_dir: DataDir = None) -> None:
    """Create an encrypted operator key (password from REGISTRY_KEYSTORE_PASSWORD or a prompt)."""
    from node.keys import Keystore

    try:
        settings = _settings(data_dir, None, None)
        password = os.environ.get("REGISTRY_KEYSTORE_PASSWORD") or typer.prompt(
            "New keystore password", hide_input=True, confirmation_prompt=True
        )
        address = Keystore(settings.keystore_dir).create(name, password)
    except RegistryError as exc:
        raise _fail(exc) from exc
    console.print(f"{name}: {address}")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List the operator keystores of a data directory."""
    from node.keys import Keystore

    try:
        settings = _settings(data_dir, None, None)
        entries = Keystore(settings.keystore_dir).list()
    except RegistryError as exc:
        raise _fail(exc) from exc
    for name, address in entries:
        console.print(f"{name}\t{address}")


@keys_app.command("dev")
def keys_dev(data_dir: DataDir = None) -> None:
    """Write the well-known dev keys file (dev-accounts.json) and print the addresses."""
    from node.keys import DEV_KEYS_WARNING, write_dev_accounts

    try:
        settings = _settings(data_dir, None, None)
        data = write_dev_accounts(settings.dev_accounts_path)
    except RegistryError as exc:
        raise _fail(exc) from exc
    err.print(f"[bold yellow]{DEV_KEYS_WARNING}[/]")
    for role, entry in data.items():
        console.print(f"{role}\t{entry['address']}")


@node_app.command("qbft-config")
def qbft_config(
    out: Annotated[Path, typer.Option(help="Directory to write the network into.")],
    validators: Annotated[int, typer.Option(min=1, help="Number of validators.")] = 4,
    chain_id: Annotated[int, typer.Option(help="Chain id of the network.")] = 1337,
    host: Annotated[str, typer.Option(help="Host the validators' enode URLs name.")] = "127.0.0.1",
    account: Annotated[
        list[str] | None, typer.Option(help="Address to allow (operator, relayer); repeatable.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing network.")] = False,
) -> None:
    """Generate a Besu QBFT network: genesis, validator keys and permission allowlists."""
    from node.qbft import write_network

    try:
        summary = write_network(
            out, validators, chain_id, host=host, accounts=account or (), overwrite=overwrite
        )
    except RegistryError as exc:
        raise _fail(exc) from exc
    console.print(f"QBFT network for chain {chain_id} with {validators} validators in {out}")
    for entry in summary.get("validators", []):
        console.print(f"  {entry.get('address', '')}")


def _load_plugins() -> None:
    """Mount the sub-commands other packages contribute (entry point group `registry.commands`)."""
    from node.interop_cli import register as register_interop

    register_interop(app)
    for entry in entry_points(group="registry.commands"):
        entry.load()(app)


def main() -> None:
    """Run the CLI with every installed package's sub-commands."""
    _load_plugins()
    app()
