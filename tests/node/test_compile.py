"""Compilation through py-solc-x: sizes under the limit, cached artifacts, the merged ABI."""

from __future__ import annotations

import pytest
import solcx

from node.compile import compile_contracts, registry_abi

EIP170_LIMIT = 24_576


def test_every_contract_fits_the_code_size_limit() -> None:
    for artifact in compile_contracts().values():
        assert 0 < artifact.code_size <= EIP170_LIMIT, artifact.name


def test_second_compile_comes_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    first = compile_contracts()

    def no_compiler(*args: object, **kwargs: object) -> None:
        raise AssertionError("unchanged sources must not reach the compiler")

    monkeypatch.setattr(solcx, "compile_standard", no_compiler)
    assert compile_contracts() == first


def test_registry_abi_reaches_module_functions_through_the_core() -> None:
    functions = {
        item["name"] for item in registry_abi(compile_contracts()) if item["type"] == "function"
    }
    assert {
        "openAccount",
        "issue",
        "initiateTransfer",
        "approveTransfer",
        "cancel",
        "batch",
    } <= functions
    constructors = [
        item for item in registry_abi(compile_contracts()) if item["type"] == "constructor"
    ]
    assert len(constructors) == 1
