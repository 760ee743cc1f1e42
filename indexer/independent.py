"""The auditor's own path: audit a registry from its chain address alone, then check the operator.

`registry audit --rpc-url URL --registry ADDRESS` needs nothing from the operator: the registry's
ABI ships in this package (`registry_abi.json`, decision D36), the deployment is found from the
address (code must be there and answer as a UnitRegistry; the deployment block is found by a
binary search on `eth_getCode`, or given with `--from-block`), and a mirror of its own is built
in a temporary SQLite database by the ordinary indexer, then audited against the chain with the
existing audit (replay of eth_getLogs and view spot checks).

With `--api URL` the auditor also reads the operator's public registers and compares them with
what it computed itself: projects, issuances, cancellations, label definitions, each project's
totals, and a sample of units by serial. The comparison reads the auditor's mirror with its own
SQL (no code shared with the API) and asks the API for the same block (`min_block`).
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from eth_utils.crypto import keccak
from rich.console import Console
from sqlalchemy import Connection, Engine, select
from web3 import Web3

from indexer.audit import AuditReport, Difference, audit, print_report
from indexer.db import create_engine, upgrade_database
from indexer.models import (
    BlockHash,
    Cancellation,
    Checkpoint,
    Issuance,
    Label,
    Project,
    UnitBlock,
    table_of,
)
from indexer.sync import Indexer
from node.chain import ChainClient
from node.contracts import bytes32_text
from node.deploy import Deployment
from node.errors import RegistryError

__all__ = [
    "PACKAGED_ABI",
    "ApiComparison",
    "compare_with_api",
    "find_deployment",
    "independent_audit",
    "packaged_abi",
]

PACKAGED_ABI = Path(__file__).resolve().parent / "registry_abi.json"
_PAGE = 1000
_UNIT_SAMPLE = 64


class AuditorError(RegistryError):
    """The auditor cannot start: no registry at the address, or the API cannot be read."""


def packaged_abi() -> list[dict[str, Any]]:
    """Return the UnitRegistry ABI (core and modules) shipped with the package."""
    abi: list[dict[str, Any]] = json.loads(PACKAGED_ABI.read_text(encoding="utf-8"))
    return abi


def _has_code(client: ChainClient, address: str, block: int) -> bool:
    code = client.request("eth_getCode", [address, hex(block)])
    return isinstance(code, str) and len(code) > 2


def find_deployment(
    client: ChainClient,
    address: str,
    abi: list[dict[str, Any]],
    from_block: int | None = None,
) -> Deployment:
    """Describe the registry at an address from the chain alone.

    The address must hold code that answers `eip712Domain()` as "UnitRegistry". Without
    `from_block`, the deployment block is the first block with code at the address, found by a
    binary search over historical `eth_getCode` (a node without historical state cannot answer;
    pass `--from-block` then, or 0).
    """
    if not Web3.is_address(address):
        raise AuditorError(f"{address!r} is not an address.")
    checksum = Web3.to_checksum_address(address)
    code = client.code_at(checksum)
    if not code:
        raise AuditorError(f"There is no contract at {checksum} on chain {client.chain_id}.")
    contract = client.w3.eth.contract(address=checksum, abi=abi)
    try:
        domain = contract.functions.eip712Domain().call()
        registry_code = bytes32_text(bytes(contract.functions.registryCode().call()))
    except Exception as exc:  # any revert or decoding failure: not a registry
        raise AuditorError(
            f"The contract at {checksum} does not answer as a registry: {exc}"
        ) from exc
    if domain[1] != "UnitRegistry":
        raise AuditorError(f"The contract at {checksum} signs for {domain[1]!r}, not UnitRegistry.")
    head = client.block_number()
    if from_block is None:
        low, high = 0, head  # invariant: code at `high`
        try:
            while low < high:
                middle = (low + high) // 2
                if _has_code(client, checksum, middle):
                    high = middle
                else:
                    low = middle + 1
        except RegistryError as exc:
            raise AuditorError(
                f"The node cannot answer eth_getCode at past blocks ({exc}); pass --from-block "
                "(the deployment block, or 0 to read every block)."
            ) from exc
        from_block = high
    elif not 0 <= from_block <= head:
        raise AuditorError(f"--from-block {from_block} is not between 0 and the head {head}.")
    return Deployment(
        chain_id=client.chain_id,
        registry_code=registry_code,
        contracts={"UnitRegistry": checksum},
        deploy_block=from_block,
        code_hashes={"UnitRegistry": Web3.to_hex(keccak(code))},
        artifacts_fingerprint="packaged-abi",
        admin="",
    )


# -- the auditor's registers, read from its own mirror --------------------------------------


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _iso(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _merge(ranges: list[tuple[int, int]]) -> list[dict[str, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(end, merged[-1][1])
        else:
            merged.append([start, end])
    return [{"start": s, "end": e} for s, e in merged]


@dataclass
class Registers:
    """The public registers as the auditor computes them from its own mirror."""

    block: int
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    issuances: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancellations: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocks: list[Any] = field(default_factory=list)


def _read_registers(conn: Connection) -> Registers:
    b, h = table_of(UnitBlock).c, table_of(BlockHash).c
    block = int(conn.execute(select(table_of(Checkpoint).c.block_number)).scalar_one())
    out = Registers(block)
    times = {int(r.number): int(r.timestamp) for r in conn.execute(select(h.number, h.timestamp))}
    for r in conn.execute(select(table_of(Project))):
        out.projects[r.id] = {
            "name": r.name,
            "methodology": r.methodology,
            "country": r.country,
            "registered_block": r.registered_block,
            "tx_hash": r.tx_hash,
        }
    issuance_of: dict[int, Any] = {}
    for r in conn.execute(select(table_of(Issuance))):
        issuance_of[int(r.id)] = r
        out.issuances[str(r.id)] = {
            "project_id": r.project_id,
            "unit_type": r.unit_type,
            "vintage": r.vintage,
            "monitoring_period_start": _date(r.monitoring_start),
            "monitoring_period_end": _date(r.monitoring_end),
            "origin_registry": r.origin_registry,
            "start": r.start,
            "end": r.end,
            "quantity": r.quantity,
            "block_number": r.block_number,
            "tx_hash": r.tx_hash,
            "timestamp": _iso(times.get(int(r.block_number))),
        }
    for r in conn.execute(select(table_of(Label))):
        out.labels[str(r.id)] = {
            "name": r.name,
            "authority": r.authority,
            "defined_block": r.defined_block,
            "tx_hash": r.tx_hash,
        }
    cancellations = {int(r.id): r for r in conn.execute(select(table_of(Cancellation)))}
    pieces: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    issued: dict[str, dict[tuple[str, int], list[int]]] = defaultdict(dict)
    for r in conn.execute(select(b.start, b.end, b.state, b.lock_id, b.issuance_id)):
        out.blocks.append(r)
        if r.state == "cancelled":
            pieces[(int(r.lock_id), int(r.issuance_id))].append((int(r.start), int(r.end)))
    for (cancellation_id, issuance_id), ranges in pieces.items():
        cancellation = cancellations[cancellation_id]
        issuance = issuance_of[issuance_id]
        out.cancellations[f"{cancellation_id}/{issuance_id}"] = {
            "ranges": _merge(ranges),
            "quantity": sum(e - s + 1 for s, e in ranges),
            "unit_type": issuance.unit_type,
            "project_id": issuance.project_id,
            "vintage": issuance.vintage,
            "purpose": cancellation.purpose,
            "beneficiary": cancellation.beneficiary,
            "reason": cancellation.reason,
            "block_number": cancellation.block_number,
            "timestamp": _iso(times.get(int(cancellation.block_number))),
            "tx_hash": cancellation.tx_hash,
        }
    # Per project: units issued and cancelled by unit type and vintage.
    for issuance in issuance_of.values():
        key = (issuance.unit_type, int(issuance.vintage))
        issued[issuance.project_id].setdefault(key, [0, 0])[0] += int(issuance.quantity)
    for row in out.cancellations.values():
        key = (row["unit_type"], int(row["vintage"]))
        issued[row["project_id"]].setdefault(key, [0, 0])[1] += row["quantity"]
    for project_id in out.projects:
        vintages = sorted(issued.get(project_id, {}).items())
        out.totals[project_id] = {
            "issuance_count": sum(1 for x in issuance_of.values() if x.project_id == project_id),
            "issued_quantity": sum(q[0] for _, q in vintages),
            "cancelled_quantity": sum(q[1] for _, q in vintages),
            "vintages": [
                {"unit_type": t, "vintage": v, "issued": q[0], "cancelled": q[1]}
                for (t, v), q in vintages
            ],
        }
    return out


# -- the operator's registers, read over HTTP -----------------------------------------------


class _Api:
    def __init__(self, url: str, block: int, client: httpx.Client | None = None) -> None:
        self.base = url.rstrip("/")
        self.block = block
        self.http = client or httpx.Client(timeout=30.0)

    def get(self, path: str, **params: Any) -> Any:
        try:
            response = self.http.get(
                f"{self.base}{path}", params={**params, "min_block": self.block}
            )
        except httpx.HTTPError as exc:
            raise AuditorError(f"Cannot read {self.base}{path}: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AuditorError(
                f"{self.base}{path} answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()

    def pages(self, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
        cursor = None
        while True:
            body = self.get(path, limit=_PAGE, **({"cursor": cursor} if cursor else {}))
            if body is None:
                raise AuditorError(f"{self.base}{path} does not exist: is this a registry API?")
            for item in body["items"]:
                yield int(body["as_of_block"]), item
            cursor = body["next_cursor"]
            if cursor is None:
                return


@dataclass
class ApiComparison:
    """What the operator's API said beside what the auditor computed."""

    api_block: int
    audit_block: int
    differences: list[Difference]
    compared: dict[str, int]

    @property
    def ok(self) -> bool:
        """Return True when every compared value agrees."""
        return not self.differences and self.api_block == self.audit_block


def _compare(
    section: str,
    ours: dict[str, dict[str, Any]],
    theirs: dict[str, dict[str, Any]],
    out: list[Difference],
) -> None:
    for key in sorted(set(ours) | set(theirs)):
        mine, api = ours.get(key), theirs.get(key)
        if mine is None or api is None:
            out.append(
                Difference(
                    section, key, "present" if mine else "absent", "present" if api else "absent"
                )
            )
            continue
        for name in sorted(set(mine) | set(api)):
            if mine.get(name) != api.get(name):
                out.append(
                    Difference(section, f"{key} {name}", repr(mine.get(name)), repr(api.get(name)))
                )


def _sample_serials(registers: Registers, size: int, seed: int | None) -> list[int]:
    """Return serials to look up: every block's first and last, up to `size`, then random ones."""
    edges = sorted(
        {int(b.start) for b in registers.blocks} | {int(b.end) for b in registers.blocks}
    )
    rng = random.Random(seed)
    chosen = edges if len(edges) <= size else rng.sample(edges, size)
    for issuance in list(registers.issuances.values())[:size]:
        chosen.append(rng.randint(int(issuance["start"]), int(issuance["end"])))
    return sorted(set(chosen))


def _unit_of(registers: Registers, serial: int) -> dict[str, Any] | None:
    for b in registers.blocks:
        if int(b.start) <= serial <= int(b.end):
            issuance = registers.issuances[str(b.issuance_id)]
            cancellation = (
                registers.cancellations.get(f"{b.lock_id}/{b.issuance_id}")
                if b.state == "cancelled"
                else None
            )
            return {
                "block": {"start": int(b.start), "end": int(b.end)},
                "state": b.state,
                "issuance_id": int(b.issuance_id),
                "project_id": issuance["project_id"],
                "unit_type": issuance["unit_type"],
                "vintage": issuance["vintage"],
                "cancellation_id": int(b.lock_id) if cancellation else None,
                "beneficiary": cancellation["beneficiary"] if cancellation else None,
            }
    return None


def compare_with_api(
    engine: Engine,
    api_url: str,
    *,
    http: httpx.Client | None = None,
    sample: int = _UNIT_SAMPLE,
    seed: int | None = None,
) -> ApiComparison:
    """Compare the operator's public registers with the auditor's mirror, at the same block."""
    with engine.connect() as conn:
        ours = _read_registers(conn)
    api = _Api(api_url, ours.block, http)
    blocks: set[int] = set()
    theirs: dict[str, dict[str, dict[str, Any]]] = {}
    for section, path, key in (
        ("projects", "/v1/registers/projects", lambda x: x.pop("project_id")),
        ("issuances", "/v1/registers/issuances", lambda x: str(x.pop("issuance_id"))),
        ("labels", "/v1/registers/labels", lambda x: str(x.pop("label_id"))),
        (
            "cancellations",
            "/v1/registers/cancellations",
            lambda x: f"{x.pop('cancellation_id')}/{x.pop('issuance_id')}",
        ),
    ):
        rows: dict[str, dict[str, Any]] = {}
        for as_of, item in api.pages(path):
            blocks.add(as_of)
            rows[key(item)] = item
        theirs[section] = rows
    differences: list[Difference] = []
    for section in ("projects", "issuances", "labels", "cancellations"):
        _compare(section, getattr(ours, section), theirs[section], differences)
    # Each project's totals, as its detail reports them.
    api_totals: dict[str, dict[str, Any]] = {}
    for project_id in ours.projects:
        body = api.get(f"/v1/registers/projects/{project_id}")
        if body is not None:
            blocks.add(int(body["as_of_block"]))
            api_totals[project_id] = {k: body[k] for k in ours.totals[project_id]}
    _compare("project totals", ours.totals, api_totals, differences)
    # A sample of units by serial: block, state, attributes and cancellation.
    units_ours: dict[str, dict[str, Any]] = {}
    units_api: dict[str, dict[str, Any]] = {}
    for serial in _sample_serials(ours, sample, seed):
        mine = _unit_of(ours, serial)
        body = api.get(f"/v1/registers/units/{serial}")
        if mine is not None:
            units_ours[str(serial)] = mine
        if body is not None:
            blocks.add(int(body["as_of_block"]))
            cancellation = body.get("cancellation") or {}
            units_api[str(serial)] = {
                "block": body["block"],
                "state": body["state"],
                "issuance_id": body["issuance_id"],
                "project_id": body["project_id"],
                "unit_type": body["unit_type"],
                "vintage": body["vintage"],
                "cancellation_id": cancellation.get("cancellation_id"),
                "beneficiary": cancellation.get("beneficiary"),
            }
    _compare("units", units_ours, units_api, differences)
    # Register-wide totals.
    mine_total = {
        "issued": sum(int(x["quantity"]) for x in ours.issuances.values()),
        "cancelled": sum(int(x["quantity"]) for x in ours.cancellations.values()),
    }
    api_total = {
        "issued": sum(int(x["quantity"]) for x in theirs["issuances"].values()),
        "cancelled": sum(int(x["quantity"]) for x in theirs["cancellations"].values()),
    }
    _compare("totals", {"registry": mine_total}, {"registry": api_total}, differences)
    api_block = max(blocks) if blocks else -1
    if blocks and blocks != {ours.block}:
        differences.append(
            Difference("as_of_block", "api", str(ours.block), ", ".join(map(str, sorted(blocks))))
        )
    compared = {
        "projects": len(ours.projects),
        "issuances": len(ours.issuances),
        "cancellations": len(ours.cancellations),
        "labels": len(ours.labels),
        "units": len(units_ours),
    }
    return ApiComparison(api_block, ours.block, differences, compared)


def print_comparison(result: ApiComparison, console: Console, limit: int = 50) -> None:
    """Print the comparison with the operator's API and every difference (up to `limit`)."""
    compared = ", ".join(f"{n} {section}" for section, n in result.compared.items())
    console.print(f"Operator's API at block {result.api_block}: compared {compared}.")
    if result.ok:
        console.print("[bold green]The operator's public registers equal the chain.[/]")
        return
    for d in result.differences[:limit]:
        console.print(f"  DIFFERENCE {d.section} {d.key}: chain {d.chain} / api {d.mirror}")
    if len(result.differences) > limit:
        console.print(f"  ... and {len(result.differences) - limit} more.")
    console.print("[bold red]The operator's public registers differ from the chain.[/]")


def _sync_to_head(engine: Engine, client: ChainClient, deployment: Deployment, abi: Any) -> int:
    indexer = Indexer(engine, client, deployment, abi, progress=False)
    for _ in range(100):
        result = indexer.sync_once()
        if result.lag == 0:
            return result.end_block
    raise AuditorError("The chain kept moving faster than the auditor could index it.")


def independent_audit(
    rpc_url: str,
    registry: str,
    *,
    from_block: int | None = None,
    api_url: str | None = None,
    spot_checks: int | None = None,
    seed: int | None = None,
    console: Console | None = None,
    http: httpx.Client | None = None,
) -> int:
    """Audit a registry from its address alone (and the operator's API); return the exit code."""
    console = console or Console()
    client = ChainClient(rpc_url)
    try:
        abi = packaged_abi()
        deployment = find_deployment(client, registry, abi, from_block)
        console.print(
            f"Registry {deployment.registry} ({deployment.registry_code}) on chain "
            f"{deployment.chain_id}, reading logs from block {deployment.deploy_block}."
        )
        with tempfile.TemporaryDirectory(prefix="registry-audit-") as tmp:
            engine = create_engine(f"sqlite:///{Path(tmp) / 'mirror.db'}")
            try:
                upgrade_database(engine)
                _sync_to_head(engine, client, deployment, abi)
                # The mirror was just built by the indexer from the chain: rebuilding it again
                # to compare would compare it with itself.
                report: AuditReport = audit(
                    engine,
                    client,
                    deployment,
                    abi,
                    spot_checks=spot_checks,
                    seed=seed,
                    rebuild=False,
                )
                print_report(report, console)
                ok = report.ok
                if api_url is not None and ok:
                    comparison = compare_with_api(engine, api_url, http=http, seed=seed)
                    print_comparison(comparison, console)
                    ok = comparison.ok
                elif api_url is not None:
                    console.print("Not comparing the API: the auditor's own mirror failed.")
            finally:
                engine.dispose()
        return 0 if ok else 1
    except RegistryError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 2
    finally:
        client.close()
