"""Compile the Solidity sources in contracts/ into cached artifacts with py-solc-x."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from node.errors import CompileError

__all__ = [
    "ARTIFACTS_DIR",
    "CONTRACTS",
    "MODULES",
    "REPO_ROOT",
    "Artifact",
    "artifacts_fingerprint",
    "compile_contracts",
    "load_artifacts",
    "registry_abi",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES_DIR = REPO_ROOT / "contracts" / "src"
ARTIFACTS_DIR = REPO_ROOT / "build" / "artifacts"
SOLC_WRAPPER = REPO_ROOT / "scripts" / "solc"

# Deployable contracts: name -> source path relative to the repo. Every entry but UnitRegistry is
# a module, deployed first in this order and handed to the registry's constructor.
CONTRACTS: dict[str, str] = {
    "UnitRegistry": "contracts/src/UnitRegistry.sol",
    "AdministrationModule": "contracts/src/modules/AdministrationModule.sol",
    "PlatformModule": "contracts/src/modules/PlatformModule.sol",
    "CertificateModule": "contracts/src/modules/CertificateModule.sol",
    "Article6Module": "contracts/src/modules/Article6Module.sol",
    "Article6TransferModule": "contracts/src/modules/Article6TransferModule.sol",
    "Article64Module": "contracts/src/modules/Article64Module.sol",
    "InteropModule": "contracts/src/modules/InteropModule.sol",
    "InteropAnswerModule": "contracts/src/modules/InteropAnswerModule.sol",
}
MODULES: tuple[str, ...] = tuple(name for name in CONTRACTS if name != "UnitRegistry")

# Must match foundry.toml, so that forge and the node build the same bytecode.
SETTINGS: dict[str, Any] = {
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]},
    },
}


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its ABI and creation and runtime bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    @property
    def code_size(self) -> int:
        """Return the runtime code size in bytes."""
        return len(self.deployed_bytecode) // 2


def _source_fingerprint() -> str:
    """Hash every input that can change the bytecode: sources, settings and library versions."""
    digest = hashlib.sha256()
    digest.update(json.dumps(SETTINGS, sort_keys=True).encode())
    for path in sorted(SOURCES_DIR.rglob("*.sol")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    for package in ("@openzeppelin/contracts", "solc"):
        manifest = REPO_ROOT / "node_modules" / package / "package.json"
        if manifest.exists():
            digest.update(manifest.read_bytes())
    return digest.hexdigest()[:16]


def artifacts_fingerprint() -> str:
    """Return the fingerprint of the current sources, the cache key of their artifacts."""
    return _source_fingerprint()


def _solc_binary() -> Path:
    override = os.environ.get("REGISTRY_SOLC")
    binary = Path(override) if override else SOLC_WRAPPER
    if not (REPO_ROOT / "node_modules" / "solc" / "solc.js").exists() and not override:
        raise CompileError(
            "The solc compiler is not installed: run `make setup` (it runs `npm ci`)."
        )
    return binary


def compile_contracts(force: bool = False) -> dict[str, Artifact]:
    """Compile the deployable contracts, reusing cached artifacts when no input changed."""
    fingerprint = _source_fingerprint()
    cache = ARTIFACTS_DIR / f"{fingerprint}.json"
    if cache.exists() and not force:
        return _read(cache)

    sources = {path: {"urls": [path]} for path in CONTRACTS.values()}
    try:
        output = solcx.compile_standard(
            {"language": "Solidity", "sources": sources, "settings": SETTINGS},
            solc_binary=_solc_binary(),
            base_path=str(REPO_ROOT),
            allow_paths=[str(REPO_ROOT)],
        )
    except SolcError as exc:
        raise CompileError(f"Solidity compilation failed:\n{exc}") from exc

    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e["formattedMessage"] for e in errors))

    artifacts: dict[str, dict[str, Any]] = {}
    for name, path in CONTRACTS.items():
        compiled = output["contracts"][path][name]
        artifacts[name] = {
            "abi": compiled["abi"],
            "bytecode": compiled["evm"]["bytecode"]["object"],
            "deployed_bytecode": compiled["evm"]["deployedBytecode"]["object"],
        }
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "contracts": artifacts}))
    tmp.replace(cache)
    (ARTIFACTS_DIR / "latest.json").write_text(json.dumps({"fingerprint": fingerprint}))
    return _read(cache)


def _read(path: Path) -> dict[str, Artifact]:
    data = json.loads(path.read_text())
    return {
        name: Artifact(
            name=name,
            abi=c["abi"],
            bytecode=c["bytecode"],
            deployed_bytecode=c["deployed_bytecode"],
        )
        for name, c in data["contracts"].items()
    }


def load_artifacts() -> dict[str, Artifact]:
    """Return the artifacts of the last compilation, compiling if there are none."""
    latest = ARTIFACTS_DIR / "latest.json"
    if latest.exists():
        fingerprint = json.loads(latest.read_text())["fingerprint"]
        cache = ARTIFACTS_DIR / f"{fingerprint}.json"
        if cache.exists():
            return _read(cache)
    return compile_contracts()


def registry_abi(artifacts: dict[str, Artifact]) -> list[dict[str, Any]]:
    """Return the ABI reachable at the UnitRegistry address: the core plus every module."""
    seen: set[str] = set()
    merged: list[dict[str, Any]] = []
    for name in CONTRACTS:
        for item in artifacts[name].abi:
            if item["type"] == "constructor" and name != "UnitRegistry":
                continue
            # A module's selector list is read by the constructor, not routed by the registry.
            if item.get("name") == "moduleSelectors":
                continue
            inputs = ",".join(i["type"] for i in item.get("inputs", []))
            key = f"{item['type']}:{item.get('name', '')}({inputs})"
            if key not in seen:
                seen.add(key)
                merged.append(item)
    return merged
