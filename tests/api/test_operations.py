"""Every operation has one precheck, and prepare and submit refuse the same requests with it."""

from __future__ import annotations

import inspect
import re
import textwrap
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from sqlalchemy import func, select

from api.intents import Resolver
from api.models import JournalEntry
from api.operations.catalogue import (
    OPERATION_TYPES,
    OPERATIONS,
    PRECHECKS,
    RESULTS,
    SUBJECTS,
)
from api.operations.edge import errors_of
from api.operations.refusals import code_of
from api.problems import CONTRACT_ERROR_CODES, STATUS_OF
from api.routes import ROUTERS, records
from node.contracts import REQUEST_TYPES
from sdk import RegistryClient
from tests.api.conftest import ApiNode
from tests.api.helpers import assert_problem


def test_every_request_type_has_an_operation_and_a_precheck() -> None:
    assert set(PRECHECKS) == set(REQUEST_TYPES), set(REQUEST_TYPES) ^ set(PRECHECKS)
    assert set(OPERATION_TYPES.values()) == set(REQUEST_TYPES)
    assert all(callable(op.precheck) and op.summary for op in OPERATIONS)


def test_every_request_type_has_a_result_reader_and_every_decision_its_subject() -> None:
    assert set(RESULTS) == set(REQUEST_TYPES)
    assert all(callable(op.result) for op in OPERATIONS)
    decided = {op.lock.field for op in OPERATIONS if op.lock is not None}
    assert decided <= {s.field for s in SUBJECTS.values()}
    assert all(op.subject is not None for op in OPERATIONS if op.lock is not None)


def test_records_that_declare_their_routes_are_served_from_them() -> None:
    declared = [op for op in OPERATIONS if op.prepare is not None]
    families = {"Escrow", "SettleEscrow", "ReleaseEscrow", "Associate", "Dissociate"}
    assert {op.primary_type for op in declared} >= families | {"RetireAssociation"}
    app = FastAPI()
    app.include_router(records.router)
    paths = app.openapi()["paths"]
    for op in declared:
        assert op.prepare is not None
        prepare = paths[f"{op.prepare.route}/prepare"]["post"]
        body = prepare["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert body.endswith(f"/{op.prepare.intent.__name__}"), (op.path, body)
        assert prepare["tags"] == op.prepare.tags and prepare["tags"][0] == op.prepare.tag
        assert paths[op.prepare.route]["post"]["summary"] == op.summary
        for name in op.prepare.params:
            assert name in {p["name"] for p in prepare["parameters"]}


def test_every_operation_has_a_submit_and_a_prepare_route() -> None:
    paths = {getattr(route, "path", "") for router in ROUTERS for route in router.routes}
    names = {getattr(route, "name", "") for router in ROUTERS for route in router.routes}
    for op in OPERATIONS:
        assert f"submit_{op.path.replace('/', '_').replace('-', '_')}" in names, op.path
    submits = [p for p in paths if not p.endswith("/prepare") and f"{p}/prepare" in paths]
    assert len(submits) >= len(OPERATIONS) - 1  # labels/apply and labels/remove share a shape


def _sign(key: LocalAccount, typed: dict[str, Any]) -> str:
    return "0x" + bytes(key.sign_message(encode_typed_data(full_message=typed)).signature).hex()


def _journal_size(node: ApiNode) -> int:
    with node.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one())


@pytest.fixture(scope="module")
def two_person(node: ApiNode) -> dict[str, Any]:
    """A two-person account with two ARs and 50 units, and a receiving account."""
    ar1, ar2 = Account.create(), Account.create()
    admin = RegistryClient(node.client, node.keys["registry_admin"], domain="testserver")
    reps = [
        {"address": ar1.address, "primary": True, "can_initiate": True, "can_approve": True},
        {"address": ar2.address, "primary": False, "can_initiate": True, "can_approve": True},
    ]
    account = admin.write("admin/accounts", {"holder_name": "Two", "representatives": reps})
    other = admin.write("admin/accounts", {"holder_name": "Other", "representatives": reps[:1]})
    issuer = RegistryClient(node.client, node.keys["issuer"], domain="testserver")
    issuer.write("admin/projects", {"project_id": "OPS-1", "name": "Ops", "country": "AU"})
    issuer.write(
        "admin/issuances",
        {
            "project_id": "OPS-1",
            "unit_type": "ACCU",
            "vintage": 2022,
            "monitoring_period_start": "2022-01-01",
            "monitoring_period_end": "2022-12-31",
            "quantity": 50,
            "to_account": account["result"]["account_id"],
        },
    )
    return {
        "account": account["result"]["account_id"],
        "other": other["result"]["account_id"],
        "ar1": ar1,
        "ar2": ar2,
    }


def test_submit_refuses_a_transfer_to_the_same_account(
    node: ApiNode, two_person: dict[str, Any]
) -> None:
    ar1 = two_person["ar1"]
    prepared = node.client.post(
        "/v1/transfers/prepare",
        json={
            "signer": ar1.address,
            "from_account": two_person["account"],
            "to_account": two_person["other"],
            "quantity": 1,
        },
    ).json()["typed_data"]
    prepared["message"]["toAccount"] = prepared["message"]["fromAccount"]
    before = _journal_size(node)
    response = node.client.post(
        "/v1/transfers", json={"typed_data": prepared, "signature": _sign(ar1, prepared)}
    )
    assert_problem(response, 422, "SAME_ACCOUNT")
    assert _journal_size(node) == before


def test_submit_refuses_an_approval_by_the_initiator(
    node: ApiNode, two_person: dict[str, Any]
) -> None:
    ar1, ar2 = two_person["ar1"], two_person["ar2"]
    seller = RegistryClient(node.client, ar1, domain="testserver")
    transfer = seller.write(
        "transfers",
        {"from_account": two_person["account"], "to_account": two_person["other"], "quantity": 2},
    )["result"]
    assert transfer["status"] == "pending"
    path = f"/v1/transfers/{transfer['transfer_id']}/approve"
    refused = node.client.post(f"{path}/prepare", json={"signer": ar1.address})
    assert_problem(refused, 403, "APPROVER_IS_INITIATOR")
    # The same refusal at submit, for typed data prepared by another AR and re-signed by the
    # initiator: prepare and submit run one check.
    typed = node.client.post(f"{path}/prepare", json={"signer": ar2.address}).json()["typed_data"]
    typed["message"]["signer"] = ar1.address
    before = _journal_size(node)
    response = node.client.post(path, json={"typed_data": typed, "signature": _sign(ar1, typed)})
    assert_problem(response, 403, "APPROVER_IS_INITIATOR")
    assert _journal_size(node) == before
    fresh = node.client.post(f"{path}/prepare", json={"signer": ar2.address}).json()
    approved = node.client.post(
        f"{path}?wait=indexed",
        json={"typed_data": fresh["typed_data"], "signature": _sign(ar2, fresh["typed_data"])},
    )
    assert approved.status_code == 200 and approved.json()["status"] == "indexed", approved.text


# -- the errors each record declares ----------------------------------------------------------

_QUOTED = re.compile(r'"([A-Za-z_]+)"')
_CALLED = re.compile(r"\b(?:(r|self)\.)?([a-z_][a-z0-9_]*)\(")


def _refusals(function: Any, seen: set[Any]) -> set[str]:
    """Return the stable codes a check can refuse with: the contract errors and codes quoted in
    its source and in that of the resolver methods and api functions it calls, transitively."""
    if function in seen or not callable(function) or not hasattr(function, "__code__"):
        return set()
    seen.add(function)
    source = textwrap.dedent(inspect.getsource(function))
    codes = {
        code_of(word)
        for word in _QUOTED.findall(source)
        if word in CONTRACT_ERROR_CODES or word in STATUS_OF
    }
    for cell in function.__closure__ or ():
        codes |= _refusals(cell.cell_contents, seen)
    for owner, name in _CALLED.findall(source):
        if owner:
            codes |= _refusals(getattr(Resolver, name, None), seen)
        else:
            found = function.__globals__.get(name)
            if getattr(found, "__module__", "").startswith("api."):
                codes |= _refusals(found, seen)
    return codes


# Codes the scan finds in a branch the operation never takes: a check shared by two operations
# (approve and rescind, a platform's signers and status) or a refusal caught by its caller.
_NOT_TAKEN = {
    "transfers/rescind": {"APPROVER_IS_INITIATOR"},
    "admin/platforms": {
        "ACCOUNT_CLOSED",
        "ACCOUNT_SUSPENDED",
        "PLATFORM_NOT_FOUND",
        "PLATFORM_SUSPENDED",
    },
    "admin/platforms/signers": {"INVALID_STATUS_CHANGE", "PLATFORM_SUSPENDED"},
    "admin/platforms/status": {
        "INVALID_PLATFORM_SIGNER",
        "PLATFORM_SIGNER_TAKEN",
        "PLATFORM_SUSPENDED",
    },
    "reservations/release": {"PLATFORM_NOT_FOUND", "PLATFORM_SUSPENDED"},
    "escrows/release": {"ACCOUNT_CANNOT_RECEIVE", "SAME_ACCOUNT"},
    "article6/transfers/rescind": {
        "ACCOUNT_CANNOT_RECEIVE",
        "APPROVER_IS_INITIATOR",
        "AUTHORIZATION_NOT_FOUND",
        "PARTY_NOT_FOUND",
        "PARTY_NOT_IN_APPROACH",
    },
}


def test_every_record_declares_the_codes_its_precheck_can_refuse_with() -> None:
    for op in OPERATIONS:
        declared = {code for codes in errors_of(op, submit=True).values() for code in codes}
        refused = _refusals(op.precheck, set())
        assert refused, f"{op.path}: the scan found no refusal in its precheck"
        not_taken = _NOT_TAKEN.get(op.path, set())
        assert not_taken <= refused, f"{op.path}: stale exemption {not_taken - refused}"
        assert sorted(refused - declared - not_taken) == [], op.path


def test_every_error_a_record_declares_is_in_the_catalogue() -> None:
    for op in OPERATIONS:
        assert op.errors, op.path
        for error in op.errors:
            assert error in CONTRACT_ERROR_CODES or error in STATUS_OF, (op.path, error)
        assert op.codes <= set(STATUS_OF), op.path
