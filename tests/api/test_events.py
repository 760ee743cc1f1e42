"""The event feed over HTTP on SQLite and PostgreSQL: order, cursors, polling, filters, scope."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from indexer.models import Event, table_of
from node.devchain import DevChain
from tests.api.helpers import DATABASES, World, assert_problem, login, serve_world, stranger

_FIELDS = {"event_id", "type", "block_number", "log_index", "tx_hash", "block_hash", "data"}


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """Yield the read scenario once per database."""
    yield from serve_world(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("events")
    )


@pytest.fixture(scope="module")
def admin(world: World) -> dict[str, str]:
    """Return the registry administrator's auth headers."""
    return login(world.client, world.keys["registry_admin"])


def _stored_events(world: World) -> int:
    events = table_of(Event)
    with world.node.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def _read_to_the_end(
    world: World, headers: dict[str, str], cursor: str | None = None, **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    """Page until a page comes back empty; return the items and the cursor to poll with."""
    items: list[dict[str, Any]] = []
    for _ in range(1000):
        body = world.get("/v1/events", headers, **params, **({"cursor": cursor} if cursor else {}))
        if not body["items"]:
            assert body["next_cursor"] == cursor  # an empty page keeps the position
            return items, cursor
        items += body["items"]
        assert body["next_cursor"] is not None  # a feed always says where to poll from
        cursor = body["next_cursor"]
    raise AssertionError("the feed did not end")


def test_the_feed_is_every_event_in_chain_order(world: World, admin: dict[str, str]) -> None:
    items, cursor = _read_to_the_end(world, admin, limit=7)
    assert cursor is not None
    assert len(items) == _stored_events(world)
    ids = [e["event_id"] for e in items]
    assert ids == sorted(set(ids))
    positions = [(e["block_number"], e["log_index"]) for e in items]
    assert positions == sorted(positions)
    assert all(set(e) == _FIELDS for e in items)
    assert {"AccountOpened", "UnitsIssued", "BlockChanged", "UnitsCancelled"} <= {
        e["type"] for e in items
    }
    assert items == world.get("/v1/events", admin, limit=1000)["items"]


def test_polling_with_the_last_cursor_returns_only_new_events(
    world: World, admin: dict[str, str]
) -> None:
    _, cursor = _read_to_the_end(world, admin, limit=50)
    registry = world.node.registry
    keys = world.keys
    outcome = registry.relayer.relay(
        registry.signer.define_label(
            keys["registry_admin"], "POLLED", keys["label_authority"].address
        )
    )
    assert outcome.ok
    world.node.wait_indexed(registry.client.block_number())
    new, _ = _read_to_the_end(world, admin, cursor, limit=50)
    assert [e["type"] for e in new] == ["RequestExecuted", "LabelDefined"]
    assert new[1]["data"]["authority"] == keys["label_authority"].address
    assert new[1]["tx_hash"] == outcome.tx_hash


def test_filter_by_type_and_transaction(world: World, admin: dict[str, str]) -> None:
    issued = world.get("/v1/events", admin, type="UnitsIssued")["items"]
    assert [e["data"]["issuance_id"] for e in issued] == sorted(world.issuance_ids.values())
    assert {e["type"] for e in issued} == {"UnitsIssued"}
    cancelled = world.get("/v1/events", admin, type="UnitsCancelled", limit=1)
    assert cancelled["items"][0]["data"]["cancellation_id"] == world.cancelled
    tx_hash = cancelled["items"][0]["tx_hash"]
    in_tx = world.get("/v1/events", admin, tx_hash=tx_hash)["items"]
    assert in_tx[0]["type"] == "RequestExecuted"
    assert in_tx[0]["data"]["signer"] == world.keys["ar_1"].address
    assert "UnitsCancelled" in [e["type"] for e in in_tx]
    assert {e["tx_hash"] for e in in_tx} == {tx_hash}
    assert (
        world.get("/v1/events", admin, tx_hash=tx_hash.upper().replace("0X", "0x"))["items"]
        == in_tx
    )


def test_newest_first(world: World, admin: dict[str, str]) -> None:
    oldest_first = world.get("/v1/events", admin, limit=1000)["items"]
    newest_first, _ = _read_to_the_end(world, admin, sort="-event_id", limit=25)
    assert newest_first == oldest_first[::-1]


def test_the_feed_as_csv(world: World, admin: dict[str, str]) -> None:
    items = world.get("/v1/events", admin, limit=20)["items"]
    response = world.client.get("/v1/events", params={"format": "csv", "limit": 20}, headers=admin)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-next-cursor"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["event_id"]) for r in rows] == [e["event_id"] for e in items]
    assert [json.loads(r["data"]) for r in rows] == [e["data"] for e in items]


def test_only_the_administrator_reads_the_feed(world: World) -> None:
    assert_problem(world.client.get("/v1/events"), 401, "UNAUTHENTICATED")
    junk = {"Authorization": "Bearer junk"}
    assert_problem(world.client.get("/v1/events", headers=junk), 401, "UNAUTHENTICATED")
    for key in (world.keys["ar_1"], world.keys["issuer"], stranger()):
        response = world.client.get("/v1/events", headers=login(world.client, key))
        assert_problem(response, 403, "NOT_AUTHORISED")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"type": "Minted"}, "INVALID_FILTER"),
        ({"type": ""}, "INVALID_FILTER"),
        ({"name": "UnitsIssued"}, "INVALID_FILTER"),
        ({"sort": "block_number"}, "INVALID_SORT"),
        ({"limit": "0"}, "INVALID_LIMIT"),
        ({"limit": "1001"}, "INVALID_LIMIT"),
        ({"cursor": "eyJ"}, "INVALID_CURSOR"),
        ({"cursor": "bm90IGpzb24"}, "INVALID_CURSOR"),
        ({"min_block": "1.5"}, "INVALID_MIN_BLOCK"),
    ],
)
def test_bad_feed_parameters(
    world: World, admin: dict[str, str], params: dict[str, str], code: str
) -> None:
    assert_problem(world.client.get("/v1/events", params=params, headers=admin), 422, code)


def test_event_data_follows_the_api_conventions(world: World, admin: dict[str, str]) -> None:
    """snake_case keys, AU-… account ids, enum values as words, identifiers as text (F2)."""
    items = world.get("/v1/events", admin, limit=1000)["items"]
    assert items
    for event in items:
        for key in event["data"]:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", key), (event["type"], key)
        for key, value in event["data"].items():
            if key == "account_id" or key.endswith("_account"):
                assert value is None or re.fullmatch(r"AU-[1-9][0-9]*", value), (event, key)
    by_type = {e["type"]: e["data"] for e in reversed(items)}
    assert by_type["BlockChanged"]["state"] in {"held", "pending", "cancelled", "reserved"}
    assert by_type["AccountOpened"]["kind"] in {"holding", "custodial"}
    assert by_type["AccountOpened"]["approval_policy"] in {"two_person", "single"}
    issued = by_type["UnitsIssued"]
    assert issued["project_id"] in {
        p["project_id"] for p in world.get("/v1/registers/projects")["items"]
    }
    assert issued["unit_type"].isalnum() and isinstance(issued["vintage"], int)
    assert by_type["UnitsCancelled"]["purpose"] in {"voluntary", "ndc_use", "omge", "oimp"}
