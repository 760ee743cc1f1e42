"""Every public register list follows the read conventions, found from /openapi.json.

No list is named here: each GET under /v1/registers whose answer is a page (`items`,
`next_cursor`, `as_of_block`) is checked, so a new register is covered the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.devchain import DevChain
from tests.api.helpers import assert_problem, serve
from tests.api.public_world import PublicWorld, build_public_world

_SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _page_lists(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return (path, item schema) of every register GET whose 200 answer is a page."""
    found = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if not path.startswith("/v1/registers/") or "{" in path or get is None:
            continue
        content = get["responses"]["200"]["content"].get("application/json", {})
        schema = _resolve(spec, content.get("schema", {}))
        if set(schema.get("properties", {})) == {"items", "next_cursor", "as_of_block"}:
            item = _resolve(spec, schema["properties"]["items"]["items"])
            found.append((path, item))
    return found


def _field_names(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    names = []
    for name, sub in schema.get("properties", {}).items():
        names.append(name)
        sub = _resolve(spec, sub)
        if sub.get("type") == "array" and "items" in sub:
            names += _field_names(spec, _resolve(spec, sub["items"]))
        names += _field_names(spec, sub)
    return names


@pytest.fixture(scope="module")
def public(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PublicWorld]:
    """The public scenario on SQLite: every register has rows."""
    yield from serve(
        build_public_world, "sqlite", session_chain, dev_keys, tmp_path_factory.mktemp("conv")
    )


def test_every_register_list_follows_the_conventions(public: PublicWorld) -> None:
    node = public.world.node
    client = node.client
    spec = client.get("/openapi.json").json()
    lists = _page_lists(spec)
    paths = [path for path, _ in lists]
    # The registers known today are among them; new ones join without editing this test.
    assert {"/v1/registers/projects", "/v1/registers/cancellations"} <= set(paths)
    head = node.registry.client.block_number()
    node.wait_indexed(head)
    for path, item in lists:
        fields = _field_names(spec, item)
        assert all(_SNAKE.fullmatch(f) for f in fields), (path, fields)
        body = client.get(path, params={"limit": 1}).json()  # public: no token
        assert set(body) == {"items", "next_cursor", "as_of_block"}, path
        assert body["as_of_block"] >= head, path
        assert len(body["items"]) == 1 and body["next_cursor"], path  # every register has rows
        for record in body["items"]:
            assert set(record) == set(item["properties"]), path
        csv = client.get(path, params={"format": "csv", "limit": 1})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert int(csv.headers["x-as-of-block"]) >= head, path
        for params, code in (
            ({"no_such_filter": "x"}, "INVALID_FILTER"),
            ({"limit": "0"}, "INVALID_LIMIT"),
            ({"cursor": "not-a-cursor"}, "INVALID_CURSOR"),
            ({"sort": "no_such_field"}, "INVALID_SORT"),
            ({"min_block": "soon"}, "INVALID_MIN_BLOCK"),
            ({"format": "pdf"}, "INVALID_FORMAT"),
        ):
            assert_problem(client.get(path, params=params), 422, code)
