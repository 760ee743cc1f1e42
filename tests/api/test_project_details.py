"""Correcting a project's name and methodology over HTTP (`POST /v1/admin/projects/{id}/details`).

The worked example of docs/adding-an-operation.md, end to end on SQLite and on PostgreSQL: the
issuer prepares, signs and submits through the SDK; the contract applies it and emits
ProjectUpdated; the reducer updates the projects row, so the public register and the explorer
show the new name; an unknown project and an empty name are refused with their stable codes and
change nothing; the audit, which replays the same reducer, stays clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from indexer.audit import audit
from indexer.models import Project, table_of
from node.devchain import DevChain
from sdk import RegistryClient, RegistryError
from tests.api.conftest import ApiNode, build_node
from tests.api.helpers import DATABASES, assert_problem, throwaway_postgres

_PROJECT = "ERF-DETAILS"


@pytest.fixture(scope="module", params=DATABASES)
def node(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiNode]:
    """Yield an API node with one registered project, once per database."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_postgres()) if request.param == "postgresql" else None
        nodes = build_node(
            session_chain,
            dev_keys,
            tmp_path_factory.mktemp(f"details-{request.param}"),
            database_url=url,
        )
        node = next(nodes)
        registered = _sdk(node, "issuer").write(
            "admin/projects",
            {
                "project_id": _PROJECT,
                "name": "Mulga regneration, Burke",
                "methodology": "HIR-2031",
                "country": "AU",
            },
        )
        assert registered["status"] == "indexed", registered
        yield node
        next(nodes, None)


def _sdk(node: ApiNode, role: str) -> RegistryClient:
    return RegistryClient(node.client, node.keys[role], domain="testserver")


def _rows(node: ApiNode) -> list[tuple[Any, ...]]:
    projects = table_of(Project)
    with node.services.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(projects).order_by(projects.c.id))]


def _registered(node: ApiNode) -> dict[str, Any]:
    items = node.client.get("/v1/registers/projects").json()["items"]
    found: dict[str, Any] = next(p for p in items if p["project_id"] == _PROJECT)
    return found


def test_the_issuer_corrects_the_name_and_methodology(node: ApiNode) -> None:
    before = _registered(node)
    done = _sdk(node, "issuer").write(
        f"admin/projects/{_PROJECT}/details",
        {"name": "Mulga regeneration, Bourke", "methodology": "HIR-2013"},
    )
    assert done["status"] == "indexed", done
    assert done["result"] == {
        "project_id": _PROJECT,
        "name": "Mulga regeneration, Bourke",
        "methodology": "HIR-2013",
    }
    after = _registered(node)
    assert after["name"] == "Mulga regeneration, Bourke"
    assert after["methodology"] == "HIR-2013"
    # The id and the country stay.
    assert after["project_id"] == before["project_id"] and after["country"] == before["country"]
    page = node.client.get(f"/projects/{_PROJECT}")
    assert page.status_code == 200
    assert "Mulga regeneration, Bourke" in page.text and "regneration" not in page.text


def test_the_administrator_may_correct_it_too(node: ApiNode) -> None:
    # Through the SDK's typed method this time.
    done = _sdk(node, "registry_admin").admin.update_project(
        _PROJECT, name="Mulga regeneration, Bourke NSW", methodology="HIR-2013"
    )
    assert done.status == "indexed", done
    assert _registered(node)["name"] == "Mulga regeneration, Bourke NSW"


def test_an_unknown_project_is_refused_and_changes_nothing(node: ApiNode) -> None:
    before = _rows(node)
    with pytest.raises(RegistryError) as refused:
        _sdk(node, "issuer").prepare(
            "admin/projects/ERF-NOWHERE/details", {"name": "Anything", "methodology": ""}
        )
    assert refused.value.code == "PROJECT_NOT_FOUND"
    response = node.client.post(
        "/v1/admin/projects/ERF-NOWHERE/details/prepare",
        json={"signer": node.keys["issuer"].address, "name": "Anything"},
    )
    assert_problem(response, 404, "PROJECT_NOT_FOUND")
    assert _rows(node) == before


def test_a_signed_request_for_an_unknown_project_is_refused_at_submit(node: ApiNode) -> None:
    # Prepared for the real project, then altered to name another one and signed: submit runs the
    # same precheck and refuses before anything reaches the chain.
    client = _sdk(node, "issuer")
    typed = client.prepare(f"admin/projects/{_PROJECT}/details", {"name": "X", "methodology": ""})
    typed["message"]["projectId"] = "0x" + b"ERF-NOWHERE".ljust(32, b"\0").hex()
    before = _rows(node)
    with pytest.raises(RegistryError) as refused:
        client.submit("admin/projects/ERF-NOWHERE/details", typed, client.sign(typed))
    assert refused.value.code == "PROJECT_NOT_FOUND"
    assert _rows(node) == before


def test_an_empty_name_and_a_stranger_are_refused(node: ApiNode) -> None:
    before = _rows(node)
    response = node.client.post(
        f"/v1/admin/projects/{_PROJECT}/details/prepare",
        json={"signer": node.keys["issuer"].address, "name": ""},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    # A signed message with an empty name is refused at submit with the contract's error.
    client = _sdk(node, "issuer")
    typed = client.prepare(f"admin/projects/{_PROJECT}/details", {"name": "X"})
    typed["message"]["name"] = ""
    with pytest.raises(RegistryError) as empty:
        client.submit(f"admin/projects/{_PROJECT}/details", typed, client.sign(typed))
    assert empty.value.code == "EMPTY_PROJECT_NAME"  # EmptyProjectName
    with pytest.raises(RegistryError) as refused:
        _sdk(node, "ar_1").prepare(f"admin/projects/{_PROJECT}/details", {"name": "Mine"})
    assert refused.value.code == "NOT_AUTHORISED"  # MissingRole
    assert _rows(node) == before


def test_the_audit_replays_the_update_and_stays_clean(node: ApiNode) -> None:
    registry = node.registry
    node.wait_indexed(registry.client.block_number())
    report = audit(node.services.engine, registry.client, registry.deployment, registry.abi, seed=3)
    assert report.ok, report.differences
    assert report.compared["projects"] >= 1
