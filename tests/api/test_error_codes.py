"""Every revert a signed request can meet reaches the client as a stable problem code."""

from __future__ import annotations

from api.problems import CONTRACT_ERROR_CODES
from node.compile import load_artifacts, registry_abi

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


def test_every_contract_error_has_a_stable_code() -> None:
    errors = {item["name"] for item in registry_abi(load_artifacts()) if item["type"] == "error"}
    # The core's, every module's and OpenZeppelin's errors are all in the registry's ABI.
    assert {"UnitsLocked", "ProjectNotFound", "ConsentRequired", "CertificateAlreadyUsed"} <= errors
    assert {"NotItmoBlock", "IssuanceTooSmall", "ECDSAInvalidSignature"} <= errors
    assert sorted(errors - set(CONTRACT_ERROR_CODES) - UNREACHABLE) == []


def test_codes_are_upper_snake_with_an_http_status() -> None:
    for name, (code, status) in CONTRACT_ERROR_CODES.items():
        assert code.replace("_", "").isalpha() and code.isupper(), name
        assert 400 <= status < 600, name
