"""Deploy the registry contracts idempotently and record a manifest per chain id."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from node.chain import ChainClient
from node.compile import MODULES, Artifact, artifacts_fingerprint, compile_contracts, registry_abi
from node.contracts import text_bytes8
from node.errors import DeploymentError

__all__ = [
    "ROLE_NAMES",
    "Deployment",
    "abi_path",
    "deploy",
    "grant_roles",
    "load_abi",
    "load_manifest",
    "manifest_path",
]

# Registry roles by the names operators use; values are the contract's role ids.
ROLE_NAMES: dict[str, bytes] = {
    "registry_admin": keccak(text="REGISTRY_ADMIN_ROLE"),
    "issuer": keccak(text="ISSUER_ROLE"),
    "label_authority": keccak(text="LABEL_AUTHORITY_ROLE"),
    "relayer": keccak(text="RELAYER_ROLE"),
    "third_party_registry": keccak(text="THIRD_PARTY_REGISTRY_ROLE"),
}


@dataclass
class Deployment:
    """What `registry deploy` records: where the contracts live and how they were built."""

    chain_id: int
    registry_code: str
    contracts: dict[str, str]
    deploy_block: int
    code_hashes: dict[str, str]
    artifacts_fingerprint: str
    admin: str
    roles: dict[str, list[str]] = field(default_factory=dict)

    @property
    def registry(self) -> str:
        """Return the address of UnitRegistry, the address every call goes to."""
        return self.contracts["UnitRegistry"]

    def to_json(self) -> str:
        """Serialise the manifest."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def manifest_path(deployments_dir: Path, chain_id: int) -> Path:
    """Return the manifest file of a chain id."""
    return deployments_dir / f"{chain_id}.json"


def load_manifest(deployments_dir: Path, chain_id: int) -> Deployment:
    """Read the manifest of a chain id, or explain how to create it."""
    path = manifest_path(deployments_dir, chain_id)
    if not path.exists():
        raise DeploymentError(
            f"No deployment for chain {chain_id} in {deployments_dir}; run `registry deploy`."
        )
    return Deployment(**json.loads(path.read_text()))


def abi_path(deployments_dir: Path) -> Path:
    """Return the file holding the ABI reachable at the deployed UnitRegistry address."""
    return deployments_dir / "UnitRegistry.abi.json"


def load_abi(deployments_dir: Path) -> list[dict[str, Any]]:
    """Return the registry ABI that `registry deploy` wrote next to the deployment manifest."""
    path = abi_path(deployments_dir)
    if not path.exists():
        raise DeploymentError(
            f"No registry ABI at {path}; run `registry deploy` (it writes the ABI next to the "
            "deployment manifest)."
        )
    abi: list[dict[str, Any]] = json.loads(path.read_text())
    return abi


def _write_manifest(
    deployments_dir: Path, deployment: Deployment, abi: list[dict[str, Any]] | None = None
) -> None:
    deployments_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_path(deployments_dir, deployment.chain_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(deployment.to_json())
    tmp.replace(path)
    if abi is not None:
        # The ABI travels with the manifest so that readers (indexer, API) never need the sources.
        abi_path(deployments_dir).write_text(json.dumps(abi, indent=1))


def _is_live(client: ChainClient, deployment: Deployment) -> bool:
    """Return True when every recorded contract still has the recorded code on chain."""
    for name, address in deployment.contracts.items():
        code = client.code_at(address)
        if not code or Web3.to_hex(keccak(code)) != deployment.code_hashes.get(name):
            return False
    return True


def deploy(
    client: ChainClient,
    deployer: LocalAccount,
    admin: str,
    registry_code: str,
    deployments_dir: Path,
) -> tuple[Deployment, bool]:
    """Deploy the registry unless a live deployment is recorded; return it and whether it is new.

    A recorded deployment whose code is gone (a dev chain started afresh) is replaced. One whose
    code is there is kept even if the sources changed since: replacing a live registry would
    orphan its units, so that takes an explicit new deployment directory.
    """
    chain_id = client.chain_id
    artifacts = compile_contracts()
    fingerprint = artifacts_fingerprint()
    path = manifest_path(deployments_dir, chain_id)
    if path.exists():
        existing = load_manifest(deployments_dir, chain_id)
        if _is_live(client, existing):
            return existing, False

    start_block = client.block_number() + 1
    modules = {name: _deploy_contract(client, deployer, artifacts[name], b"") for name in MODULES}
    args = abi_encode(
        ["bytes8", "address", "address[]"],
        [text_bytes8(registry_code), Web3.to_checksum_address(admin), list(modules.values())],
    )
    registry = _deploy_contract(client, deployer, artifacts["UnitRegistry"], args)
    contracts = {"UnitRegistry": registry, **modules}
    deployment = Deployment(
        chain_id=chain_id,
        registry_code=registry_code,
        contracts=contracts,
        deploy_block=start_block,
        code_hashes={n: Web3.to_hex(keccak(client.code_at(a))) for n, a in contracts.items()},
        artifacts_fingerprint=fingerprint,
        admin=Web3.to_checksum_address(admin),
        roles={"registry_admin": [Web3.to_checksum_address(admin)]},
    )
    _write_manifest(deployments_dir, deployment, registry_abi(artifacts))
    return deployment, True


def _deploy_contract(
    client: ChainClient, deployer: LocalAccount, artifact: Artifact, args: bytes
) -> str:
    data = "0x" + artifact.bytecode + args.hex()
    receipt = client.transact(deployer, data)
    address = receipt.get("contractAddress")
    if not address:
        raise DeploymentError(f"Deploying {artifact.name} produced no contract address.")
    return str(address)


def grant_roles(
    client: ChainClient,
    admin: LocalAccount,
    deployment: Deployment,
    deployments_dir: Path,
    roles: dict[str, list[str]],
) -> Deployment:
    """Grant registry roles (by name) to addresses, skipping grants already in place."""
    contract = client.w3.eth.contract(
        address=Web3.to_checksum_address(deployment.registry), abi=load_abi(deployments_dir)
    )
    for role_name, addresses in roles.items():
        if role_name not in ROLE_NAMES:
            raise DeploymentError(
                f"Unknown role {role_name!r}; expected one of {list(ROLE_NAMES)}."
            )
        role = ROLE_NAMES[role_name]
        for address in addresses:
            checksum = Web3.to_checksum_address(address)
            if not contract.functions.hasRole(role, checksum).call():
                data = contract.encode_abi("grantRole", args=[role, checksum])
                client.transact(admin, data, to=deployment.registry)
            holders = deployment.roles.setdefault(role_name, [])
            if checksum not in holders:
                holders.append(checksum)
    _write_manifest(deployments_dir, deployment)
    return deployment
