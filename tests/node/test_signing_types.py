"""The signing types are derived from the contracts' own type strings, not written twice.

`node/signing_types.json` is generated from the EIP-712 type strings the
`contracts/src/libraries/*Hashing.sol` libraries hash into their TYPEHASH constants
(`node.compile.signing_contract`, written by `scripts/packaged_abi.py`), and node/contracts.py
builds `REQUEST_TYPES`, `PROTOCOL_TYPES`, `AUXILIARY_TYPES` and `OPERATIONS` from it. These tests
fail while the file differs from the sources, and when a derived type would encode to another
string than the library hashes. The on-chain proof that the two agree is the other tests here:
they sign typed data built from these types and the contract logs the same digest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from eth_account import Account

from indexer.independent import PACKAGED_ABI
from node.compile import (
    SOURCES_DIR,
    compile_contracts,
    registry_abi,
    signing_contract,
    signing_types,
    type_strings,
)
from node.contracts import (
    AUXILIARY_TYPES,
    OPERATIONS,
    PROTOCOL_TYPES,
    REQUEST_TYPES,
    SIGNING_TYPES,
    text_bytes32,
)
from tests.conftest import Registry


def _encode_type(types: dict[str, list[dict[str, str]]], primary: str) -> str:
    """EIP-712 encodeType: the primary type, then every type it reaches, sorted by name."""
    reached: set[str] = set()
    todo = [primary]
    while todo:
        for field in types[todo.pop()]:
            base = field["type"].removesuffix("[]")
            if base in types and base not in reached and base != primary:
                reached.add(base)
                todo.append(base)

    def one(name: str) -> str:
        return f"{name}({','.join(f['type'] + ' ' + f['name'] for f in types[name])})"

    return one(primary) + "".join(one(name) for name in sorted(reached))


def test_the_generated_signing_types_are_those_of_the_sources() -> None:
    generated = json.loads(SIGNING_TYPES.read_text(encoding="utf-8"))
    fresh = signing_contract(registry_abi(compile_contracts()))
    assert fresh == generated, "run `python -m scripts.packaged_abi` after changing a type string"


def test_the_packaged_abi_is_that_of_the_sources() -> None:
    # scripts/packaged_abi.py writes both files; neither may lag the contracts.
    packaged = json.loads(PACKAGED_ABI.read_text(encoding="utf-8"))
    assert packaged == registry_abi(compile_contracts()), "run `python -m scripts.packaged_abi`"


def test_every_derived_type_encodes_to_the_string_its_library_hashes() -> None:
    types = signing_types()
    for constant, string in type_strings().items():
        primary = string.split("(", 1)[0]
        if primary == "EIP712Domain":
            continue
        assert _encode_type(types, primary) == string, constant


def test_primary_types_sharing_a_struct_come_out_named_after_their_type_string() -> None:
    # ApproveTransfer and RescindTransfer share TransferDecisionRequest in Solidity: the type
    # string, not the struct, names the primary type.
    assert REQUEST_TYPES["ApproveTransfer"] == REQUEST_TYPES["RescindTransfer"]
    assert OPERATIONS["ApproveTransfer"].function == "approveTransfer"
    assert OPERATIONS["RescindTransfer"].function == "rescindTransfer"
    assert OPERATIONS["ApproveTransfer"].takes_pending_record
    assert OPERATIONS["Cancel"].takes_block_hints and not OPERATIONS["Issue"].takes_block_hints
    assert set(PROTOCOL_TYPES) == {"Proposal", "Answer"}
    auxiliary = {"Range", "Representative", "Forward", "InteropUnit", "ItmoTerms", "Proposal"}
    assert auxiliary == set(AUXILIARY_TYPES)


def test_a_type_string_changed_in_a_library_changes_the_derived_types(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    shutil.copytree(SOURCES_DIR / "libraries", sources / "libraries")
    library = sources / "libraries" / "RequestHashing.sol"
    text = library.read_text()
    old = "RegisterProject(address signer,bytes32 projectId,string name,string methodology,"
    assert old in text
    library.write_text(
        text.replace(old, "RegisterProject(address signer,bytes32 projectId,string methodology,")
    )
    changed = signing_types(sources)
    assert changed["RegisterProject"] != REQUEST_TYPES["RegisterProject"]
    generated = json.loads(SIGNING_TYPES.read_text(encoding="utf-8"))
    assert changed != generated["types"]


def test_update_project_is_derived_with_its_fields_in_the_type_string_order() -> None:
    assert [f["name"] for f in REQUEST_TYPES["UpdateProject"]] == [
        "signer",
        "projectId",
        "name",
        "methodology",
        "nonce",
        "deadline",
    ]
    assert OPERATIONS["UpdateProject"].function == "updateProject"
    assert not OPERATIONS["UpdateProject"].takes_block_hints


def test_update_project_signed_from_the_derived_type_verifies_on_chain(registry: Registry) -> None:
    issuer = registry.keys["issuer"]
    project = "ERF-SIGNING-TYPES"
    if not registry.contract.functions.isProjectRegistered(text_bytes32(project)).call():
        registry.relayer.relay(
            registry.signer.register_project(issuer, project, "Savana", "SFM", "AU")
        )
    fields: dict[str, Any] = {
        "projectId": "0x" + text_bytes32(project).hex(),
        "name": "Savanna",
        "methodology": "SFM 2018",
    }
    request = registry.signer.sign(issuer, "UpdateProject", fields)
    outcome = registry.relayer.relay(request)
    assert outcome.ok, outcome.error
    digest = outcome.event("RequestExecuted").args["digest"]
    assert bytes.fromhex(digest.removeprefix("0x")) == request.digest
    assert outcome.event("ProjectUpdated").args["name"] == "Savanna"


def test_a_stranger_cannot_sign_an_update(registry: Registry) -> None:
    stranger = Account.create()
    request = registry.signer.sign(
        stranger,
        "UpdateProject",
        {"projectId": "0x" + text_bytes32("ERF-NONE").hex(), "name": "X", "methodology": ""},
    )
    outcome = registry.relayer.relay(request)
    assert not outcome.ok
    assert outcome.error is not None and outcome.error.name == "MissingRole"
