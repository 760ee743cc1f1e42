"""The SDK compares every Article 6 and issuance field it can with the intent before signing.

Messages are built with the server's own encoders (padded codes, day boundaries, purpose bits),
so the SDK's decoding is checked against what the API really sends; then each field is changed
in turn, as a compromised API would, and the SDK must refuse the typed data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from api.intents import bytes8_hex, bytes32_hex, day_end, day_start
from node.contracts import typed_data
from sdk.checks import check_typed_data
from sdk.models import TypedDataMismatch
from sdk.operations import OPERATIONS

SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OTHER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = {"name": "UnitRegistry", "version": "1", "chainId": 31337, "verifyingContract": REGISTRY}
RANGES = [{"start": 10, "end": 19}]

# (operation, intent, the message the API builds for it, tampered values of message fields)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "article6.register_party",
        {"party": "JP", "registry_id": "JPN", "label_authority": SIGNER, "administrators": [OTHER]},
        {
            "party": bytes8_hex("JP"),
            "registryId": bytes8_hex("JPN"),
            "labelAuthority": SIGNER,
            "administrators": [OTHER],
        },
        {
            "party": bytes8_hex("CH"),
            "registryId": bytes8_hex("JP"),
            "labelAuthority": OTHER,
            "administrators": [SIGNER],
        },
    ),
    (
        "article6.register_cooperative_approach",
        {"approach_id": "JP-MN-JCM", "name": "Joint Crediting", "parties": ["JP", "MN"]},
        {
            "approachId": bytes32_hex("JP-MN-JCM"),
            "name": "Joint Crediting",
            "parties": [bytes8_hex("JP"), bytes8_hex("MN")],
        },
        {
            "approachId": bytes32_hex("JP-MN"),
            "name": "Other",
            "parties": [bytes8_hex("JP"), bytes8_hex("CH")],
        },
    ),
    (
        "article6.authorize",
        {
            "party": "MN",
            "letter_id": "MN-LOA-7",
            "date": "2025-03-01",
            "purposes": ["ndc_use", "oimp"],
            "cooperative_approach": "JP-MN-JCM",
            "first_transfer_definition": "at_issuance",
            "ranges": RANGES,
        },
        {
            "party": bytes8_hex("MN"),
            "letterId": bytes32_hex("MN-LOA-7"),
            "approachId": bytes32_hex("JP-MN-JCM"),
            "purposes": 3,
            "firstTransferDefinition": 2,
            "authorizedAt": day_start(date(2025, 3, 1)),
            "ranges": RANGES,
        },
        {
            "party": bytes8_hex("JP"),
            "letterId": bytes32_hex("MN-LOA-8"),
            "approachId": bytes32_hex("CH-GH"),
            "purposes": 1,
            "firstTransferDefinition": 1,
            "authorizedAt": day_start(date(2025, 3, 2)),
            "ranges": [{"start": 10, "end": 20}],
        },
    ),
    (
        "article6.issue",
        {
            "project_id": "A64-0001",
            "vintage": 2024,
            "monitoring_period_start": "2024-01-01",
            "monitoring_period_end": "2024-12-31",
            "quantity": 1000,
            "forwards": [
                {"account_id": "AU-1000002", "quantity": 400},
                {"account_id": "AU-1000003"},
            ],
        },
        {
            "projectId": bytes32_hex("A64-0001"),
            "unitType": bytes32_hex("A6.4ER"),
            "vintage": 2024,
            "monitoringStart": day_start(date(2024, 1, 1)),
            "monitoringEnd": day_end(date(2024, 12, 31)),
            "quantity": 1000,
            "forwards": [
                {"accountId": 1000002, "quantity": 400},
                {"accountId": 1000003, "quantity": 530},
            ],
        },
        {
            "projectId": bytes32_hex("A64-0002"),
            "unitType": bytes32_hex("VCU"),
            "vintage": 2023,
            "monitoringStart": day_start(date(2024, 1, 2)),
            "monitoringEnd": day_start(date(2024, 12, 31)),
            "quantity": 999,
            "forwards": [
                {"accountId": 1000002, "quantity": 401},
                {"accountId": 1000003, "quantity": 530},
            ],
        },
    ),
    (
        "article6.transfer",
        {
            "from_account": "AU-1000002",
            "to_account": "AU-1000003",
            "authorization_id": 4,
            "ranges": RANGES,
        },
        {
            "fromAccount": 1000002,
            "toAccount": 1000003,
            "authorizationId": 4,
            "ranges": RANGES,
        },
        {"fromAccount": 1000004, "toAccount": 1000009, "authorizationId": 5},
    ),
    (
        "article6.cancel",
        {
            "account_id": "AU-1000002",
            "authorization_id": 4,
            "purpose": "ndc_use",
            "beneficiary": "Japan",
            "quantity": 10,
        },
        {
            "accountId": 1000002,
            "authorizationId": 4,
            "ranges": RANGES,
            "purpose": 1,
            "beneficiary": "Japan",
            "reason": "",
        },
        {
            "accountId": 1000003,
            "authorizationId": 5,
            "ranges": [{"start": 10, "end": 20}],
            "purpose": 3,
            "beneficiary": "Mongolia",
            "reason": "sold",
        },
    ),
    (
        "admin.issue",
        {
            "project_id": "ERF-101234",
            "unit_type": "ACCU",
            "vintage": 2024,
            "monitoring_period_start": "2024-01-01",
            "monitoring_period_end": "2024-06-30",
            "quantity": 500,
            "to_account": "AU-1000002",
            "origin_registry": "AU",
        },
        {
            "projectId": bytes32_hex("ERF-101234"),
            "unitType": bytes32_hex("ACCU"),
            "vintage": 2024,
            "monitoringStart": day_start(date(2024, 1, 1)),
            "monitoringEnd": day_end(date(2024, 6, 30)),
            "originRegistry": bytes8_hex("AU"),
            "quantity": 500,
            "toAccount": 1000002,
            "labels": 0,
        },
        {
            "projectId": bytes32_hex("ERF-999999"),
            "unitType": bytes32_hex("KCU"),
            "monitoringEnd": day_end(date(2024, 7, 1)),
            "originRegistry": bytes8_hex("NZ"),
            "quantity": 5000,
            "toAccount": 1000003,
        },
    ),
]


def _typed(operation: str, message: dict[str, Any]) -> dict[str, Any]:
    primary = OPERATIONS[operation].primary_type
    full = {"signer": SIGNER, **message, "nonce": 7, "deadline": 2_000_000_000}
    return typed_data(primary, full, DOMAIN["chainId"], REGISTRY)


def _check(operation: str, intent: dict[str, Any], typed: dict[str, Any]) -> None:
    check_typed_data(typed, OPERATIONS[operation], intent, domain=DOMAIN, signer=SIGNER)


@pytest.mark.parametrize(("operation", "intent", "message", "_tampered"), CASES)
def test_what_the_api_builds_passes(
    operation: str, intent: dict[str, Any], message: dict[str, Any], _tampered: dict[str, Any]
) -> None:
    _check(operation, intent, _typed(operation, message))


@pytest.mark.parametrize(
    ("operation", "intent", "message", "field", "value"),
    [
        pytest.param(op, intent, message, field, value, id=f"{op}-{field}")
        for op, intent, message, tampered in CASES
        for field, value in tampered.items()
    ],
)
def test_each_field_changed_by_the_api_is_refused(
    operation: str, intent: dict[str, Any], message: dict[str, Any], field: str, value: Any
) -> None:
    with pytest.raises(TypedDataMismatch):
        _check(operation, intent, _typed(operation, {**message, field: value}))


def test_a_forward_left_without_quantity_may_not_take_more_than_was_issued() -> None:
    operation, intent, message, _ = CASES[3]
    greedy = [{"accountId": 1000002, "quantity": 400}, {"accountId": 1000003, "quantity": 601}]
    with pytest.raises(TypedDataMismatch, match="more units than the issuance creates"):
        _check(operation, intent, _typed(operation, {**message, "forwards": greedy}))
