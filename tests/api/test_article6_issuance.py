"""Article 6.4 issuance over HTTP: the worked examples, each part's serial ranges on the chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.contracts import UnitState
from node.devchain import DevChain
from tests.api.article6_world import A6World, indexed, serve_a6_world
from tests.api.helpers import DATABASES, login


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[A6World]:
    """Yield the Article 6 world on SQLite, then on PostgreSQL."""
    yield from serve_a6_world(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("a6-issuance")
    )


def _issue(world: A6World, quantity: int, forwards: list[dict[str, Any]]) -> dict[str, Any]:
    return indexed(
        world.write(
            "issuer",
            "article6/issuances",
            {
                "project_id": world.project,
                "vintage": 2025,
                **world.monitoring_period(),
                "quantity": quantity,
                "forwards": forwards,
            },
        )
    )


def _block(world: A6World, start: int) -> tuple[int, int, int]:
    """Return (end, account number, state) of the chain's block that starts at `start`."""
    block, _labels = world.node.registry.contract.functions.getBlock(start).call()
    return int(block[0]), int(block[1]), int(block[4])


def _number(account_id: str) -> int:
    return int(account_id.split("-")[1])


@pytest.mark.parametrize(
    ("issued", "share_of_proceeds", "omge", "forwarded"),
    [(1000, 50, 20, 930), (1001, 51, 21, 929), (19, 1, 1, 17)],
)
def test_worked_examples(
    world: A6World, issued: int, share_of_proceeds: int, omge: int, forwarded: int
) -> None:
    result = _issue(world, issued, [{"account_id": world.accounts["participant"]}])
    (whole,) = result["ranges"]
    start = whole["start"]
    assert whole["end"] - start + 1 == issued == result["quantity"]
    accounts = world.accounts
    assert result["pending_account"] == accounts["mechanism_pending"]
    # Consecutive serials in order: share of proceeds, OMGE, then the forward.
    assert result["share_of_proceeds"] == {
        "account_id": accounts["mechanism_share_of_proceeds"],
        "quantity": share_of_proceeds,
        "ranges": [{"start": start, "end": start + share_of_proceeds - 1}],
    }
    omge_start = start + share_of_proceeds
    assert result["omge"]["account_id"] == accounts["mechanism_omge_cancellation"]
    assert result["omge"]["quantity"] == omge
    assert result["omge"]["ranges"] == [{"start": omge_start, "end": omge_start + omge - 1}]
    forward_start = omge_start + omge
    assert result["forwarded"] == [
        {
            "account_id": accounts["participant"],
            "quantity": forwarded,
            "ranges": [{"start": forward_start, "end": whole["end"]}],
        }
    ]
    assert result["forwarded_quantity"] == forwarded
    # The chain holds exactly these parts; OMGE is cancelled under the reported cancellation.
    assert _block(world, start) == (
        start + share_of_proceeds - 1,
        _number(accounts["mechanism_share_of_proceeds"]),
        UnitState.HELD,
    )
    assert _block(world, omge_start) == (
        omge_start + omge - 1,
        _number(accounts["mechanism_omge_cancellation"]),
        UnitState.CANCELLED,
    )
    assert _block(world, forward_start) == (
        whole["end"],
        _number(accounts["participant"]),
        UnitState.HELD,
    )
    # The mirror agrees: the cancellation is an OMGE cancellation of exactly that range.
    admin = login(world.node.client, world.keys["registry_admin"])
    cancelled = world.node.client.get(
        f"/v1/accounts/{accounts['mechanism_omge_cancellation']}/transactions",
        params={"type": "cancellation"},
        headers=admin,
    ).json()["items"]
    ours = [
        c
        for c in cancelled
        if c["transaction_id"] == f"cancellation-{result['omge']['cancellation_id']}"
    ]
    assert [c["ranges"] for c in ours] == [[{"start": omge_start, "end": omge_start + omge - 1}]]


def test_forwards_follow_the_participants_instructions(world: A6World) -> None:
    accounts = world.accounts
    result = _issue(
        world,
        1001,
        [
            {"account_id": accounts["participant_2"], "quantity": 400},
            {"account_id": accounts["participant"]},
        ],
    )
    (whole,) = result["ranges"]
    first = whole["start"] + 51 + 21
    assert result["forwarded"] == [
        {
            "account_id": accounts["participant_2"],
            "quantity": 400,
            "ranges": [{"start": first, "end": first + 399}],
        },
        {
            "account_id": accounts["participant"],
            "quantity": 529,
            "ranges": [{"start": first + 400, "end": whole["end"]}],
        },
    ]
