"""Every read in /openapi.json follows API.md's conventions; none is named here.

An endpoint added tomorrow is covered without editing this file:
- every field name in every response schema is snake_case;
- every read's answer reports `as_of_block` (lists in the page shape `items`, `next_cursor`,
  `as_of_block`), except the few listed with the reason they are not mirror reads;
- every list without path parameters is fetched as the registry administrator: it has the page
  shape, refuses an unknown parameter with 422, and every account id in it has the `AU-…` form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.devchain import DevChain
from tests.api.helpers import World, assert_problem, login, serve_world

_SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_ACCOUNT_ID = re.compile(r"AU-[1-9][0-9]*")
_PAGE = {"items", "next_cursor", "as_of_block"}

# Reads that are not answered from the mirror, so they have no `as_of_block` to report.
NOT_MIRROR_READS = {
    "/v1/health": "reports the chain's and the mirror's blocks itself",
    "/v1/chain": "static deployment facts",
    "/v1/requests/{request_id}": "the request journal, which runs ahead of the mirror",
    "/v1/article6/pull/key": "the node's response-signing key",
    "/v1/article6/pull/holdings": "a signed document with its own as_of_block inside",
    "/v1/article6/pull/actions": "a signed document with its own as_of_block inside",
    "/v1/article6/aef": "the AEF report, which carries its own heading block",
}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _json_schema(spec: dict[str, Any], get: dict[str, Any]) -> dict[str, Any] | None:
    content = get.get("responses", {}).get("200", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = _resolve(spec, content["application/json"].get("schema", {}))
    if "anyOf" in schema:  # Page | Response (CSV) unions: the JSON branch
        branches = [_resolve(spec, s) for s in schema["anyOf"]]
        schema = next((b for b in branches if b.get("properties")), branches[0])
    return schema


def _names(spec: dict[str, Any], schema: dict[str, Any], seen: set[str]) -> Iterator[str]:
    for branch in schema.get("anyOf", []) + schema.get("allOf", []):
        yield from _names(spec, _resolve(spec, branch), seen)
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref not in seen:
            seen.add(ref)
            yield from _names(spec, _resolve(spec, schema), seen)
        return
    for name, sub in schema.get("properties", {}).items():
        yield name
        yield from _names(spec, sub, seen)
    if isinstance(schema.get("items"), dict):
        yield from _names(spec, schema["items"], seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _names(spec, extra, seen)


def _reads(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, item["get"])
        for path, item in spec["paths"].items()
        if "get" in item and path.startswith("/v1/")
    ]


def _account_values(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _account_values(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _account_values(v, key)
    elif key == "account_id" or key.endswith("_account"):
        yield key, value


@pytest.fixture(scope="module")
def world(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The read scenario on SQLite."""
    yield from serve_world("sqlite", session_chain, dev_keys, tmp_path_factory.mktemp("conv"))


def test_every_response_field_is_snake_case(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    reads = _reads(spec)
    assert len(reads) > 25
    for path, get in reads:
        schema = _json_schema(spec, get)
        if schema is None:
            continue
        bad = [n for n in _names(spec, schema, set()) if not _SNAKE.fullmatch(n)]
        assert bad == [], (path, bad)


def test_every_mirror_read_reports_as_of_block(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    missing = []
    for path, get in _reads(spec):
        schema = _json_schema(spec, get)
        if schema is None or path in NOT_MIRROR_READS:
            continue
        if "as_of_block" not in schema.get("properties", {}):
            missing.append(path)
    assert missing == []
    assert set(NOT_MIRROR_READS) <= {path for path, _ in _reads(spec)}  # no stale exemption


def test_every_list_has_the_page_shape_and_account_ids_in_one_form(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    admin = login(world.client, world.keys["registry_admin"])
    lists = [
        path
        for path, get in _reads(spec)
        if "{" not in path
        and (schema := _json_schema(spec, get)) is not None
        and set(schema.get("properties", {})) == _PAGE
    ]
    assert {"/v1/accounts", "/v1/events", "/v1/article6/parties"} <= set(lists)
    required = {
        path: {
            p["name"]: p
            for p in get.get("parameters", [])
            if p.get("in") == "query" and p.get("required")
        }
        for path, get in _reads(spec)
    }
    checked = 0
    for path in lists:
        if required[path]:
            continue  # a list that needs arguments (a Party) is covered by its own tests
        params: dict[str, str] = {}
        response = world.client.get(path, params=params, headers=admin)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert set(body) == _PAGE, path
        assert body["as_of_block"] >= world.head, path
        for key, value in _account_values(body["items"]):
            assert value is None or _ACCOUNT_ID.fullmatch(str(value)), (path, key, value)
        unknown = world.client.get(path, params={**params, "no_such": "x"}, headers=admin)
        assert_problem(unknown, 422, "INVALID_FILTER")
        checked += 1
    assert checked >= 8, checked
