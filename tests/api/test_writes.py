"""Every write operation end to end over HTTP: prepare -> sign -> submit -> indexed, via the SDK."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from api.models import JournalEntry
from indexer.models import table_of
from node.contracts import UnitState, text_bytes32
from sdk import RegistryClient, RegistryError
from tests.api.conftest import ApiNode


def sdk(node: ApiNode, key: LocalAccount) -> RegistryClient:
    """Return an SDK client over the test app, acting as a key."""
    return RegistryClient(node.client, key, domain="testserver")


def indexed(request: dict[str, Any]) -> dict[str, Any]:
    """Assert a request resource is indexed and return its result."""
    assert request["status"] == "indexed", request
    assert request["tx_hash"] and request["block_number"]
    result: dict[str, Any] = request["result"]
    return result


@pytest.fixture(scope="module")
def actors(node: ApiNode) -> dict[str, LocalAccount]:
    """Return the dev roles plus fresh keys for two ARs of a seller and one of a buyer."""
    return {
        **node.keys,
        "seller_ar1": Account.create(),
        "seller_ar2": Account.create(),
        "buyer_ar": Account.create(),
    }


@pytest.fixture(scope="module")
def market(node: ApiNode, actors: dict[str, LocalAccount]) -> dict[str, Any]:
    """Open a seller (two-person) and a buyer (single) account and issue 1,000 units."""
    admin = sdk(node, actors["registry_admin"])
    seller = indexed(
        admin.write(
            "admin/accounts",
            {
                "holder_name": "Savanna Carbon Pty Ltd",
                "party": "AU",
                "representatives": [
                    {"address": actors["seller_ar1"].address, "primary": True},
                    {"address": actors["seller_ar2"].address},
                ],
            },
        )
    )["account_id"]
    buyer = indexed(
        admin.write(
            "admin/accounts",
            {
                "holder_name": "Buyer Energy Ltd",
                "approval_policy": "single",
                "representatives": [{"address": actors["buyer_ar"].address, "primary": True}],
            },
        )
    )["account_id"]
    issuer = sdk(node, actors["issuer"])
    project = indexed(
        issuer.write(
            "admin/projects",
            {
                "project_id": "ERF-101",
                "name": "Arnhem savanna burning",
                "methodology": "Savanna fire management 2018",
                "country": "AU",
            },
        )
    )["project_id"]
    issued = indexed(
        issuer.write(
            "admin/issuances",
            {
                "project_id": project,
                "unit_type": "ACCU",
                "vintage": 2024,
                "monitoring_period_start": "2024-01-01",
                "monitoring_period_end": "2024-12-31",
                "quantity": 1_000,
                "to_account": seller,
            },
        )
    )
    return {"seller": seller, "buyer": buyer, "project": project, "issuance": issued}


def _block(node: ApiNode, start: int) -> tuple[Any, ...]:
    block, _labels = node.registry.contract.functions.getBlock(start).call()
    return tuple(block)


def test_open_account_project_and_issuance(node: ApiNode, market: dict[str, Any]) -> None:
    assert market["seller"].startswith("AU-") and market["buyer"].startswith("AU-")
    assert market["project"] == "ERF-101"
    (issued_range,) = market["issuance"]["ranges"]
    assert issued_range["end"] - issued_range["start"] + 1 == 1_000
    contract = node.registry.contract
    assert contract.functions.isProjectRegistered(text_bytes32("ERF-101")).call()


def test_two_person_transfer_then_cancel(
    node: ApiNode, market: dict[str, Any], actors: dict[str, LocalAccount]
) -> None:
    ar1, ar2 = sdk(node, actors["seller_ar1"]), sdk(node, actors["seller_ar2"])
    transfer = indexed(
        ar1.write(
            "transfers",
            {"from_account": market["seller"], "to_account": market["buyer"], "quantity": 300},
        )
    )
    assert transfer["status"] == "pending"
    (moved,) = transfer["ranges"]
    assert moved["end"] - moved["start"] + 1 == 300
    end, _account, _issuance, _lock, state = _block(node, moved["start"])
    assert state == UnitState.PENDING and end == moved["end"]

    with pytest.raises(RegistryError) as refused:
        ar1.prepare(f"transfers/{transfer['transfer_id']}/approve", {})
    assert refused.value.code == "APPROVER_IS_INITIATOR"

    approved = indexed(ar2.write(f"transfers/{transfer['transfer_id']}/approve", {}))
    assert approved["status"] == "completed"
    buyer_number = int(market["buyer"].split("-")[1])
    _end, account, _issuance, _lock, state = _block(node, moved["start"])
    assert (account, state) == (buyer_number, UnitState.HELD)

    buyer = sdk(node, actors["buyer_ar"])
    cancelled = indexed(
        buyer.write(
            "cancellations",
            {
                "account_id": market["buyer"],
                "quantity": 100,
                "purpose": "voluntary",
                "beneficiary": "Acme Airlines",
                "reason": "2025 flights offset",
            },
        )
    )
    (range_,) = cancelled["ranges"]
    assert range_ == {"start": moved["start"], "end": moved["start"] + 99}
    assert _block(node, moved["start"])[4] == UnitState.CANCELLED


def test_single_policy_transfer_completes_at_once_and_rescind(
    node: ApiNode, market: dict[str, Any], actors: dict[str, LocalAccount]
) -> None:
    buyer = sdk(node, actors["buyer_ar"])
    back = indexed(
        buyer.write(
            "transfers",
            {"from_account": market["buyer"], "to_account": market["seller"], "quantity": 10},
        )
    )
    assert back["status"] == "completed"

    ar1 = sdk(node, actors["seller_ar1"])
    pending = indexed(
        ar1.write(
            "transfers",
            {"from_account": market["seller"], "to_account": market["buyer"], "quantity": 5},
        )
    )
    rescinded = indexed(ar1.write(f"transfers/{pending['transfer_id']}/rescind", {}))
    assert rescinded["status"] == "rescinded"
    (range_,) = pending["ranges"]
    assert _block(node, range_["start"])[4] == UnitState.HELD


def test_define_and_apply_label(
    node: ApiNode, market: dict[str, Any], actors: dict[str, LocalAccount]
) -> None:
    admin = sdk(node, actors["registry_admin"])
    authority = actors["label_authority"]
    label = indexed(
        admin.write("admin/labels", {"name": "CORSIA_ELIGIBLE", "authority": authority.address})
    )["label_id"]
    (issued,) = market["issuance"]["ranges"]
    ranges = [{"start": issued["end"] - 49, "end": issued["end"]}]
    applied = indexed(
        sdk(node, authority).write("labels/CORSIA_ELIGIBLE/apply", {"ranges": ranges})
    )
    assert applied == {"label_id": label, "ranges": ranges}
    _, labels = node.registry.contract.functions.getBlock(ranges[0]["start"]).call()
    assert labels >> label & 1


def test_approval_right_after_a_label_splits_the_pending_transfer_needs_no_resend(
    node: ApiNode, market: dict[str, Any], actors: dict[str, LocalAccount]
) -> None:
    """A label change in flight splits a pending transfer's block; the approval sent right after
    it is relayed with the hints of the blocks the label will have made (decision D14), so it
    applies at its first attempt."""
    admin, authority = sdk(node, actors["registry_admin"]), sdk(node, actors["label_authority"])
    indexed(admin.write("admin/labels", {"name": "SPLIT_PENDING", "authority": authority.address}))
    ar1, ar2 = sdk(node, actors["seller_ar1"]), sdk(node, actors["seller_ar2"])
    ar1.login()
    free = next(
        block
        for block in ar1.get(f"/v1/accounts/{market['seller']}/holdings", state="held")["items"]
        if block["quantity"] >= 12
    )
    ranges = [{"start": free["start"], "end": free["start"] + 11}]
    transfer = indexed(
        ar1.write(
            "transfers",
            {"from_account": market["seller"], "to_account": market["buyer"], "ranges": ranges},
        )
    )
    assert transfer["status"] == "pending"
    (moved,) = transfer["ranges"]
    assert moved == ranges[0]
    middle = [{"start": moved["start"] + 4, "end": moved["start"] + 7}]
    labelled = authority.write("labels/SPLIT_PENDING/apply", {"ranges": middle}, wait=False)
    approved = ar2.write(f"transfers/{transfer['transfer_id']}/approve", {}, wait=False)
    for signer, accepted in ((authority, labelled), (ar2, approved)):  # each reads its own
        deadline = time.monotonic() + 60
        while (row := signer.request(accepted["request_id"]))["status"] not in (
            "indexed",
            "failed",
        ):
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
        assert row["status"] == "indexed", row
    journal = table_of(JournalEntry)
    with node.services.engine.connect() as conn:
        attempts = conn.execute(
            select(journal.c.attempts).where(journal.c.request_id == approved["request_id"])
        ).scalar()
    assert attempts == 1
    buyer_number = int(market["buyer"].split("-")[1])
    pieces = [
        (start, _block(node, start)[0], _block(node, start)[1], _block(node, start)[4])
        for start in (moved["start"], moved["start"] + 4, moved["start"] + 8)
    ]
    assert pieces == [
        (moved["start"], moved["start"] + 3, buyer_number, UnitState.HELD),
        (moved["start"] + 4, moved["start"] + 7, buyer_number, UnitState.HELD),
        (moved["start"] + 8, moved["end"], buyer_number, UnitState.HELD),
    ]


def test_account_status_and_representative_changes(
    node: ApiNode, market: dict[str, Any], actors: dict[str, LocalAccount]
) -> None:
    admin = sdk(node, actors["registry_admin"])
    seller = market["seller"]
    newcomer = Account.create()
    indexed(
        admin.write(
            f"admin/accounts/{seller}/representatives",
            {"address": newcomer.address, "can_initiate": True},
        )
    )
    indexed(admin.write(f"admin/accounts/{seller}/status", {"status": "suspended"}))
    with pytest.raises(RegistryError) as refused:
        sdk(node, actors["seller_ar1"]).prepare(
            "transfers", {"from_account": seller, "to_account": market["buyer"], "quantity": 1}
        )
    assert refused.value.code == "ACCOUNT_SUSPENDED"
    indexed(admin.write(f"admin/accounts/{seller}/status", {"status": "open"}))
    number = int(seller.split("-")[1])
    rights = node.registry.contract.functions.representativeRights(number, newcomer.address).call()
    assert rights & 2  # may initiate
