"""`registry demo`: drive a running node through a multi-actor story over its HTTP API.

The regulator opens accounts and issues; a seller's AR initiates a transfer and a second AR
approves it; the buyer cancels part of it; anyone looks the cancelled serial up in the public
register. Then a trading platform sells through escrow (CER model B.5): the regulator registers
it, the seller consents and escrows units, the platform reads them and settles them to the buyer.
Every step prints who acted and the transaction that recorded it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

from sdk.models import RegistryError

# NOTE: eth-account and the client load when the demo runs, not when `registry --help` lists it.
if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from sdk.client import RegistryClient
    from sdk.models import Request

__all__ = ["register", "run_demo"]


def _keys(path: Path) -> dict[str, LocalAccount]:
    from eth_account import Account

    entries = json.loads(path.read_text())
    return {role: Account.from_key(entry["private_key"]) for role, entry in entries.items()}


def _step(number: int, actor: str, action: str, request: Request) -> dict[str, Any]:
    if not request.indexed or request.result is None:
        raise RegistryError(409, request.error or {"detail": f"request {request}"})
    typer.echo(f"{number:>2}. {actor:<22} {action}")
    typer.echo(f"    tx {request.tx_hash} (block {request.block_number})")
    return request.result


def run_demo(api_url: str, keys: dict[str, LocalAccount]) -> None:
    """Run the story against an API whose dev roles are `keys`."""
    from sdk.client import RegistryClient

    def client(role: str) -> RegistryClient:
        return RegistryClient(api_url, keys[role])

    regulator, issuer = client("registry_admin"), client("issuer")
    seller_ar1, seller_ar2, buyer_ar = client("ar_1"), client("ar_2"), client("ar_3")
    run = int(time.time())
    seller = _step(
        1,
        "regulator",
        "opens the seller's account (two-person approval)",
        regulator.admin.open_account(
            holder_name="Savanna Carbon Pty Ltd",
            party="AU",
            representatives=[
                {"address": seller_ar1.address, "primary": True},
                {"address": seller_ar2.address},
            ],
        ),
    )["account_id"]
    buyer = _step(
        2,
        "regulator",
        "opens the buyer's account (single approval)",
        regulator.admin.open_account(
            holder_name="Harbour Airlines Ltd",
            party="AU",
            approval_policy="single",
            representatives=[{"address": buyer_ar.address, "primary": True}],
        ),
    )["account_id"]
    project = _step(
        3,
        "regulator (issuer)",
        "registers a savanna burning project",
        issuer.admin.register_project(
            project_id=f"ERF-DEMO-{run}",
            name="Arnhem Land savanna burning",
            methodology="Savanna fire management 2018",
            country="AU",
        ),
    )["project_id"]
    issued = _step(
        4,
        "regulator (issuer)",
        f"issues 10,000 ACCUs of vintage 2024 to {seller}",
        issuer.admin.issue(
            project_id=project,
            unit_type="ACCU",
            vintage=2024,
            monitoring_period_start="2024-01-01",
            monitoring_period_end="2024-12-31",
            quantity=10_000,
            to_account=seller,
        ),
    )
    first = issued["ranges"][0]
    typer.echo(f"    serials {first['start']}-{first['end']}")
    transfer = _step(
        5,
        "seller AR 1",
        f"initiates a transfer of 2,500 units to {buyer}",
        seller_ar1.transfers.initiate(from_account=seller, to_account=buyer, quantity=2_500),
    )
    typer.echo(f"    transfer {transfer['transfer_id']} is {transfer['status']}")
    _step(
        6,
        "seller AR 2",
        f"approves transfer {transfer['transfer_id']}",
        seller_ar2.transfers.approve(transfer["transfer_id"]),
    )
    cancelled = _step(
        7,
        "buyer AR",
        "cancels 1,000 units for its 2025 flights",
        buyer_ar.cancellations.create(
            account_id=buyer,
            quantity=1_000,
            purpose="voluntary",
            beneficiary="Harbour Airlines Ltd",
            reason="Offsetting 2025 domestic flights",
        ),
    )
    serial = cancelled["ranges"][0]["start"]
    unit = RegistryClient(api_url, keys["registry_admin"]).get(f"/v1/registers/units/{serial}")
    typer.echo(f" 8. {'anyone':<22} looks up serial {serial} in the public register:")
    typer.echo("    " + json.dumps(unit, sort_keys=True))
    _escrow_story(api_url, regulator, seller_ar1, seller, buyer)


def _escrow_story(
    api_url: str, regulator: RegistryClient, seller_ar: RegistryClient, seller: str, buyer: str
) -> None:
    """Sell through a platform's escrow (B.5); a fresh platform per run, so the demo reruns."""
    from eth_account import Account

    from sdk.client import RegistryClient

    platform_key: LocalAccount = Account.create()
    platform = RegistryClient(api_url, platform_key)
    custody = _step(
        9,
        "regulator",
        "opens the platform's custodial account",
        regulator.admin.open_account(
            holder_name="Harbour Exchange custody",
            kind="custodial",
            approval_policy="single",
            representatives=[{"address": platform.address, "primary": True}],
        ),
    )["account_id"]
    registered = _step(
        10,
        "regulator",
        f"registers the Harbour Exchange platform (signer {platform.address})",
        regulator.admin.register_platform(
            address=platform.address,
            name="Harbour Exchange",
            custodial_account=custody,
            signers=[platform.address],
        ),
    )["platform"]
    _step(
        11,
        "seller AR 1",
        "consents that the platform sees the units it escrows to it",
        seller_ar.consents.grant(account_id=seller, platform=registered, scope="escrowed"),
    )
    escrow = _step(
        12,
        "seller AR 1",
        "escrows 1,000 units under the platform's control",
        seller_ar.escrows.create(account_id=seller, platform=registered, quantity=1_000),
    )
    platform.login()
    seen = list(platform.paginate(f"/v1/accounts/{seller}/holdings"))
    total = sum(item["quantity"] for item in seen)
    typer.echo(
        f"13. {'platform':<22} reads {seller}: {total:,} units, all "
        f"{'/'.join(sorted({item['state'] for item in seen}))} (its consent shows nothing else)"
    )
    _step(
        14,
        "platform",
        f"settles escrow {escrow['escrow_id']} to the buyer {buyer}",
        platform.escrows.settle(escrow["escrow_id"], to_account=buyer),
    )


def demo(
    api_url: Annotated[
        str, typer.Option(envvar="REGISTRY_API_URL", help="Base URL of a running node's API.")
    ] = "http://127.0.0.1:8000",
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", envvar="REGISTRY_DATA_DIR", help="Where dev-accounts.json is."),
    ] = Path(".registry-data"),
) -> None:
    """Drive a running dev node through a readable multi-actor story (needs `registry up`)."""
    accounts = data_dir / "dev-accounts.json"
    if not accounts.exists():
        typer.echo(
            f"error: {accounts} not found; start the node with `registry up` first.", err=True
        )
        raise typer.Exit(1)
    try:
        run_demo(api_url, _keys(accounts))
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except httpx.TransportError as exc:
        typer.echo(
            f"error: cannot reach the API at {api_url} ({exc}); start the node with "
            "`registry up`, or pass --api-url of the running node.",
            err=True,
        )
        raise typer.Exit(1) from exc


def register(root: typer.Typer) -> None:
    """Add `demo` as a top-level command of the `registry` CLI."""
    root.command("demo")(demo)
