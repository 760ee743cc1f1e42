"""Bad input to the Article 6 writes: each is refused with its stable code, and nothing changes.

Most cases are refused at prepare from the mirror; the submit cases show the same checks run
again on signed messages; every Article 6 custom error of the contract has a code of its own.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from api.models import JournalEntry
from api.problems import contract_problem
from indexer.models import table_of
from node.contracts import DecodedError
from node.devchain import DevChain
from tests.api.article6_world import A6World, indexed, serve_a6_world
from tests.api.helpers import DATABASES, assert_problem, login

TODAY = datetime.now(UTC).date().isoformat()
LETTER = "MN-LOA-NDC"


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[A6World]:
    """Yield a world where MN authorized 300 units for NDC use only (at authorization)."""
    for world in serve_a6_world(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("a6-errors")
    ):
        s = world.issued["start"]
        world.results["authorize"] = indexed(
            world.write(
                "label_authority",
                "article6/authorizations",
                {
                    "party": "MN",
                    "letter_id": LETTER,
                    "date": TODAY,
                    "purposes": ["ndc_use"],
                    "cooperative_approach": "JCM-MN-JP",
                    "first_transfer_definition": "at_authorization",
                    "ranges": [{"start": s, "end": s + 299}],
                },
            )
        )
        yield world


def _state(world: A6World) -> tuple[Any, ...]:
    """Return what a refused request must not change: the journal and the chain's head."""
    with world.node.services.engine.connect() as conn:
        journal = conn.execute(select(func.count()).select_from(JournalEntry)).scalar()
    return journal, world.node.registry.client.block_number()


def _authorization_id(w: A6World) -> int:
    return int(w.results["authorize"]["authorization_id"])


def _party(w: A6World, **change: Any) -> dict[str, Any]:
    return {
        "party": "MN",
        "registry_id": "MNG",
        "label_authority": w.keys["label_authority"].address,
        "administrators": [w.keys["mn_admin"].address],
        **change,
    }


def _authorization(w: A6World, **change: Any) -> dict[str, Any]:
    s = w.issued["start"]
    return {
        "party": "MN",
        "letter_id": "MN-LOA-NEW",
        "date": TODAY,
        "purposes": ["ndc_use"],
        "cooperative_approach": "JCM-MN-JP",
        "first_transfer_definition": "at_issuance",
        "ranges": [{"start": s + 500, "end": s + 509}],
        **change,
    }


def _issuance(w: A6World, **change: Any) -> dict[str, Any]:
    return {
        "project_id": w.project,
        "vintage": 2025,
        "monitoring_period_start": "1971-01-01",
        "monitoring_period_end": "1971-12-31",
        "quantity": 1000,
        "forwards": [{"account_id": w.accounts["participant"]}],
        **change,
    }


def _itmo_transfer(w: A6World, **change: Any) -> dict[str, Any]:
    return {
        "from_account": w.accounts["mn_holder"],
        "to_account": w.accounts["jp_holder"],
        "authorization_id": _authorization_id(w),
        "quantity": 10,
        **change,
    }


def _itmo_use(w: A6World, **change: Any) -> dict[str, Any]:
    return {
        "account_id": w.accounts["mn_holder"],
        "authorization_id": _authorization_id(w),
        "quantity": 10,
        "purpose": "ndc_use",
        **change,
    }


def _free(w: A6World) -> list[dict[str, int]]:
    s = w.issued["start"]
    return [{"start": s + 400, "end": s + 409}]


def _itmos(w: A6World) -> list[dict[str, int]]:
    s = w.issued["start"]
    return [{"start": s, "end": s + 9}]


Intent = Callable[[A6World], dict[str, Any]]
CASES: list[tuple[str, str, str, Intent, int, str]] = [
    # -- Parties
    ("party by a non-admin", "article6/parties", "issuer", _party, 403, "NOT_AUTHORISED"),
    (
        "party label authority without the role",
        "article6/parties",
        "registry_admin",
        lambda w: _party(w, party="XY", label_authority=Account.create().address),
        403,
        "NOT_AUTHORISED",
    ),
    (
        "party administrator twice",
        "article6/parties",
        "registry_admin",
        lambda w: _party(w, administrators=[w.keys["mn_admin"].address] * 2),
        422,
        "INVALID_PARTY_ADMINISTRATOR",
    ),
    (
        "party registry id changed",
        "article6/parties",
        "registry_admin",
        lambda w: _party(w, registry_id="OTHER"),
        409,
        "PARTY_REGISTRY_ID_CHANGED",
    ),
    (
        "party code with a space",
        "article6/parties",
        "registry_admin",
        lambda w: _party(w, party="M N"),
        422,
        "INVALID_REQUEST",
    ),
    (
        "party with an unknown field",
        "article6/parties",
        "registry_admin",
        lambda w: _party(w, colour="red"),
        422,
        "INVALID_REQUEST",
    ),
    # -- cooperative approaches
    (
        "approach with an unknown Party",
        "article6/cooperative-approaches",
        "registry_admin",
        lambda w: {"approach_id": "A-1", "name": "A", "parties": ["MN", "ZZ"]},
        404,
        "PARTY_NOT_FOUND",
    ),
    (
        "approach with a Party twice",
        "article6/cooperative-approaches",
        "registry_admin",
        lambda w: {"approach_id": "A-1", "name": "A", "parties": ["MN", "JP", "MN"]},
        422,
        "DUPLICATE_PARTICIPANT",
    ),
    (
        "approach without Parties",
        "article6/cooperative-approaches",
        "registry_admin",
        lambda w: {"approach_id": "A-1", "name": "A", "parties": []},
        422,
        "INVALID_REQUEST",
    ),
    # -- mechanism accounts
    (
        "mechanism account of the wrong kind",
        "article6/mechanism-accounts",
        "registry_admin",
        lambda w: {
            "pending": w.accounts["participant"],
            "holding": w.accounts["mechanism_holding"],
            "cancellation": w.accounts["mechanism_cancellation"],
            "omge_cancellation": w.accounts["mechanism_omge_cancellation"],
            "share_of_proceeds": w.accounts["mechanism_share_of_proceeds"],
        },
        422,
        "MECHANISM_ACCOUNT_KIND_MISMATCH",
    ),
    (
        "mechanism account unknown",
        "article6/mechanism-accounts",
        "registry_admin",
        lambda w: {
            "pending": "AU-999999999",
            "holding": w.accounts["mechanism_holding"],
            "cancellation": w.accounts["mechanism_cancellation"],
            "omge_cancellation": w.accounts["mechanism_omge_cancellation"],
            "share_of_proceeds": w.accounts["mechanism_share_of_proceeds"],
        },
        404,
        "ACCOUNT_NOT_FOUND",
    ),
    # -- authorizations
    (
        "authorization by another signer",
        "article6/authorizations",
        "registry_admin",
        _authorization,
        403,
        "NOT_AUTHORISED",
    ),
    (
        "authorization for an unknown Party",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, party="ZZ"),
        404,
        "PARTY_NOT_FOUND",
    ),
    (
        "authorization under an unknown approach",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, cooperative_approach="NOPE"),
        404,
        "COOPERATIVE_APPROACH_NOT_FOUND",
    ),
    (
        "authorization by a Party outside the approach",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, party="KR"),
        409,
        "PARTY_NOT_IN_APPROACH",
    ),
    (
        "authorization of another Party's units",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, party="JP"),
        409,
        "UNITS_NOT_IN_PARTY_SECTION",
    ),
    (
        "authorization dated in the future",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(
            w, date=(datetime.now(UTC) + timedelta(days=3)).date().isoformat()
        ),
        422,
        "INVALID_AUTHORIZATION_DATE",
    ),
    (
        "authorization of authorized units",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, ranges=_itmos(w)),
        409,
        "UNITS_LOCKED",
    ),
    (
        "authorization naming a recorded letter with other terms",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, letter_id=LETTER),
        409,
        "AUTHORIZATION_MISMATCH",
    ),
    (
        "authorization with a purpose twice",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, purposes=["ndc_use", "ndc_use"]),
        422,
        "INVALID_REQUEST",
    ),
    (
        "authorization with an unknown purpose",
        "article6/authorizations",
        "label_authority",
        lambda w: _authorization(w, purposes=["retirement"]),
        422,
        "INVALID_REQUEST",
    ),
    (
        "authorization by quantity without an account",
        "article6/authorizations",
        "label_authority",
        lambda w: {**_authorization(w, quantity=5), "ranges": None},
        422,
        "INVALID_REQUEST",
    ),
    (
        "authorization of more units than are free",
        "article6/authorizations",
        "label_authority",
        lambda w: {
            **_authorization(w, quantity=10_000, account_id=w.accounts["mn_holder"]),
            "ranges": None,
        },
        409,
        "INSUFFICIENT_UNITS",
    ),
    # -- Article 6.4 issuance
    (
        "6.4 forwards that do not add up",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(
            w, forwards=[{"account_id": w.accounts["participant"], "quantity": 900}]
        ),
        422,
        "FORWARDED_QUANTITY_MISMATCH",
    ),
    (
        "6.4 forwards that take more than remains",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(
            w,
            forwards=[
                {"account_id": w.accounts["participant"], "quantity": 930},
                {"account_id": w.accounts["participant_2"]},
            ],
        ),
        422,
        "FORWARDED_QUANTITY_MISMATCH",
    ),
    (
        "6.4 monitoring period before 1970",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(w, monitoring_period_start="1969-12-01"),
        422,
        "INVALID_REQUEST",
    ),
    (
        "6.4 issuance of one unit",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(w, quantity=1),
        422,
        "ISSUANCE_TOO_SMALL",
    ),
    (
        "6.4 forward to the OMGE cancellation account",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(
            w, forwards=[{"account_id": w.accounts["mechanism_omge_cancellation"]}]
        ),
        409,
        "ACCOUNT_CANNOT_RECEIVE",
    ),
    (
        "6.4 forward to the pending account",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(w, forwards=[{"account_id": w.accounts["mechanism_pending"]}]),
        422,
        "SAME_ACCOUNT",
    ),
    (
        "6.4 without forwards",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(w, forwards=[]),
        422,
        "INVALID_FORWARD_COUNT",
    ),
    (
        "6.4 with two forwards taking the rest",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(
            w,
            forwards=[
                {"account_id": w.accounts["participant"]},
                {"account_id": w.accounts["participant_2"]},
            ],
        ),
        422,
        "INVALID_REQUEST",
    ),
    (
        "6.4 by a non-issuer",
        "article6/issuances",
        "registry_admin",
        _issuance,
        403,
        "NOT_AUTHORISED",
    ),
    (
        "6.4 of an unknown project",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(w, project_id="NO-SUCH"),
        404,
        "PROJECT_NOT_FOUND",
    ),
    (
        "6.4 for an issued monitoring period",
        "article6/issuances",
        "issuer",
        lambda w: _issuance(w, unit_type="JCM", **w.issued_period),
        409,
        "DOUBLE_ISSUANCE",
    ),
    # -- ITMO transfers
    (
        "ITMO transfer to a Party outside the approach",
        "article6/transfers",
        "mn_ar",
        lambda w: _itmo_transfer(w, to_account=w.accounts["outsider"]),
        409,
        "PARTY_NOT_IN_APPROACH",
    ),
    (
        "ITMO transfer to an account of no Party",
        "article6/transfers",
        "mn_ar",
        lambda w: _itmo_transfer(w, to_account=w.accounts["participant"]),
        404,
        "PARTY_NOT_FOUND",
    ),
    (
        "ITMO transfer of more than held",
        "article6/transfers",
        "mn_ar",
        lambda w: _itmo_transfer(w, quantity=301),
        409,
        "INSUFFICIENT_UNITS",
    ),
    (
        "ITMO transfer under an unknown authorization",
        "article6/transfers",
        "mn_ar",
        lambda w: _itmo_transfer(w, authorization_id=999_999),
        404,
        "AUTHORIZATION_NOT_FOUND",
    ),
    (
        "ITMO transfer of units that are not ITMOs",
        "article6/transfers",
        "mn_ar",
        lambda w: {**_itmo_transfer(w, ranges=_free(w)), "quantity": None},
        409,
        "UNITS_LOCKED",
    ),
    (
        "ITMO transfer by a stranger",
        "article6/transfers",
        "jp_ar",
        _itmo_transfer,
        403,
        "NOT_AUTHORISED",
    ),
    (
        "ITMO transfer by quantity without an authorization",
        "article6/transfers",
        "mn_ar",
        lambda w: _itmo_transfer(w, authorization_id=None),
        422,
        "INVALID_REQUEST",
    ),
    # -- the core's operations leave ITMOs alone
    (
        "core transfer of ITMOs",
        "transfers",
        "mn_ar",
        lambda w: {
            "from_account": w.accounts["mn_holder"],
            "to_account": w.accounts["mn_other"],
            "ranges": _itmos(w),
        },
        409,
        "UNITS_LOCKED",
    ),
    (
        "core cancellation of ITMOs towards an NDC",
        "cancellations",
        "mn_ar",
        lambda w: {
            "account_id": w.accounts["mn_holder"],
            "ranges": _itmos(w),
            "purpose": "ndc_use",
        },
        409,
        "UNITS_LOCKED",
    ),
    # -- uses and cancellations of ITMOs
    (
        "ITMO use for a purpose not authorized",
        "article6/cancellations",
        "mn_ar",
        lambda w: _itmo_use(w, purpose="oimp"),
        409,
        "PURPOSE_NOT_AUTHORISED",
    ),
    (
        "ITMO use with an unknown purpose",
        "article6/cancellations",
        "mn_ar",
        lambda w: _itmo_use(w, purpose="retire"),
        422,
        "INVALID_REQUEST",
    ),
    (
        "ITMO use of more than held",
        "article6/cancellations",
        "mn_ar",
        lambda w: _itmo_use(w, quantity=1000),
        409,
        "INSUFFICIENT_UNITS",
    ),
]


def _clean(intent: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in intent.items() if v is not None}


@pytest.mark.parametrize(
    ("case", "operation", "key", "intent", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_article6_intents_are_refused(
    world: A6World,
    case: str,
    operation: str,
    key: str,
    intent: Intent,
    status: int,
    code: str,
) -> None:
    before = _state(world)
    body = {"signer": world.keys[key].address, **_clean(intent(world))}
    response = world.node.client.post(f"/v1/{operation}/prepare", json=body)
    assert_problem(response, status, code)
    assert _state(world) == before


# -- checks at submit -------------------------------------------------------------------------


def _sign(key: LocalAccount, typed: dict[str, Any]) -> str:
    return "0x" + bytes(key.sign_message(encode_typed_data(full_message=typed)).signature).hex()


def _prepared(world: A6World, operation: str, key: str, intent: dict[str, Any]) -> dict[str, Any]:
    body = {"signer": world.keys[key].address, **intent}
    response = world.node.client.post(f"/v1/{operation}/prepare", json=body)
    assert response.status_code == 200, response.text
    typed: dict[str, Any] = response.json()["typed_data"]
    return typed


SUBMITTED: list[
    tuple[str, str, str, Intent, Callable[[A6World, dict[str, Any]], None], int, str]
] = [
    (
        "use re-signed for OIMP",
        "article6/cancellations",
        "mn_ar",
        _itmo_use,
        lambda w, m: m.update(purpose=3),
        409,
        "PURPOSE_NOT_AUTHORISED",
    ),
    (
        "transfer re-signed to a Party outside the approach",
        "article6/transfers",
        "mn_ar",
        _itmo_transfer,
        lambda w, m: m.update(toAccount=int(w.accounts["outsider"].split("-")[1])),
        409,
        "PARTY_NOT_IN_APPROACH",
    ),
    (
        "6.4 re-signed with forwards that do not add up",
        "article6/issuances",
        "issuer",
        _issuance,
        lambda w, m: m["forwards"][0].update(quantity=1),
        422,
        "FORWARDED_QUANTITY_MISMATCH",
    ),
    (
        "authorization re-signed with purposes out of range",
        "article6/authorizations",
        "label_authority",
        _authorization,
        lambda w, m: m.update(purposes=4),
        422,
        "INVALID_PURPOSES",
    ),
]


@pytest.mark.parametrize(
    ("case", "operation", "key", "intent", "change", "status", "code"),
    SUBMITTED,
    ids=[c[0] for c in SUBMITTED],
)
def test_signed_requests_are_checked_again_at_submit(
    world: A6World,
    case: str,
    operation: str,
    key: str,
    intent: Intent,
    change: Callable[[A6World, dict[str, Any]], None],
    status: int,
    code: str,
) -> None:
    typed = copy.deepcopy(_prepared(world, operation, key, _clean(intent(world))))
    change(world, typed["message"])
    before = _state(world)
    response = world.node.client.post(
        f"/v1/{operation}", json={"typed_data": typed, "signature": _sign(world.keys[key], typed)}
    )
    assert_problem(response, status, code)
    assert _state(world) == before


def test_pending_itmo_transfers_are_settled_only_through_article6(world: A6World) -> None:
    """Under two-person approval an ITMO transfer waits; the core's approve refuses it."""
    s = world.issued["start"]
    second = Account.create()
    world.keys["mn_ar2"] = second
    two_person = indexed(
        world.write(
            "registry_admin",
            "admin/accounts",
            {
                "holder_name": "MN two-person",
                "party": "MN",
                "representatives": [
                    {"address": world.keys["mn_ar"].address, "primary": True},
                    {"address": second.address},
                ],
            },
        )
    )["account_id"]
    world.write(
        "mn_ar",
        "transfers",
        {
            "from_account": world.accounts["mn_holder"],
            "to_account": two_person,
            "ranges": [{"start": s + 700, "end": s + 719}],
        },
    )
    authorization = indexed(
        world.write(
            "label_authority",
            "article6/authorizations",
            _authorization(
                world,
                letter_id="MN-LOA-TWO",
                first_transfer_definition="at_use_or_cancellation",
                ranges=[{"start": s + 700, "end": s + 719}],
            ),
        )
    )["authorization_id"]
    transfers = []
    for first, last in ((s + 700, s + 709), (s + 710, s + 719)):
        result = indexed(
            world.write(
                "mn_ar",
                "article6/transfers",
                {
                    "from_account": two_person,
                    "to_account": world.accounts["jp_holder"],
                    "ranges": [{"start": first, "end": last}],
                },
            )
        )
        assert (result["status"], result["authorization_id"]) == ("pending", authorization)
        assert result["first_transfer_ranges"] == []  # recorded at completion, not before
        transfers.append(result["transfer_id"])
    approve, rescind = transfers
    client = world.node.client
    before = _state(world)
    for path, key, status, code in (
        (f"/v1/transfers/{approve}/approve/prepare", "mn_ar2", 404, "TRANSFER_NOT_FOUND"),
        (f"/v1/transfers/{approve}/rescind/prepare", "mn_ar", 404, "TRANSFER_NOT_FOUND"),
        (
            f"/v1/article6/transfers/{approve}/approve/prepare",
            "mn_ar",
            403,
            "APPROVER_IS_INITIATOR",
        ),
        (f"/v1/article6/transfers/{approve}/approve/prepare", "jp_ar", 403, "NOT_AUTHORISED"),
        ("/v1/article6/transfers/999999/approve/prepare", "mn_ar2", 404, "TRANSFER_NOT_FOUND"),
    ):
        response = client.post(path, json={"signer": world.keys[key].address})
        assert_problem(response, status, code)
    assert _state(world) == before
    approved = indexed(world.write("mn_ar2", f"article6/transfers/{approve}/approve", {}))
    assert approved == {
        "transfer_id": approve,
        "status": "completed",
        "first_transfer_ranges": [{"start": s + 700, "end": s + 709}],
    }
    rescinded = indexed(world.write("mn_ar", f"article6/transfers/{rescind}/rescind", {}))
    assert rescinded == {"transfer_id": rescind, "status": "rescinded", "first_transfer_ranges": []}
    contract = world.node.registry.contract
    jp_number = int(world.accounts["jp_holder"].split("-")[1])
    moved, _ = contract.functions.getBlock(s + 700).call()
    back, _ = contract.functions.getBlock(s + 710).call()
    assert (moved[0], moved[1], moved[3]) == (s + 709, jp_number, authorization)
    assert (back[0], back[1], back[3]) == (s + 719, int(two_person.split("-")[1]), authorization)


# -- contract errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "status"),
    [
        ("PurposeNotAuthorized", "PURPOSE_NOT_AUTHORISED", 409),
        ("UnitsNotInPartySection", "UNITS_NOT_IN_PARTY_SECTION", 409),
        ("NotPartyLabelAuthority", "NOT_AUTHORISED", 403),
        ("IssuanceTooSmall", "ISSUANCE_TOO_SMALL", 422),
        ("NotItmoBlock", "NOT_ITMO_BLOCK", 409),
    ],
)
def test_article6_reverts_decode_to_their_codes(name: str, code: str, status: int) -> None:
    problem = contract_problem(DecodedError(name, {"authorizationId": 7}))
    assert (problem.code, problem.status) == (code, status)
    assert problem.extra["contract_error"]["name"] == name


def test_a_request_the_chain_refuses_fails_with_the_decoded_code(world: A6World) -> None:
    """Two authorizations of the same free units, both accepted before either is mined."""
    s = world.issued["start"]
    ranges = [{"start": s + 600, "end": s + 609}]
    first = _prepared(
        world,
        "article6/authorizations",
        "label_authority",
        _authorization(world, letter_id="RACE-1", ranges=ranges),
    )
    second = _prepared(
        world,
        "article6/authorizations",
        "label_authority",
        _authorization(world, letter_id="RACE-2", ranges=ranges),
    )
    key = world.keys["label_authority"]
    client = world.node.client
    one = client.post(
        "/v1/article6/authorizations", json={"typed_data": first, "signature": _sign(key, first)}
    )
    two = client.post(
        "/v1/article6/authorizations", json={"typed_data": second, "signature": _sign(key, second)}
    )
    assert one.status_code == 202, one.text
    if two.status_code != 202:
        # The first was indexed already: the mirror refuses the second at submit.
        assert_problem(two, 409, "UNITS_LOCKED")
        return
    admin = login(client, world.keys["registry_admin"])  # request details are private
    outcome = client.get(f"/v1/requests/{two.json()['request_id']}", headers=admin).json()
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while outcome["status"] not in ("indexed", "failed") and datetime.now(UTC) < deadline:
        time.sleep(0.05)
        outcome = client.get(f"/v1/requests/{two.json()['request_id']}", headers=admin).json()
    assert outcome["status"] == "failed", outcome
    assert outcome["error"]["code"] == "UNITS_LOCKED"
    assert outcome["error"]["contract_error"]["name"] == "UnitsLocked"


def test_requests_on_one_block_in_flight_together_all_apply(world: A6World) -> None:
    """Uses and a transfer of one ITMO block, submitted back to back: the journal's hints
    predict the splits the earlier ones make (D14), so every one applies."""
    s = world.issued["start"]
    key = world.keys["mn_ar"]
    client = world.node.client
    typed = [
        _prepared(
            world,
            "article6/cancellations",
            "mn_ar",
            {
                "account_id": world.accounts["mn_holder"],
                "ranges": [{"start": s + first, "end": s + first + 9}],
                "purpose": "ndc_use",
            },
        )
        for first in (200, 220, 240)
    ]
    typed.append(
        _prepared(
            world,
            "article6/transfers",
            "mn_ar",
            {
                "from_account": world.accounts["mn_holder"],
                "to_account": world.accounts["jp_holder"],
                "ranges": [{"start": s + 260, "end": s + 269}],
            },
        )
    )
    ids = []
    for data in typed:
        operation = (
            "article6/cancellations"
            if data["primaryType"] == "CancelItmos"
            else "article6/transfers"
        )
        response = client.post(
            f"/v1/{operation}", json={"typed_data": data, "signature": _sign(key, data)}
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["request_id"])
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    statuses: list[str] = []
    admin = login(client, world.keys["registry_admin"])  # request details are private
    while datetime.now(UTC) < deadline:
        statuses = [client.get(f"/v1/requests/{i}", headers=admin).json()["status"] for i in ids]
        if all(status in ("indexed", "failed") for status in statuses):
            break
        time.sleep(0.05)
    assert statuses == ["indexed"] * 4
    # Each applied at its first attempt: the hints were right, not corrected by a resend.
    journal = table_of(JournalEntry)
    with world.node.services.engine.connect() as conn:
        attempts = dict(
            conn.execute(
                select(journal.c.request_id, journal.c.attempts).where(
                    journal.c.request_id.in_(ids)
                )
            ).all()
        )
    assert [attempts[i] for i in ids] == [1] * 4
    contract = world.node.registry.contract
    for first, state in ((200, 6), (220, 6), (240, 6), (260, 1)):
        block, _ = contract.functions.getBlock(s + first).call()
        assert (block[0], block[4]) == (s + first + 9, state)
