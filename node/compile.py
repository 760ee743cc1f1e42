"""Compile the Solidity sources in contracts/ into cached artifacts with py-solc-x."""

from __future__ import annotations

import hashlib
import json
import os
import re
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
    "signed_primary_types",
    "signing_contract",
    "signing_types",
    "type_strings",
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
        # A cache hit is the last compilation too, so that load_artifacts() returns these.
        (ARTIFACTS_DIR / "latest.json").write_text(json.dumps({"fingerprint": fingerprint}))
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


# The inter-registry protocol's messages are signed by a registry's operator and relayed by these
# functions; every other signed type `Name` is relayed by the function `name`.
_PROTOCOL_FUNCTIONS = {"Proposal": "sendProposal", "Answer": "recordAnswer"}
_LIBRARIES = "libraries/*Hashing.sol"
_STRING_CONSTANT = re.compile(r'string\s+internal\s+constant\s+(\w+)\s*=\s*((?:"[^"]*"\s*)+);')
_TYPEHASH = re.compile(r"bytes32\s+(?:internal|private)\s+constant\s+(\w+_TYPEHASH)\s*=([^;]*);")
_TYPE = re.compile(r"(\w+)\(([^()]*)\)")


def type_strings(sources_dir: Path = SOURCES_DIR) -> dict[str, str]:
    """Return the EIP-712 type string each `*Hashing.sol` library hashes into a TYPEHASH constant.

    A TYPEHASH is `keccak256` of string literals and `string constant`s (`RANGE_TYPE`, or
    `RequestHashing.RANGE_TYPE` from another library), concatenated: the canonical encodeType
    `Primary(fields)Sub(fields)...`. Keyed by the constant's name.
    """
    files = sorted(sources_dir.glob(_LIBRARIES))
    constants: dict[str, str] = {}
    for path in files:
        for name, literals in _STRING_CONSTANT.findall(path.read_text()):
            constants[name] = "".join(re.findall(r'"([^"]*)"', literals))
    out: dict[str, str] = {}
    for path in files:
        for name, expr in _TYPEHASH.findall(path.read_text()):
            parts = re.findall(r'"([^"]*)"|\b(?:\w+\.)?([A-Z][A-Z0-9_]*_TYPE)\b', expr)
            out[name] = "".join(literal or constants[ref] for literal, ref in parts)
    return out


def _parse_fields(spec: str) -> list[dict[str, str]]:
    return [dict(zip(("type", "name"), part.split(" "), strict=True)) for part in spec.split(",")]


def signing_types(sources_dir: Path = SOURCES_DIR) -> dict[str, list[dict[str, str]]]:
    """Return every struct type the hashing libraries sign, by name, parsed from their strings.

    A struct named in two type strings must be declared the same in both. EIP712Domain is the
    domain's type, not a request's, and is left out.
    """
    types: dict[str, list[dict[str, str]]] = {}
    for constant, string in type_strings(sources_dir).items():
        for name, spec in _TYPE.findall(string):
            fields = [{"name": f["name"], "type": f["type"]} for f in _parse_fields(spec)]
            if types.setdefault(name, fields) != fields:
                raise CompileError(f"{constant} declares {name} unlike another type string")
    types.pop("EIP712Domain", None)
    return types


def signed_primary_types(sources_dir: Path = SOURCES_DIR) -> list[str]:
    """Return the primary types of the TYPEHASH constants that name a signer, in source order."""
    out: list[str] = []
    for string in type_strings(sources_dir).values():
        name, spec = _TYPE.match(string).groups()  # type: ignore[union-attr]
        if spec.startswith("address signer,") and name not in out:
            out.append(name)
    return out


def signing_contract(abi: list[dict[str, Any]], sources_dir: Path = SOURCES_DIR) -> dict[str, Any]:
    """Return what node/contracts.py signs and relays: the types and each signed type's call.

    Written to `node/signing_types.json` with the packaged ABI (`scripts/packaged_abi.py`), so the
    installed package needs no Solidity source to sign. A call's shape comes from the ABI: the
    function after the primary type (`UpdateProject` -> `updateProject`), whether it takes the
    record of a pending transfer (decision D46) and whether it takes block hints.
    """
    functions = {i["name"]: i for i in abi if i["type"] == "function"}
    calls: dict[str, dict[str, Any]] = {}
    for name in signed_primary_types(sources_dir):
        function = _PROTOCOL_FUNCTIONS.get(name, name[0].lower() + name[1:])
        if function not in functions:
            raise CompileError(f"no function {function} relays the signed type {name}")
        inputs = functions[function]["inputs"]
        calls[name] = {
            "function": function,
            "pending_record": any(
                i.get("internalType") == "struct PendingTransfer" for i in inputs
            ),
            "block_hints": inputs[-1]["type"] == "uint64[]",
        }
    return {"types": signing_types(sources_dir), "calls": calls}
