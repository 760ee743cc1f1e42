"""`registry interop verify` and `registry reconcile`: the inter-registry commands.

`verify` works offline: it needs only the JSON records a registry's
`GET /v1/interop/transfers/{id}` returned (from one side or both), and checks every signature
and digest in them with nothing but the EIP-712 rules and the two registries' identities.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]

interop_app = typer.Typer(
    rich_markup_mode=None,
    help="Inter-registry transfers: verify their signed messages offline.",
    no_args_is_help=True,
)


def _domain(record: dict[str, Any]) -> Any:
    from node.interop import PeerDomain

    return PeerDomain(
        record["registry_code"],
        record["operator_address"],
        int(record["chain_id"]),
        record["registry_address"],
    )


def _sides(
    record: dict[str, Any],
) -> list[tuple[Any, Any, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(source identity, destination identity, signed messages, chain events) of each transfer."""
    out = []
    me = record["registry"]
    if record.get("outbound"):
        o = record["outbound"]
        out.append((_domain(me), _domain(o["peer"]), o["signed"], o["messages"]))
    for i in record.get("inbound") or []:
        out.append((_domain(i["peer"]), _domain(me), i["signed"], i["messages"]))
    return out


def verify_records(records: list[dict[str, Any]]) -> tuple[list[str], bool]:
    """Check the records' messages; return printable lines and whether everything verified."""
    from node.interop import verify_exchange

    lines: list[str] = []
    ok_all = True
    for record in records:
        for source, dest, signed, events in _sides(record):
            side = record["registry"]["registry_code"]
            lines.append(
                f"[{side}'s record] {source.registry_code} -> {dest.registry_code}: source "
                f"operator {source.operator_address} (chain {source.chain_id}, registry "
                f"{source.registry_address}); destination operator {dest.operator_address} "
                f"(chain {dest.chain_id}, registry {dest.registry_address})"
            )
            answers = [m for m in signed if m["kind"] == "Answer" and m["status"] == "indexed"]
            if not answers:
                lines.append("  FAIL no answer recorded on this chain yet")
                ok_all = False
                continue
            answer = answers[-1]
            checked = verify_exchange(answer["typed_data"], answer["signature"], source, dest)
            by_kind = {c.kind: c for c in checked}
            for c in checked:
                ok_all &= c.ok
                lines.append(
                    f"  {'OK  ' if c.ok else 'FAIL'} {c.kind} digest {c.digest} signed by "
                    f"{c.signer} (expected {c.expected_signer})"
                )
            message = answer["typed_data"]["message"]
            proposal_sig = message["proposalSignature"].lower()
            for event in events:
                if event["event"] in ("ProposalSent", "ProposalReceived"):
                    good = (
                        event["digest"].lower() == by_kind["Proposal"].digest
                        and event["signature"].lower() == proposal_sig
                    )
                elif event["event"] == "AnswerRecorded":
                    good = (
                        event["digest"].lower() == by_kind["Answer"].digest
                        and event["signature"].lower() == answer["signature"].lower()
                        and bool(event["accepted"]) == bool(message["accepted"])
                    )
                else:
                    continue
                ok_all &= good
                lines.append(
                    f"  {'OK  ' if good else 'FAIL'} {event['event']} in tx {event['tx_hash']} "
                    f"(block {event['block_number']}) holds the same digest and signature"
                )
            outcome = "accepted" if message["accepted"] else f"refused (reason {message['reason']})"
            lines.append(f"  outcome: {outcome}")
    return lines, ok_all


@interop_app.command("verify")
def verify(
    files: Annotated[
        list[Path],
        typer.Argument(help="JSON of GET /v1/interop/transfers/{id}, from either or both sides."),
    ],
) -> None:
    """Verify a transfer's signed messages offline; exit 1 if any check fails."""
    records = []
    for path in files:
        try:
            records.append(json.loads(path.read_text()))
        except OSError as exc:
            typer.echo(f"error: cannot read {path}: {exc.strerror}.", err=True)
            raise typer.Exit(2) from exc
        except ValueError as exc:
            typer.echo(
                f"error: {path} is not JSON ({exc}); save the body of "
                "GET /v1/interop/transfers/{id} from either side.",
                err=True,
            )
            raise typer.Exit(2) from exc
    lines, ok = verify_records(records)
    for line in lines:
        typer.echo(line)
    typer.echo("all signatures verified" if ok else "VERIFICATION FAILED")
    raise typer.Exit(0 if ok else 1)


def reconcile(
    peer: Annotated[str, typer.Option(help="The peer registry's code, e.g. NZ.")],
    api_url: Annotated[
        str, typer.Option(envvar="REGISTRY_API_URL", help="This registry's API.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Compare this registry's transfers with a peer's, both directions; exit 1 on a difference."""
    import httpx

    try:
        response = httpx.get(
            api_url.rstrip("/") + "/v1/interop/reconciliation", params={"peer": peer}, timeout=60
        )
    except httpx.HTTPError as exc:
        typer.echo(
            f"error: cannot reach this registry's API at {api_url} ({exc}); start the node, or "
            "pass --api-url (REGISTRY_API_URL).",
            err=True,
        )
        raise typer.Exit(2) from exc
    if response.status_code != 200:
        try:
            problem = response.json()
            reason = f"{problem['code']}: {problem['detail']}"
        except (ValueError, KeyError, TypeError):
            reason = response.text[:200]
        typer.echo(f"error: the reconciliation answered {response.status_code} {reason}", err=True)
        raise typer.Exit(2)
    body = response.json()
    for direction, totals in body["totals"].items():
        typer.echo(
            f"{direction}: source {totals['source']} units, destination {totals['destination']}"
        )
    for name, ids in body["in_transit"].items():
        if ids:
            typer.echo(f"in transit at {name}: {ids}")
    for d in body["differences"]:
        typer.echo(
            f"DIFFERENCE {d['direction']} transfer {d['transfer_id']} [{d['start']}, {d['end']}] "
            f"only at the {d['only_at']}"
        )
    typer.echo(f"{len(body['differences'])} differences")
    raise typer.Exit(1 if body["differences"] else 0)


def register(root: typer.Typer) -> None:
    """Add `interop` and `reconcile` to the `registry` CLI."""
    root.add_typer(interop_app, name="interop")
    root.command("reconcile")(reconcile)
