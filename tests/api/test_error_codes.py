"""Every revert a signed request can meet reaches the client as a stable problem code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from api.operations.refusals import code_of
from api.problems import API_CODES, CONTRACT_ERROR_CODES, HINT_ERRORS, STATUS_OF, contract_problem
from node.compile import load_artifacts, registry_abi
from node.contracts import ErrorDecoder

# Raised at deployment (the router's constructor), or by OpenZeppelin code that no relayed
# request reaches; were one ever raised, the client would get CHAIN_REVERTED.
UNREACHABLE = {
    "AccessControlBadConfirmation",
    "DuplicateSelector",
    "InvalidShortString",
    "StringTooLong",
    "StringsInsufficientHexLength",
    "UnknownFunction",
}
_CODE = re.compile(r"[A-Z]+(_[A-Z]+)*")


def _errors() -> list[dict[str, Any]]:
    return [item for item in registry_abi(load_artifacts()) if item["type"] == "error"]


def test_every_contract_error_has_a_stable_code() -> None:
    errors = {item["name"] for item in _errors()}
    # The core's, every module's and OpenZeppelin's errors are all in the registry's ABI.
    assert {"UnitsLocked", "ProjectNotFound", "ConsentRequired", "CertificateAlreadyUsed"} <= errors
    assert {"NotItmoBlock", "IssuanceTooSmall", "ECDSAInvalidSignature"} <= errors
    assert sorted(errors - set(CONTRACT_ERROR_CODES) - UNREACHABLE) == []
    # No mapping or exemption names an error the contracts no longer have (a renamed error
    # would otherwise lose its code silently), and no error is both mapped and exempted.
    assert sorted(set(CONTRACT_ERROR_CODES) - errors) == []
    assert sorted(UNREACHABLE - errors) == []
    assert sorted(UNREACHABLE & set(CONTRACT_ERROR_CODES)) == []


def test_codes_are_upper_snake_with_an_http_status() -> None:
    for name, (code, status) in CONTRACT_ERROR_CODES.items():
        assert code.replace("_", "").isalpha() and code.isupper(), name
        assert _CODE.fullmatch(code), name  # no leading, trailing or doubled underscore
        assert 400 <= status < 600, name


def test_a_code_always_comes_with_the_same_status() -> None:
    statuses: dict[str, set[int]] = {}
    for code, status in CONTRACT_ERROR_CODES.values():
        statuses.setdefault(code, set()).add(status)
    assert {code: s for code, s in statuses.items() if len(s) > 1} == {}


def test_stale_hint_errors_end_as_units_not_held() -> None:
    # The relayer resends on these (decision D1); once it gives up, the client sees UNITS_NOT_HELD,
    # or, when the unsigned part was a pending transfer's record (D46), TRANSFER_NOT_PENDING.
    assert HINT_ERRORS <= set(CONTRACT_ERROR_CODES)
    blocks = HINT_ERRORS - {"TransferRecordMismatch"}
    assert {CONTRACT_ERROR_CODES[name] for name in blocks} == {("UNITS_NOT_HELD", 409)}
    assert CONTRACT_ERROR_CODES["TransferRecordMismatch"] == ("TRANSFER_NOT_PENDING", 409)


def _zero(typ: str, components: list[dict[str, Any]] | None = None) -> Any:
    if typ.endswith("]"):
        return []
    if typ == "tuple":
        return tuple(_zero(c["type"], c.get("components")) for c in components or [])
    if typ == "address":
        return "0x" + "00" * 20
    if typ == "bool":
        return False
    if typ == "string":
        return ""
    if typ == "bytes":
        return b""
    if typ.startswith("bytes"):
        return b"\0" * int(typ[5:])
    return 0  # uintN, intN


def _abi_type(param: dict[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){typ.removeprefix('tuple')}"
    return typ


def test_each_revert_decodes_to_its_problem() -> None:
    """Revert data of every mapped error, decoded as the relayer does, yields its code."""
    abi = registry_abi(load_artifacts())
    decoder = ErrorDecoder(abi)
    for item in _errors():
        if item["name"] not in CONTRACT_ERROR_CODES:
            continue
        types = [_abi_type(i) for i in item["inputs"]]
        values = [_zero(i["type"], i.get("components")) for i in item["inputs"]]
        selector = keccak(f"{item['name']}({','.join(types)})".encode())[:4]
        decoded = decoder.decode(selector + abi_encode(types, values))
        assert decoded.name == item["name"]
        problem = contract_problem(decoded)
        assert (problem.code, problem.status) == CONTRACT_ERROR_CODES[item["name"]]
        body = problem.body()
        assert body["contract_error"]["name"] == item["name"]
        json.dumps(body)  # the problem document is JSON as it stands


def test_every_code_the_api_raises_is_in_the_catalogue_with_one_status() -> None:
    """Refusals name a code; its status comes from one catalogue (API_CODES + contract codes)."""
    root = Path(__file__).resolve().parents[2] / "api"
    literal = re.compile(r'\brefuse\(\s*"([A-Z_]+)"')
    hand_made = re.compile(r'\bProblem\(\s*\d{3}\s*,\s*"[A-Z_]+"')
    used: set[str] = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        used |= set(literal.findall(text))
        if path.name != "problems.py":
            assert not hand_made.search(text), f"{path}: write refuse(CODE, ...) instead"
    assert used, "no refusal found: the scan is broken"
    assert sorted(used - set(STATUS_OF)) == []
    assert set(API_CODES).isdisjoint(code for code, _ in CONTRACT_ERROR_CODES.values())


def test_every_domain_refusal_names_a_contract_error_or_a_code_of_the_catalogue() -> None:
    root = Path(__file__).resolve().parents[2] / "api"
    named_in = re.compile(r'\bRefusal\(\s*"([A-Za-z_]+)"')
    named: set[str] = set()
    for path in root.rglob("*.py"):
        named |= set(named_in.findall(path.read_text()))
    assert {"SameAccount", "ApproverIsInitiator", "INVALID_TYPED_DATA"} <= named
    assert sorted(named - set(CONTRACT_ERROR_CODES) - set(STATUS_OF)) == []
    assert code_of("SameAccount") == "SAME_ACCOUNT" and code_of("NONCE_USED") == "NONCE_USED"
    with pytest.raises(KeyError):
        code_of("NoSuchError")


# The domain: operation records, their prechecks and builders, and the resolver they run on.
# They raise `Refusal`; only the HTTP edge (api.operations.edge) gives a refusal its status.
_DOMAIN = [
    "api/intents.py",
    "api/article6.py",
    "api/operations/prechecks.py",
    "api/operations/interop_checks.py",
    *(f"api/operations/{name}.py" for name in ("admin", "transfers", "units", "platforms")),
    *(f"api/operations/{name}.py" for name in ("consents", "reservations", "escrows")),
    *(f"api/operations/{name}.py" for name in ("associations", "article6", "catalogue")),
]


def test_prechecks_and_the_resolver_raise_no_http_problem() -> None:
    root = Path(__file__).resolve().parents[2]
    for name in _DOMAIN:
        text = (root / name).read_text()
        for http in ("refuse(", "Problem(", "from api.problems import", "status_code"):
            assert http not in text, f"{name}: {http} (raise Refusal; the edge maps it)"
