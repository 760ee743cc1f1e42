"""Party sections (A6) and signed pull-and-view (A5) over HTTP.

A Party's administrators, as the chain records them, read their own section (accounts, ITMOs,
authorizations, AEF, pulls) and nothing of another Party's; the registry administrator reads
all. Pull responses verify with the published Ed25519 key, and fail once a byte changes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eth_account import Account
from eth_account.signers.local import LocalAccount

from api.responsekey import verify_response
from node.devchain import DevChain
from tests.api.article6_world import A6World, serve_a6_world
from tests.api.helpers import DATABASES, assert_problem, login


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[A6World]:
    """Yield a world where MN authorized 600 units and transferred 200 of them to JP."""
    for world in serve_a6_world(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("a6-sections")
    ):
        s = world.issued["start"]
        world.write(
            "label_authority",
            "article6/authorizations",
            {
                "party": "MN",
                "letter_id": "MN-LOA-7",
                "date": datetime.now(UTC).date().isoformat(),
                "purposes": ["ndc_use", "oimp"],
                "cooperative_approach": "JCM-MN-JP",
                "first_transfer_definition": "at_authorization",
                "account_id": world.accounts["mn_holder"],
                "quantity": 600,
            },
        )
        world.write(
            "mn_ar",
            "article6/transfers",
            {
                "from_account": world.accounts["mn_holder"],
                "to_account": world.accounts["jp_holder"],
                "ranges": [{"start": s, "end": s + 199}],
            },
        )
        yield world


def _get(world: A6World, key: str, path: str, **params: Any) -> Any:
    headers = login(world.node.client, world.keys[key]) if key else {}
    return world.node.client.get(path, params=params, headers=headers)


_SECTION_READS = [
    ("/v1/article6/aef", {"year": datetime.now(UTC).year}),
    ("/v1/article6/itmos", {}),
    ("/v1/article6/authorizations", {}),
    ("/v1/article6/pull/holdings", {}),
    ("/v1/article6/pull/actions", {}),
]


@pytest.mark.parametrize(("path", "params"), _SECTION_READS)
def test_a_party_administrator_reads_its_own_section(
    world: A6World, path: str, params: dict[str, Any]
) -> None:
    assert _get(world, "jp_admin", path, party="JP", **params).status_code == 200
    assert _get(world, "mn_admin", path, party="MN", **params).status_code == 200


@pytest.mark.parametrize(("path", "params"), _SECTION_READS)
@pytest.mark.parametrize("party", ["MN", "KR", "ZZ"])
def test_a_party_administrator_cannot_read_another_section(
    world: A6World, path: str, params: dict[str, Any], party: str
) -> None:
    # ZZ is no Party at all: refused the same way, so Parties cannot be probed.
    assert_problem(_get(world, "jp_admin", path, party=party, **params), 403, "NOT_AUTHORISED")


@pytest.mark.parametrize(("path", "params"), _SECTION_READS)
def test_the_registry_administrator_reads_every_section(
    world: A6World, path: str, params: dict[str, Any]
) -> None:
    for party in ("MN", "JP", "KR"):
        assert _get(world, "registry_admin", path, party=party, **params).status_code == 200
    assert_problem(
        _get(world, "registry_admin", path, party="ZZ", **params), 404, "PARTY_NOT_FOUND"
    )


def test_accounts_are_scoped_by_section(world: A6World) -> None:
    accounts = world.accounts
    listed = {a["account_id"] for a in _get(world, "jp_admin", "/v1/accounts").json()["items"]}
    assert listed == {accounts["jp_holder"]}
    listed = {a["account_id"] for a in _get(world, "mn_admin", "/v1/accounts").json()["items"]}
    assert listed == {accounts["mn_holder"], accounts["mn_other"]}
    for sub in ("", "/holdings", "/transactions"):
        mine = _get(world, "jp_admin", f"/v1/accounts/{accounts['jp_holder']}{sub}")
        assert mine.status_code == 200, mine.text
        theirs = _get(world, "jp_admin", f"/v1/accounts/{accounts['mn_holder']}{sub}")
        assert_problem(theirs, 403, "NOT_AUTHORISED")
    # An account that does not exist is refused like another Party's, not reported missing.
    assert_problem(_get(world, "jp_admin", "/v1/accounts/AU-999999999"), 403, "NOT_AUTHORISED")
    assert_problem(
        _get(world, "registry_admin", "/v1/accounts/AU-999999999"), 404, "ACCOUNT_NOT_FOUND"
    )


def test_a_stranger_reads_no_section(world: A6World) -> None:
    world.keys["stranger"] = Account.create()
    assert _get(world, "stranger", "/v1/accounts").json()["items"] == []
    for path, params in _SECTION_READS:
        assert_problem(_get(world, "stranger", path, party="JP", **params), 403, "NOT_AUTHORISED")


def test_parties_list_shows_administrators_only_in_scope(world: A6World) -> None:
    page = _get(world, "jp_admin", "/v1/article6/parties").json()
    assert page["next_cursor"] is None and page["as_of_block"] >= 1
    parties = {p["party"]: p for p in page["items"]}
    first = _get(world, "jp_admin", "/v1/article6/parties", limit=1).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = _get(world, "jp_admin", "/v1/article6/parties", cursor=first["next_cursor"]).json()
    assert [p["party"] for p in first["items"] + rest["items"]] == sorted(parties)
    assert_problem(_get(world, "jp_admin", "/v1/article6/parties", limit=0), 422, "INVALID_LIMIT")
    assert_problem(
        _get(world, "jp_admin", "/v1/article6/parties", colour="red"), 422, "INVALID_FILTER"
    )
    assert parties["JP"]["administrators"] == [world.keys["jp_admin"].address]
    assert parties["MN"]["administrators"] is None
    assert parties["MN"]["cooperative_approaches"] == ["JCM-MN-JP"]
    assert parties["KR"]["cooperative_approaches"] == []


def test_sections_follow_the_administrators_the_chain_records(world: A6World) -> None:
    newcomer = Account.create()
    world.keys["newcomer"] = newcomer

    def register(*admins: str) -> None:
        world.write(
            "registry_admin",
            "article6/parties",
            {
                "party": "JP",
                "registry_id": "JPN",
                "label_authority": world.keys["label_authority"].address,
                "administrators": [world.keys[a].address for a in admins],
            },
        )

    aef = ("/v1/article6/aef", {"party": "JP", "year": datetime.now(UTC).year})
    register("newcomer")
    try:
        assert _get(world, "newcomer", aef[0], **aef[1]).status_code == 200
        assert_problem(_get(world, "jp_admin", aef[0], **aef[1]), 403, "NOT_AUTHORISED")
        contract = world.node.registry.contract
        assert contract.functions.isPartyAdministrator(
            b"JP".ljust(8, b"\0"), newcomer.address
        ).call()
    finally:
        register("jp_admin")
    assert _get(world, "jp_admin", aef[0], **aef[1]).status_code == 200
    assert_problem(_get(world, "newcomer", aef[0], **aef[1]), 403, "NOT_AUTHORISED")


# -- signed pull-and-view ---------------------------------------------------------------------


def _key(world: A6World) -> dict[str, Any]:
    response = world.node.client.get("/v1/article6/pull/key")
    assert response.status_code == 200
    key: dict[str, Any] = response.json()
    assert key["algorithm"] == "Ed25519"
    return key


def _verify(public_key: str, body: bytes, signature: str) -> bool:
    """Verify with cryptography directly, as a receiving registry would."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    try:
        key.verify(base64.b64decode(signature), body)
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize("kind", ["holdings", "actions"])
def test_pull_responses_verify_with_the_published_key(world: A6World, kind: str) -> None:
    key = _key(world)
    response = _get(world, "jp_admin", f"/v1/article6/pull/{kind}", party="JP")
    assert response.status_code == 200, response.text
    body, signature = response.content, response.headers["Registry-Signature"]
    assert response.headers["Registry-Key-Id"] == key["key_id"]
    assert _verify(key["public_key"], body, signature)
    assert verify_response(key["public_key"], body, signature)
    document = json.loads(body)
    assert (document["party"], document["kind"]) == ("JP", kind)
    assert document["registry_code"] == world.node.services.registry_code
    assert document["items"], document
    s = world.issued["start"]
    if kind == "holdings":
        (block,) = document["items"]
        assert (block["start"], block["end"], block["first_transferred"]) == (s, s + 199, True)
        assert block["first_unique_identifier"] == f"JCM-MN-JP-MNG-MN-{s}-2025"
    else:
        assert [(a["action"], a["start"], a["end"]) for a in document["items"]] == [
            ("acquisition", s, s + 199)
        ]
        (action,) = document["items"]
        assert (action["vintage"], action["first_transferring_party"]) == (2025, "MN")
        assert action["first_unique_identifier"] == f"JCM-MN-JP-MNG-MN-{s}-2025"
        assert action["last_unique_identifier"] == f"JCM-MN-JP-MNG-MN-{s + 199}-2025"
    # Any byte altered, the signature no longer verifies.
    for position in (0, len(body) // 2, len(body) - 1):
        altered = bytearray(body)
        altered[position] ^= 0x01
        assert not _verify(key["public_key"], bytes(altered), signature)
        assert not verify_response(key["public_key"], bytes(altered), signature)


def test_the_aef_is_signed_too(world: A6World) -> None:
    key = _key(world)
    for output in ("json", "csv", "xlsx"):
        response = _get(
            world, "mn_admin", "/v1/article6/aef", party="MN", year=datetime.now(UTC).year,
            format=output,
        )  # fmt: skip
        assert _verify(key["public_key"], response.content, response.headers["Registry-Signature"])


def test_pull_actions_since_a_block(world: A6World) -> None:
    everything = json.loads(
        _get(world, "mn_admin", "/v1/article6/pull/actions", party="MN").content
    )
    blocks = sorted({a["block_number"] for a in everything["items"]})
    assert len(blocks) == 2  # the authorization's block, then the transfer's
    later = json.loads(
        _get(
            world, "mn_admin", "/v1/article6/pull/actions", party="MN", since_block=blocks[1]
        ).content
    )
    assert [a["action"] for a in later["items"]] == ["transfer"]
    assert [a["action"] for a in everything["items"]] == [
        "authorization",
        "first_transfer",
        "transfer",
    ]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"format": "csv"}, 422, "INVALID_FORMAT"),
        ({"since_block": "-1"}, 422, "INVALID_FILTER"),
        ({"limit": "0"}, 422, "INVALID_LIMIT"),
        ({"colour": "red"}, 422, "INVALID_FILTER"),
    ],
)
def test_bad_pull_requests(world: A6World, params: dict[str, Any], status: int, code: str) -> None:
    response = _get(world, "jp_admin", "/v1/article6/pull/actions", party="JP", **params)
    assert_problem(response, status, code)
