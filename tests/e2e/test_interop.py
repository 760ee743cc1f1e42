"""Two live registry nodes exchanging units (docs/interop.md, issue 17).

AU runs on SQLite and NZ on PostgreSQL, each started with `registry up` with its own anvil, its own
chain id, its own contracts and its own registry code. They talk HTTP on loopback; AU reaches NZ
through `Link`, a relay the tests can cut. Nodes are crashed with SIGKILL (the node process: API,
indexer, relayer and protocol worker; its chain keeps running, as a production chain would) and
restarted, at each phase of the protocol.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdk import RegistryClient
from tests.api.helpers import throwaway_postgres
from tests.conftest import _free_port

_REGISTRY = str(Path(sys.executable).parent / "registry")


class Node:
    """One registry node run by `registry up` in its own data directory."""

    def __init__(self, root: Path, code: str, chain_id: int, database_url: str | None) -> None:
        self.code = code
        self.data_dir = root / code / "data"
        self.api_port, self.chain_port = _free_port(), _free_port()
        self.env = {
            **os.environ,
            "REGISTRY_DATA_DIR": str(self.data_dir),
            "REGISTRY_API_PORT": str(self.api_port),
            "REGISTRY_CHAIN_PORT": str(self.chain_port),
            "REGISTRY_REGISTRY_CODE": code,
            "REGISTRY_DEV_CHAIN_ID": str(chain_id),
            "REGISTRY_INTEROP_POLL_SECONDS": "0.3",
            # Short enough that moving a chain's clock past it leaves the requests' own
            # deadlines (an hour) valid; long enough for a node restart.
            "REGISTRY_INTEROP_DEADLINE_SECONDS": "300",
        }
        if database_url is not None:
            self.env["REGISTRY_DATABASE_URL"] = database_url
        self.log = root / code / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([_REGISTRY, "up"], env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + 240
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-4000:]
            try:
                if httpx.get(f"{self.url}/v1/health").json()["status"] == "ok":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            assert time.monotonic() < deadline, self.log.read_text()[-4000:]
            time.sleep(0.3)

    def crash(self) -> None:
        """SIGKILL the node process: nothing is flushed, nothing is stopped cleanly.

        Its role processes follow it down (they die with their parent); the node is down once
        its API refuses connections. The chain, as a production chain would, runs on.
        """
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/v1/health", timeout=2)
            except httpx.HTTPError:
                return
            assert time.monotonic() < deadline, "the node's API outlived it"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=90)
        pid_file = self.data_dir / "chain" / "anvil.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass

    def key(self, role: str) -> str:
        return str(
            json.loads((self.data_dir / "dev-accounts.json").read_text())[role]["private_key"]
        )

    def client(self, role: str) -> RegistryClient:
        return RegistryClient(self.url, self.key(role))

    def get(self, path: str, **params: Any) -> Any:
        return httpx.get(self.url + path, params=params or None, timeout=30)

    def rpc(self, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return httpx.post(f"http://127.0.0.1:{self.chain_port}", json=body).json()["result"]


class Link(ThreadingHTTPServer):
    """The network between AU and NZ as AU sees it: an HTTP relay that can be cut."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.up = True
        self.proposals_left: int | None = None  # cut after this many proposals went through
        super().__init__(("127.0.0.1", 0), _Relay)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Relay(BaseHTTPRequestHandler):
    server: Link

    def log_message(self, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        link = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if link.up and link.proposals_left is not None and self.path.endswith("/proposals"):
            if link.proposals_left == 0:
                link.up = False
            else:
                link.proposals_left -= 1
        if not link.up:
            self.send_response(502)
            self.end_headers()
            return
        try:
            response = httpx.request(
                self.command,
                link.target + self.path,
                content=body or None,
                headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                timeout=30,
            )
        except httpx.HTTPError:  # the peer itself is down
            self.send_response(502)
            self.end_headers()
            return
        self.send_response(response.status_code)
        self.send_header("Content-Type", "application/json")
        signature = response.headers.get("Registry-Operator-Signature")
        if signature is not None:
            self.send_header("Registry-Operator-Signature", signature)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    do_GET = _relay
    do_POST = _relay


def _wait(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("interop")
    with throwaway_postgres() as pg_url:
        au = Node(root, "AU", 31337, None)
        nz = Node(root, "NZ", 31338, pg_url)
        try:
            au.start()
            nz.start()
            link = Link(nz.url)
            au_id = au.get("/v1/interop/identity").json()
            nz_id = nz.get("/v1/interop/identity").json()
            assert au_id["chain_id"] != nz_id["chain_id"]
            for node, other, url in ((au, nz_id, link.url), (nz, au_id, au.url)):
                peer = node.client("registry_admin").write(
                    "admin/peers",
                    {
                        "registry_code": other["registry_code"],
                        "api_url": url,
                        "operator_address": other["operator_address"],
                        "chain_id": other["chain_id"],
                        "registry_address": other["registry_address"],
                    },
                )
                assert peer["status"] == "indexed", peer
            accounts = {}
            for node in (au, nz):
                admin = node.client("registry_admin")
                ar = node.client("ar_1")
                reps = [
                    {
                        "address": ar.address,
                        "primary": True,
                        "can_initiate": True,
                        "can_approve": True,
                    }
                ]
                opened = admin.write(
                    "admin/accounts",
                    {
                        "holder_name": f"{node.code} holder",
                        "approval_policy": "single",
                        "representatives": reps,
                    },
                )
                assert opened["status"] == "indexed", opened
                accounts[node.code] = opened["result"]["account_id"]
                label = admin.write(
                    "admin/labels",
                    {"name": "CORSIA", "authority": node.client("label_authority").address},
                )
                assert label["status"] == "indexed", label
                issuer = node.client("issuer")
                issuer.write(
                    "admin/projects",
                    {"project_id": f"{node.code}-P1", "name": "Project", "country": node.code},
                )
                issued = issuer.write(
                    "admin/issuances",
                    {
                        "project_id": f"{node.code}-P1",
                        "unit_type": "VCU",
                        "vintage": 2023,
                        "monitoring_period_start": "2023-01-01",
                        "monitoring_period_end": "2023-12-31",
                        "quantity": 10_000,
                        "to_account": accounts[node.code],
                    },
                )
                assert issued["status"] == "indexed", issued
                labelled = node.client("label_authority").write(
                    "labels/CORSIA/apply", {"account_id": accounts[node.code], "quantity": 500}
                )
                assert labelled["status"] == "indexed", labelled
            yield {"au": au, "nz": nz, "link": link, "accounts": accounts, "root": root}
        finally:
            for node in (au, nz):
                node.stop()


def _send(world: dict[str, Any], source: str, quantity: int, to_account: str | None = None) -> int:
    """Transfer `quantity` units from `source`'s account to the other registry's account."""
    node = world[source.lower()]
    other = "NZ" if source == "AU" else "AU"
    written = node.client("ar_1").write(
        "transfers/out",
        {
            "from_account": world["accounts"][source],
            "to_account": to_account or world["accounts"][other],
            "quantity": quantity,
        },
    )
    assert written["status"] == "indexed", json.dumps(written)
    assert written["result"]["status"] == "in_transit", json.dumps(written)
    return int(written["result"]["transfer_id"])


def _outbound(node: Node, transfer_id: int) -> dict[str, Any]:
    return dict(node.get(f"/v1/interop/transfers/{transfer_id}").json().get("outbound") or {})


def _settled(node: Node, transfer_id: int, timeout: float = 120.0) -> dict[str, Any]:
    return dict(
        _wait(
            f"transfer {transfer_id} to settle at {node.code}",
            lambda: (lambda o: o if o.get("status") in ("transferred", "returned") else None)(
                _outbound(node, transfer_id)
            ),
            timeout,
        )
    )


def _holding(node: Node, account: str, label: str | None = None) -> dict[str, int]:
    """Units of an account by state (those with `label` only, if given), as its AR reads them."""
    client = node.client("ar_1")
    client.login()
    out: dict[str, int] = {}
    for item in client.paginate(f"/v1/accounts/{account}/holdings"):
        if label is None or label in item["labels"]:
            out[item["state"]] = out.get(item["state"], 0) + int(item["quantity"])
    return out


def test_an_ordinary_transfers_write_to_a_peer_account_moves_units_with_their_attributes(
    world: dict[str, Any],
) -> None:
    au, nz = world["au"], world["nz"]
    ar = au.client("ar_1")
    # The ordinary transfers write: prepare answers a TransferOut because NZ-… is a peer's account.
    intent = {
        "signer": ar.address,
        "from_account": world["accounts"]["AU"],
        "to_account": world["accounts"]["NZ"],
        "quantity": 600,
    }
    prepared = httpx.post(f"{au.url}/v1/transfers/prepare", json=intent).json()
    typed = prepared["typed_data"]
    assert typed["primaryType"] == "TransferOut", typed
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    signature = Account.sign_message(
        encode_typed_data(full_message=typed), private_key=au.key("ar_1")
    ).signature.hex()
    submitted = httpx.post(
        f"{au.url}/v1/transfers",
        params={"wait": "indexed"},
        json={"typed_data": typed, "signature": "0x" + signature.removeprefix("0x")},
        timeout=60,
    ).json()
    assert submitted["status"] == "indexed", submitted
    transfer_id = int(submitted["result"]["transfer_id"])
    outbound = _settled(au, transfer_id)
    assert outbound["status"] == "transferred", outbound
    assert outbound["quantity"] == 600
    # NZ holds the units anew, with AU as origin, the original serials and the CORSIA label.
    record = nz.get(f"/v1/interop/transfers/{transfer_id}", source="AU").json()
    inbound = record["inbound"][0]
    assert inbound["status"] == "accepted"
    imported = inbound["imported"]
    assert sum(u["end"] - u["start"] + 1 for u in imported) == 600
    # The original serials: AU's oldest 600 units, its first issuance's serials 1..600.
    assert sorted((u["origin_start"], u["origin_end"]) for u in imported)[0][0] == 1
    assert max(u["origin_end"] for u in imported) == 600
    issuances = nz.get("/v1/registers/issuances", limit=100).json()["items"]
    origins = {i["origin_registry"] for i in issuances if i["project_id"] == "AU-P1"}
    assert origins == {"AU"}, issuances
    assert _holding(nz, world["accounts"]["NZ"]).get("held") == 10_600
    # The 500 units AU labelled CORSIA arrive labelled; NZ's own 500 labelled units too.
    assert _holding(nz, world["accounts"]["NZ"], "CORSIA").get("held") == 1_000
    au_units = _holding(au, world["accounts"]["AU"])
    assert au_units.get("held") == 9_400 and au_units.get("transferred_out") == 600, au_units
    # Both chains hold both signatures over the same digests.
    source_record = au.get(f"/v1/interop/transfers/{transfer_id}").json()
    path_au = world["root"] / f"au-{transfer_id}.json"
    path_nz = world["root"] / f"nz-{transfer_id}.json"
    path_au.write_text(json.dumps(source_record))
    path_nz.write_text(json.dumps(record))
    verified = subprocess.run(
        [_REGISTRY, "interop", "verify", str(path_au), str(path_nz)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(verified.stdout)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("OK  ") == 8, verified.stdout  # 2 messages + 2 events, per side
    # A forged record fails: flip one byte of NZ's answer signature in AU's copy.
    forged = json.loads(path_au.read_text())
    answer = [m for m in forged["outbound"]["signed"] if m["kind"] == "Answer"][-1]
    sig = answer["signature"]
    answer["signature"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    path_au.write_text(json.dumps(forged))
    refused = subprocess.run(
        [_REGISTRY, "interop", "verify", str(path_au)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1, refused.stdout


def test_a_refused_transfer_returns_the_units(world: dict[str, Any]) -> None:
    au, nz = world["au"], world["nz"]
    before = _holding(au, world["accounts"]["AU"]).get("held", 0)
    transfer_id = _send(world, "AU", 25, to_account="NZ-1999999")  # no such account at NZ
    outbound = _settled(au, transfer_id)
    assert outbound["status"] == "returned" and outbound["reason"] == 1, outbound  # cannot receive
    assert _holding(au, world["accounts"]["AU"]).get("held", 0) == before
    inbound = nz.get(f"/v1/interop/transfers/{transfer_id}", source="AU").json()["inbound"][0]
    assert inbound["status"] == "refused" and inbound["imported"] == []


def test_the_other_direction_and_reconciliation(world: dict[str, Any]) -> None:
    au, nz = world["au"], world["nz"]
    transfer_id = _send(world, "NZ", 70)
    assert _settled(nz, transfer_id)["status"] == "transferred"
    for node, peer in ((au, "NZ"), (nz, "AU")):
        body = node.get("/v1/interop/reconciliation", peer=peer).json()
        assert body["differences"] == [], body
        result = subprocess.run(
            [_REGISTRY, "reconcile", "--peer", peer, "--api-url", node.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        print(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr


# -- Article 6: ITMOs between the two registries (decision D47) -----------------------------------

_APPROACH = "AU-NZ-COOP"
_LETTER = "AU-LOA-2024-01"


def _a6_sections(world: dict[str, Any]) -> dict[str, Any]:
    """Parties AU and NZ in one approach on both registries, each registry knowing the other's
    Party with the other's registry code; an account in each own Party's section; on AU, units
    issued there and authorized by Party AU."""
    out: dict[str, Any] = {}
    for node, own in ((world["au"], "AU"), (world["nz"], "NZ")):
        admin = node.client("registry_admin")
        authority = node.client("label_authority").address
        for party in ("AU", "NZ"):
            written = admin.write(
                "article6/parties",
                {
                    "party": party,
                    "registry_id": party,  # the registry that holds the Party's section
                    "label_authority": authority,
                    "administrators": [admin.address],
                },
            )
            assert written["status"] == "indexed", written
        written = admin.write(
            "article6/cooperative-approaches",
            {"approach_id": _APPROACH, "name": "AU-NZ cooperation", "parties": ["AU", "NZ"]},
        )
        assert written["status"] == "indexed", written
        reps = [{"address": node.client("ar_1").address, "primary": True}]
        opened = admin.write(
            "admin/accounts",
            {
                "holder_name": f"{own} Party account",
                "approval_policy": "single",
                "party": own,
                "representatives": reps,
            },
        )
        assert opened["status"] == "indexed", opened
        out[own] = opened["result"]["account_id"]
    au = world["au"]
    issued = au.client("issuer").write(
        "admin/issuances",
        {
            "project_id": "AU-P1",
            "unit_type": "VCU",
            "vintage": 2024,
            "monitoring_period_start": "2024-01-01",
            "monitoring_period_end": "2024-12-31",
            "quantity": 100,
            "to_account": out["AU"],
        },
    )
    assert issued["status"] == "indexed", issued
    (issued_range,) = issued["result"]["ranges"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    authorized = au.client("label_authority").write(
        "article6/authorizations",
        {
            "party": "AU",
            "letter_id": _LETTER,
            "date": today,
            "purposes": ["ndc_use"],
            "cooperative_approach": _APPROACH,
            "first_transfer_definition": "at_use_or_cancellation",
            "ranges": [issued_range],
        },
    )
    assert authorized["status"] == "indexed", authorized
    out["start"] = int(issued_range["start"])
    out["authorization_id"] = int(authorized["result"]["authorization_id"])
    out["year"] = int(today[:4])
    return out


def _aef(node: Node, party: str, year: int) -> dict[str, Any]:
    admin = node.client("registry_admin")
    admin.login()
    return dict(admin.get("/v1/article6/aef", party=party, year=year))


def test_itmos_cross_with_their_article6_actions_on_both_sides(world: dict[str, Any]) -> None:
    au, nz = world["au"], world["nz"]
    a6 = _a6_sections(world)
    s = a6["start"]
    # A transfer of ITMOs to a peer's account is a TransferItmosOut, which the ordinary
    # `article6/transfers/prepare` answers too for such an account.
    intent = {"from_account": a6["AU"], "to_account": a6["NZ"], "ranges": [{"start": s, "end": s}]}
    ar = au.client("ar_1")
    prepared = httpx.post(
        f"{au.url}/v1/article6/transfers/prepare", json={"signer": ar.address, **intent}
    ).json()
    assert prepared["typed_data"]["primaryType"] == "TransferItmosOut", prepared
    assert prepared["typed_data"]["message"]["toParty"] == "0x" + b"NZ".ljust(8, b"\0").hex()
    written = au.client("ar_1").write(
        "article6/transfers/out",
        {
            "from_account": a6["AU"],
            "to_account": a6["NZ"],
            "ranges": [{"start": s, "end": s + 39}],
        },
    )
    assert written["status"] == "indexed", json.dumps(written)
    transfer_id = int(written["result"]["transfer_id"])
    assert _settled(au, transfer_id)["status"] == "transferred"
    record = au.get(f"/v1/interop/transfers/{transfer_id}").json()
    proposal = next(m for m in record["outbound"]["signed"] if m["kind"] == "Proposal")
    (terms,) = proposal["typed_data"]["message"]["itmos"]
    assert terms["authorizationId"] == a6["authorization_id"]
    # NZ holds them as ITMOs: under its record of AU's letter, labelled, and usable there.
    held = _holding(nz, a6["NZ"], "A6_FIRST_TRANSFERRED")
    assert held == {"held": 40}, held
    assert _holding(nz, a6["NZ"], "A6_AUTHORIZED_NDC") == {"held": 40}
    au_units = _holding(au, a6["AU"])
    assert au_units == {"held": 60, "transferred_out": 40}, au_units
    # Both Parties' AEFs: AU's first transfer and transfer, NZ's acquisition, of the same units.
    au_rows = _aef(au, "AU", a6["year"])["actions"]
    moved = [r for r in au_rows if r["underlying_block_start"] == s]
    assert [r["action_type"] for r in moved] == ["authorization", "first_transfer", "transfer"]
    assert moved[2]["acquiring_party"] == "NZ" and moved[2]["quantity_tco2e"] == 40, moved
    nz_body = _aef(nz, "NZ", a6["year"])
    (acquired,) = [r for r in nz_body["actions"] if r["action_type"] == "acquisition"]
    assert acquired["transferring_party"] == "AU", acquired
    assert acquired["first_transferring_party"] == "AU"
    assert acquired["authorization_id"] == _LETTER
    assert acquired["cooperative_approach"] == _APPROACH
    assert acquired["quantity_tco2e"] == 40
    assert sum(h["quantity_tco2e"] for h in nz_body["holdings"]) == 40, nz_body["holdings"]
    # NZ's Party uses five of them towards its NDC: they are ITMOs there, not ordinary units.
    local = acquired["underlying_block_start"]
    used = nz.client("ar_1").write(
        "article6/cancellations",
        {
            "account_id": a6["NZ"],
            "ranges": [{"start": local, "end": local + 4}],
            "purpose": "ndc_use",
            "beneficiary": "New Zealand NDC",
        },
    )
    assert used["status"] == "indexed", json.dumps(used)
    # The audit rebuilds each Party's AEF from its own chain and finds the same rows.
    for node, party in ((au, "AU"), (nz, "NZ")):
        audited = subprocess.run(
            [_REGISTRY, "audit", "--aef", party, str(a6["year"])],
            env=node.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert audited.returncode == 0, audited.stdout[-3000:] + audited.stderr[-3000:]
    # ITMOs to an account outside NZ's Party section: refused, back under their authorization.
    written = au.client("ar_1").write(
        "article6/transfers/out",
        {
            "from_account": a6["AU"],
            "to_account": world["accounts"]["NZ"],
            "ranges": [{"start": s + 40, "end": s + 49}],
        },
    )
    assert written["status"] == "indexed", json.dumps(written)
    outbound = _settled(au, int(written["result"]["transfer_id"]))
    assert outbound["status"] == "returned" and outbound["reason"] == 5, outbound
    assert _holding(au, a6["AU"]) == {"held": 60, "transferred_out": 40}
    again = au.client("ar_1").write(
        "article6/cancellations",
        {
            "account_id": a6["AU"],
            "ranges": [{"start": s + 40, "end": s + 41}],
            "purpose": "voluntary",
        },
    )
    assert again["status"] == "indexed", json.dumps(again)  # still ITMOs of AU's letter


def test_peer_reads_count_only_signed_by_the_peer_operator(world: dict[str, Any]) -> None:
    """What a node reads from its peer (the transfer record it checks a proposal against, the
    ledger it reconciles with) must carry the peer operator's signature over the exact bytes."""
    from api.interop import PeerReadUnverified, verified_peer_read

    au, nz = world["au"], world["nz"]
    transfer_id = _send(world, "AU", 3)
    assert _settled(au, transfer_id)["status"] == "transferred"
    identity = au.get("/v1/interop/identity").json()
    peer = {"registry_code": "AU", "operator_address": identity["operator_address"]}
    for path, params in (
        (f"/v1/interop/transfers/{transfer_id}", {}),
        ("/v1/interop/ledger", {"peer": "NZ"}),
    ):
        response = httpx.get(au.url + path, params=params, timeout=30)
        assert response.status_code == 200, response.text
        body = verified_peer_read(response, peer)
        assert body == response.json()
        # One byte of the body changed: refused.
        tampered = httpx.Response(
            200,
            content=response.content.replace(b'"AU"', b'"AV"', 1),
            headers=dict(response.headers),
        )
        with pytest.raises(PeerReadUnverified):
            verified_peer_read(tampered, peer)
        # The signature left off: refused.
        unsigned = httpx.Response(200, content=response.content)
        with pytest.raises(PeerReadUnverified):
            verified_peer_read(unsigned, peer)
        # Signed, but by another key than the peer record's operator: refused.
        with pytest.raises(PeerReadUnverified):
            verified_peer_read(response, {**peer, "operator_address": "0x" + "11" * 20})
    # NZ's own answer is not AU's, even where both nodes share the dev operator key.
    response = httpx.get(nz.url + "/v1/interop/ledger", params={"peer": "AU"}, timeout=30)
    with pytest.raises(PeerReadUnverified):
        verified_peer_read(response, peer)


# -- faults: each side killed, or the link cut, at each phase ---------------------------------


def test_proposal_sent_while_the_peer_is_down(world: dict[str, Any]) -> None:
    au, nz = world["au"], world["nz"]
    nz.crash()
    try:
        transfer_id = _send(world, "AU", 11)
        _wait("the proposal on AU's chain", lambda: "proposal_digest" in _outbound(au, transfer_id))
        time.sleep(2)  # AU retries against a dead peer
        assert _outbound(au, transfer_id)["status"] == "in_transit"
    finally:
        nz.start()
    assert _settled(au, transfer_id)["status"] == "transferred"


def test_peer_accepted_but_source_down_before_recording(world: dict[str, Any]) -> None:
    au, nz, link = world["au"], world["nz"], world["link"]
    link.proposals_left = 1  # the first proposal goes through, then the link is cut
    transfer_id = _send(world, "AU", 12)
    inbound = _wait(
        "NZ's acceptance on its chain",
        lambda: (
            lambda r: (
                r["inbound"][0] if r.get("inbound") and r["inbound"][0].get("status") else None
            )
        )(nz.get(f"/v1/interop/transfers/{transfer_id}", source="AU").json()),
    )
    assert inbound["status"] == "accepted"
    au.crash()  # AU never heard the answer
    link.proposals_left = None
    link.up = True
    au.start()
    assert _settled(au, transfer_id)["status"] == "transferred"


def test_source_crashes_right_after_the_units_left(world: dict[str, Any]) -> None:
    au = world["au"]
    transfer_id = _send(world, "AU", 13)
    au.crash()
    au.start()
    assert _settled(au, transfer_id)["status"] == "transferred"


def test_peer_crashes_after_answering_before_the_source_learns_it(world: dict[str, Any]) -> None:
    au, nz, link = world["au"], world["nz"], world["link"]
    link.proposals_left = 1
    transfer_id = _send(world, "AU", 14)
    _wait(
        "NZ's answer on its chain",
        lambda: (lambda r: bool(r.get("inbound")) and r["inbound"][0].get("status"))(
            nz.get(f"/v1/interop/transfers/{transfer_id}", source="AU").json()
        ),
    )
    nz.crash()
    link.proposals_left = None
    link.up = True
    time.sleep(2)
    assert _outbound(au, transfer_id)["status"] == "in_transit"
    nz.start()
    assert _settled(au, transfer_id)["status"] == "transferred"


def test_many_transfers_both_ways_with_faults_reconcile(world: dict[str, Any]) -> None:
    """Transfers in both directions (REGISTRY_INTEROP_SOAK of them, 40 by default) while NZ is
    killed and the link is cut and restored: every one settles and the registries reconcile."""
    au, nz, link = world["au"], world["nz"], world["link"]
    total = int(os.environ.get("REGISTRY_INTEROP_SOAK", "40"))
    sent: list[tuple[Node, int]] = []
    for i in range(total):
        source = "AU" if i % 2 == 0 else "NZ"
        if i == total // 4:
            link.up = False  # AU cannot reach NZ for a while
        if i == total // 2:
            link.up = True
            nz.crash()
        if i == total // 2 + 2:
            nz.start()
        if source == "NZ" and nz.proc is not None and nz.proc.poll() is not None:
            source = "AU"  # NZ is down: only AU can write
        sent.append((world[source.lower()], _send(world, source, 1 + i % 7)))
    for node, transfer_id in sent:
        assert _settled(node, transfer_id, timeout=300)["status"] == "transferred", transfer_id
    for node, peer in ((au, "NZ"), (nz, "AU")):
        body = node.get("/v1/interop/reconciliation", peer=peer).json()
        print(peer, body["totals"], len(body["differences"]), "differences")
        assert body["differences"] == [], body
        assert all(not ids for ids in body["in_transit"].values()), body


def test_deadline_passes_while_the_link_is_cut(world: dict[str, Any]) -> None:
    # NOTE: last of the transfers: moving NZ's chain clock an interop deadline ahead makes NZ
    # refuse every later proposal of AU's as late, which is right, but not what the others test.
    au, nz, link = world["au"], world["nz"], world["link"]
    before = _holding(au, world["accounts"]["AU"]).get("held", 0)
    link.up = False
    try:
        transfer_id = _send(world, "AU", 15)
        outbound = _wait(
            "the proposal",
            lambda: (lambda o: o if "deadline" in o else None)(_outbound(au, transfer_id)),
        )
        # NZ's chain moves past the proposal's deadline while AU cannot reach NZ.
        now = int(nz.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        nz.rpc("evm_increaseTime", [outbound["deadline"] - now + 60])
        nz.rpc("evm_mine", [])
        assert _outbound(au, transfer_id)["status"] == "in_transit"  # no unilateral expiry
    finally:
        link.up = True
    outbound = _settled(au, transfer_id)
    assert outbound["status"] == "returned" and outbound["reason"] == 2, outbound
    assert _holding(au, world["accounts"]["AU"]).get("held", 0) == before
    inbound = nz.get(f"/v1/interop/transfers/{transfer_id}", source="AU").json()["inbound"][0]
    assert inbound["status"] == "refused" and inbound["imported"] == []


def test_after_the_faults_the_registries_reconcile(world: dict[str, Any]) -> None:
    for node, peer in ((world["au"], "NZ"), (world["nz"], "AU")):
        body = node.get("/v1/interop/reconciliation", peer=peer).json()
        assert body["differences"] == [], body
        assert all(not ids for ids in body["in_transit"].values()), body
        totals = body["totals"]
        assert all(t["source"] == t["destination"] for t in totals.values()), totals


def test_each_mirror_passes_the_audit_against_its_chain(world: dict[str, Any]) -> None:
    """The new states and events (in transit, transferred out, imports) replay like any other."""
    for node in (world["au"], world["nz"]):
        result = subprocess.run(
            [_REGISTRY, "audit"], env=node.env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
