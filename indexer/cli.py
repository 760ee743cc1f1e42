"""`registry sync` and `registry audit`: a typer sub-app the node's console script mounts.

`node` must never import `indexer`, so this module is wired into the `registry` command from
outside the node package (see `register`).
"""

from __future__ import annotations

import enum
import json
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from node.errors import RegistryError

# NOTE: SQLAlchemy, web3 and the indexer are imported by the commands that use them, so that
# `registry --help` stays instant (this module is loaded to list its commands).
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from node.chain import ChainClient
    from node.deploy import Deployment
    from node.settings import NodeSettings

__all__ = [
    "aef_audit_command",
    "app",
    "audit_command",
    "export_cadt_command",
    "register",
    "sync_command",
]

app = typer.Typer(
    rich_markup_mode=None,  # plain help: no <bool> placeholders on flags
    help="The SQL mirror: sync it from the chain, audit it against the chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
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
    typer.Option("--rpc-url", envvar="REGISTRY_RPC_URL", help="JSON-RPC endpoint of the chain."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="REGISTRY_DATABASE_URL",
        help="SQLAlchemy URL of the mirror; SQLite in the data dir when unset.",
    ),
]


def _settings(**values: Any) -> NodeSettings:
    from node.settings import load_settings

    return load_settings(**values)


def sync_command(settings: NodeSettings, *, once: bool = False, poll_interval: float = 1.0) -> int:
    """Bring the mirror up to date (once, or following the chain until SIGTERM / Ctrl-C)."""
    from sqlalchemy.exc import SQLAlchemyError

    from indexer.db import create_engine, database_url, upgrade_database
    from indexer.sync import Indexer

    try:
        engine = create_engine(database_url(settings))
        upgrade_database(engine)
        indexer = Indexer.from_settings(settings, engine, console=err)
        if once:
            result = indexer.sync_once()
            console.print(
                f"Indexed blocks {result.start_block + 1}-{result.end_block}: "
                f"{result.events} events; lag {result.lag} blocks."
            )
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print(f"Indexing {indexer.deployment.registry}; Ctrl-C to stop.")
        try:
            indexer.run_forever(poll_interval, stop)
        except KeyboardInterrupt:
            stop.set()
        return 0
    except (RegistryError, SQLAlchemyError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        return 1


_T = TypeVar("_T")


def _against_chain(
    settings: NodeSettings,
    run: Callable[[Engine, ChainClient, Deployment, list[dict[str, Any]]], _T],
) -> _T | None:
    """Run `run` on the mirror and the chain; print why it could not run and return None."""
    from sqlalchemy.exc import SQLAlchemyError

    from indexer.db import create_engine, database_url
    from node.chain import ChainClient
    from node.deploy import load_abi, load_manifest

    try:
        engine = create_engine(database_url(settings))
        client = ChainClient(settings.chain_rpc_url)
        deployment = load_manifest(settings.deployments_dir, client.chain_id)
        return run(engine, client, deployment, load_abi(settings.deployments_dir))
    except SQLAlchemyError as exc:
        err.print(
            f"[bold red]error:[/] cannot read the mirror ({exc.__class__.__name__}: {exc}); "
            "create it with `registry sync`."
        )
    except RegistryError as exc:
        err.print(f"[bold red]error:[/] {exc}")
    return None


def audit_command(
    settings: NodeSettings, *, spot_checks: int | None = None, seed: int | None = None
) -> int:
    """Audit the mirror against the chain; return 0 when they agree and 1 otherwise."""
    from indexer.audit import audit, print_report

    report = _against_chain(settings, partial(audit, spot_checks=spot_checks, seed=seed))
    if report is None:
        return 1
    print_report(report, console)
    return 0 if report.ok else 1


def aef_audit_command(
    settings: NodeSettings, party: str, year: int, out: Path | None = None
) -> int:
    """Build a Party's AEF from the chain alone and compare the mirror's; 0 when they agree."""
    from indexer.aef import aef_document
    from indexer.audit import audit_aef, print_aef_audit

    result = _against_chain(settings, partial(audit_aef, party=party, year=year))
    if result is None:
        return 1
    if out is not None:
        document = aef_document(result.chain, result.block_number)
        out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote the chain's AEF to {out}.")
    print_aef_audit(result, console)
    return 0 if result.ok else 1


@app.command("sync")
def sync(
    data_dir: DataDir = None,
    chain_port: ChainPort = None,
    rpc_url: RpcUrl = None,
    database: DatabaseUrl = None,
    once: Annotated[bool, typer.Option("--once", help="Catch up once, then exit.")] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between polls for new blocks.")
    ] = 1.0,
    finality_depth: Annotated[
        int | None,
        typer.Option(
            envvar="REGISTRY_FINALITY_DEPTH", min=0, help="Blocks behind the head to stay."
        ),
    ] = None,
) -> None:
    """Index the registry's events into the SQL mirror."""
    try:
        settings = _settings(
            data_dir=data_dir,
            chain_port=chain_port,
            rpc_url=rpc_url,
            database_url=database,
            finality_depth=finality_depth,
        )
    except RegistryError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    raise typer.Exit(sync_command(settings, once=once, poll_interval=poll_interval))


@app.command("audit")
def audit_cli(
    data_dir: DataDir = None,
    chain_port: ChainPort = None,
    rpc_url: RpcUrl = None,
    database: DatabaseUrl = None,
    spot_checks: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Check only this many blocks and accounts, chosen at random, with contract view "
            "calls (default: every one).",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for choosing the spot checks.")] = None,
    aef: Annotated[
        tuple[str, int] | None,
        typer.Option(
            metavar="PARTY YEAR",
            help="Instead: build this Party's AEF for this year from the chain alone and "
            "compare it with the mirror's (the API's).",
        ),
    ] = None,
    aef_out: Annotated[
        Path | None,
        typer.Option(help="With --aef: also write the chain's AEF to this file as JSON."),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Instead: audit the registry at this address with nothing from its operator "
            "(needs --rpc-url): a mirror of its own, built from the chain in a temporary "
            "database.",
        ),
    ] = None,
    from_block: Annotated[
        int | None,
        typer.Option(min=0, help="With --registry: its deployment block (found if omitted)."),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="With --registry: also compare the operator's public registers at this API.",
        ),
    ] = None,
) -> None:
    """Recompute holdings and register totals from the chain alone and compare with the mirror."""
    from indexer.independent import independent_audit

    if registry is not None:
        if rpc_url is None:
            err.print("[bold red]error:[/] --registry needs --rpc-url (the chain to read).")
            raise typer.Exit(2)
        raise typer.Exit(
            independent_audit(
                rpc_url,
                registry,
                from_block=from_block,
                api_url=api,
                spot_checks=spot_checks,
                seed=seed,
                console=console,
            )
        )
    if from_block is not None or api is not None:
        err.print("[bold red]error:[/] --from-block and --api go with --registry.")
        raise typer.Exit(2)
    try:
        settings = _settings(
            data_dir=data_dir, chain_port=chain_port, rpc_url=rpc_url, database_url=database
        )
    except RegistryError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    if aef is not None:
        party, year = aef
        raise typer.Exit(aef_audit_command(settings, party, year, aef_out))
    raise typer.Exit(audit_command(settings, spot_checks=spot_checks, seed=seed))


class SheetFormat(enum.StrEnum):
    """The forms of an export."""

    JSON = "json"
    XLSX = "xlsx"


export_app = typer.Typer(
    rich_markup_mode=None,  # plain help: no <bool> placeholders on flags
    help="Export the public registers in other data models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def export_cadt_command(
    settings: NodeSettings, out: Path | None, output: str, base_url: str
) -> int:
    """Write the mirror's registers as a CADT document (JSON or XLSX); 0 on success."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from indexer.cadt import CadtSource, cadt_document, cadt_xlsx
    from indexer.db import create_engine, database_url
    from indexer.models import Checkpoint, table_of

    if output == "xlsx" and out is None:
        err.print("[bold red]error:[/] --format xlsx needs --out FILE.")
        return 2
    try:
        engine = create_engine(database_url(settings))
        with engine.connect() as conn:
            checkpoint = conn.execute(select(table_of(Checkpoint))).first()
            if checkpoint is None:
                err.print("[bold red]error:[/] the mirror is empty; run `registry sync` first.")
                return 1
            source = CadtSource(
                registry_code=settings.registry_code,
                chain_id=int(checkpoint.chain_id),
                contract=str(checkpoint.registry_address),
                base_url=base_url,
            )
            document = cadt_document(conn, source, int(checkpoint.block_number))
        engine.dispose()
    except SQLAlchemyError as exc:
        err.print(f"[bold red]error:[/] cannot read the mirror ({exc.__class__.__name__}: {exc}).")
        return 1
    if output == "xlsx":
        assert out is not None
        out.write_bytes(cadt_xlsx(document))
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if out is None:
            sys.stdout.write(text)
            return 0
        out.write_text(text, encoding="utf-8")
    counts = ", ".join(
        f"{len(document[t])} {t}" for t in ("projects", "issuances", "units", "labels")
    )
    err.print(f"Wrote {counts} as of block {document['as_of_block']} to {out}.")
    return 0


@export_app.command("cadt")
def export_cadt(
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write; standard output if omitted.")
    ] = None,
    output: Annotated[SheetFormat, typer.Option("--format", help="json or xlsx.")] = (
        SheetFormat.JSON
    ),
    base_url: Annotated[
        str,
        typer.Option(help="Where the node's explorer is served, for the records' links."),
    ] = "http://127.0.0.1:8000",
) -> None:
    """Projects, issuances, units and labels under the Climate Action Data Trust data model."""
    try:
        settings = _settings(data_dir=data_dir, database_url=database)
    except RegistryError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    raise typer.Exit(export_cadt_command(settings, out, output.value, base_url))


def register(root: typer.Typer) -> None:
    """Add `sync`, `audit` and `export` as top-level commands of another typer app (`registry`)."""
    root.command("sync")(sync)
    root.command("audit")(audit_cli)
    root.add_typer(export_app, name="export")
