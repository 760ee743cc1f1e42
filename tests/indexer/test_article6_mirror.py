"""Article 6 events in the mirror: every table, a rebuild from raw events, the audit and the AEF.

The scenario signs Article 6 requests straight from `node/contracts` (no API) on the session
registry: two Parties (one re-registered with new administrators), an approach, an
authorization, an ITMO transfer between the Parties, a use towards an NDC and an Article 6.4
issuance. The mirror, on SQLite and on PostgreSQL, must equal the audit's own replay.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import Engine, select, text

from indexer.aef import build_aef, load_mirror_facts
from indexer.audit import audit, audit_aef, chain_aef
from indexer.mirror import DERIVED_TABLES, MirrorWriter, rebuild_derived
from indexer.models import (
    Article6Action,
    Article6ApproachParty,
    Article6Authorization,
    Article6Config,
    Article6ItmoTransfer,
    Article6Party,
    Article6PartyAdministrator,
    Article64Issuance,
    Article64Part,
    OperationRange,
    table_of,
)
from node.contracts import (
    AccountKind,
    ApprovalPolicy,
    AuthorizationPurpose,
    CancellationPurpose,
    FirstTransferDefinition,
    SignedRequest,
    text_bytes8,
    text_bytes32,
)
from node.relayer import RelayOutcome
from tests.conftest import Registry
from tests.indexer.conftest import make_indexer
from tests.indexer.script import rep

pytestmark = pytest.mark.chain

_periods = itertools.count()


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _relay(registry: Registry, request: SignedRequest) -> RelayOutcome:
    outcome = registry.relayer.relay(request)
    assert outcome.ok, f"{request.primary_type} failed: {outcome.error}"
    return outcome


@pytest.fixture(scope="module")
def scenario(registry: Registry) -> dict[str, Any]:
    """Run the Article 6 scenario once on the session registry; return its ids."""
    keys, signer = registry.keys, registry.signer
    admin, authority = keys["registry_admin"], keys["label_authority"]
    administrators = [Account.create().address for _ in range(3)]

    def party(code: str, registry_id: str, admins: list[str]) -> int:
        fields = {
            "party": _hex(text_bytes8(code)),
            "registryId": _hex(text_bytes8(registry_id)),
            "labelAuthority": authority.address,
            "administrators": admins,
        }
        return _relay(registry, signer.sign(admin, "RegisterParty", fields)).block_number

    party("IX", "IXR", administrators[:2])
    party("IY", "IYR", [administrators[2]])
    reregistered = party("IX", "IXR", administrators[1:])  # replaces IX's administrators
    approach = "IDX-APPROACH"
    _relay(
        registry,
        signer.sign(
            admin,
            "RegisterCooperativeApproach",
            {
                "approachId": _hex(text_bytes32(approach)),
                "name": "Indexer approach",
                "parties": [_hex(text_bytes8("IX")), _hex(text_bytes8("IY"))],
            },
        ),
    )

    def account(code: str, kind: AccountKind = AccountKind.HOLDING) -> int:
        request = signer.open_account(
            admin,
            f"{code} {kind.name.lower()}",
            [rep(keys["ar_1"].address, primary=True)],
            kind=kind,
            policy=ApprovalPolicy.SINGLE,
            party=code,
        )
        return int(_relay(registry, request).event("AccountOpened").args["accountId"])

    ix, iy = account("IX"), account("IY")
    mechanism = {
        "pending": account("", AccountKind.PENDING),
        "holding": account("", AccountKind.HOLDING),
        "cancellation": account("", AccountKind.CANCELLATION),
        "omgeCancellation": account("", AccountKind.OMGE_CANCELLATION),
        "shareOfProceeds": account("", AccountKind.SHARE_OF_PROCEEDS),
    }
    _relay(registry, signer.sign(admin, "SetMechanismAccounts", mechanism))
    _relay(registry, signer.register_project(keys["issuer"], "IDX-A6", "Wind", "AMS-I.D", "IX"))
    period = 1_000_000_000 + next(_periods) * 40_000_000
    issued = _relay(
        registry,
        signer.issue(keys["issuer"], "IDX-A6", "VCU", 2024, period, period + 1000, 100, ix),
    ).event("UnitsIssued")
    s = int(issued.args["start"])
    authorized_fields: dict[str, Any] = {
        "party": _hex(text_bytes8("IX")),
        "letterId": _hex(text_bytes32("IX-LOA-1")),
        "approachId": _hex(text_bytes32(approach)),
        "purposes": int(AuthorizationPurpose.NDC),
        "firstTransferDefinition": int(FirstTransferDefinition.AT_AUTHORIZATION),
        "authorizedAt": int(time.time()) - 86_400,
    }
    authorized = _relay(
        registry,
        signer.sign(
            authority,
            "Authorize",
            {**authorized_fields, "ranges": [{"start": s, "end": s + 59}]},
            block_hints=[s],
        ),
    )
    authorization_id = int(authorized.event("AuthorizationRecorded").args["authorizationId"])
    # The same letter again, for more units: a new operation id, no new letter.
    again = _relay(
        registry,
        signer.sign(
            authority,
            "Authorize",
            {**authorized_fields, "ranges": [{"start": s + 90, "end": s + 99}]},
            block_hints=[s + 60],
        ),
    )
    assert "AuthorizationRecorded" not in {e.name for e in again.events}
    transferred = _relay(
        registry,
        signer.sign(
            keys["ar_1"],
            "TransferItmos",
            {
                "fromAccount": ix,
                "toAccount": iy,
                "authorizationId": authorization_id,
                "ranges": [{"start": s, "end": s + 19}],
            },
            block_hints=[s],
        ),
    )
    used = _relay(
        registry,
        signer.sign(
            keys["ar_1"],
            "CancelItmos",
            {
                "accountId": iy,
                "authorizationId": authorization_id,
                "ranges": [{"start": s, "end": s + 9}],
                "purpose": int(CancellationPurpose.NDC_USE),
                "beneficiary": "IY NDC",
                "reason": "2030 target",
            },
            block_hints=[s],
        ),
    )
    article64 = _relay(
        registry,
        signer.sign(
            keys["issuer"],
            "IssueArticle64",
            {
                "projectId": _hex(text_bytes32("IDX-A6")),
                "unitType": _hex(text_bytes32("A6.4ER")),
                "vintage": 2024,
                "monitoringStart": period,
                "monitoringEnd": period + 1000,
                "quantity": 19,
                "forwards": [{"accountId": iy, "quantity": 17}],
            },
        ),
    )
    return {
        "administrators": administrators,
        "ix": ix,
        "iy": iy,
        "mechanism": mechanism,
        "start": s,
        "authorization_id": authorization_id,
        "transfer_id": int(transferred.event("TransferInitiated").args["transferId"]),
        "use_id": int(used.event("UnitsCancelled").args["cancellationId"]),
        "article64": article64,
        "year": time.gmtime().tm_year,
        "reregistered_block": reregistered,
    }


def _rows(engine: Engine, model: Any) -> list[dict[str, Any]]:
    table = table_of(model)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key))]


def test_the_mirror_holds_every_article6_record(
    registry: Registry, scenario: dict[str, Any], engine: Engine
) -> None:
    make_indexer(engine, registry).sync_once()
    report = audit(engine, registry.client, registry.deployment, registry.abi, seed=3)
    assert report.ok, report.differences
    assert report.compared["article6_actions"] >= 5

    parties = {r["party"]: r for r in _rows(engine, Article6Party)}
    assert (parties["IX"]["registry_id"], parties["IY"]["registry_id"]) == ("IXR", "IYR")
    admins = {(r["party"], r["address"]) for r in _rows(engine, Article6PartyAdministrator)}
    a = scenario["administrators"]
    assert {x for x in admins if x[0] in ("IX", "IY")} == {
        ("IX", a[1]),
        ("IX", a[2]),
        ("IY", a[2]),
    }
    members = {(r["approach_id"], r["party"]) for r in _rows(engine, Article6ApproachParty)}
    assert {("IDX-APPROACH", "IX"), ("IDX-APPROACH", "IY")} <= members

    (authorization,) = [
        r for r in _rows(engine, Article6Authorization) if r["id"] == scenario["authorization_id"]
    ]
    assert (
        authorization["party"],
        authorization["letter_id"],
        authorization["purposes"],
        authorization["first_transfer_definition"],
    ) == ("IX", "IX-LOA-1", "ndc_use", "at_authorization")

    s = scenario["start"]
    actions = [
        (r["action"], r["start"], r["end"], r["party"], r["counterparty"])
        for r in _rows(engine, Article6Action)
        if r["authorization_id"] == scenario["authorization_id"]
    ]
    assert actions == [
        ("authorization", s, s + 59, "IX", ""),
        ("first_transfer", s, s + 59, "IX", ""),
        ("authorization", s + 90, s + 99, "IX", ""),
        ("first_transfer", s + 90, s + 99, "IX", ""),
        ("transfer", s, s + 19, "IX", "IY"),
        ("acquisition", s, s + 19, "IY", "IX"),
        ("use_towards_ndc", s, s + 9, "IY", ""),
    ]
    itmo = {r["transfer_id"]: r["authorization_id"] for r in _rows(engine, Article6ItmoTransfer)}
    assert itmo[scenario["transfer_id"]] == scenario["authorization_id"]

    (config,) = _rows(engine, Article6Config)
    mechanism = scenario["mechanism"]
    assert config["pending_account"] == mechanism["pending"]
    assert config["share_of_proceeds_account"] == mechanism["shareOfProceeds"]
    assert config["first_transferred_label"] == config["ndc_label"] + 2

    issued = scenario["article64"].event("Article64Issued").args
    (row,) = [
        r for r in _rows(engine, Article64Issuance) if r["issuance_id"] == issued["issuanceId"]
    ]
    assert (row["share_of_proceeds"], row["omge"], row["forwarded"]) == (1, 1, 17)
    parts = [
        (p["share"], p["end"] - p["start"] + 1)
        for p in _rows(engine, Article64Part)
        if p["issuance_id"] == issued["issuanceId"]
    ]
    assert parts == [("share_of_proceeds", 1), ("omge", 1), ("forwarded", 17)]
    # The OMGE cancellation names only the range it cancelled, not the other parts.
    omge = [
        (r["start"], r["end"])
        for r in _rows(engine, OperationRange)
        if r["operation_id"] == issued["cancellationId"]
    ]
    assert len(omge) == 1 and omge[0][1] == omge[0][0]


def test_the_audit_finds_a_change_to_any_article6_table(
    registry: Registry, scenario: dict[str, Any], engine: Engine
) -> None:
    """Each Article 6 table is compared: one changed row in each is one reported difference."""
    make_indexer(engine, registry).sync_once()
    auth, transfer = scenario["authorization_id"], scenario["transfer_id"]
    issuance = scenario["article64"].event("Article64Issued").args["issuanceId"]
    actions = table_of(Article6Action)
    with engine.begin() as conn:
        acquisition = conn.execute(
            select(actions.c.block_number, actions.c.log_index).where(
                actions.c.authorization_id == auth, actions.c.action == "acquisition"
            )
        ).one()
        for statement, values in [
            ("UPDATE article6_parties SET registry_id = 'ZZR' WHERE party = 'IY'", {}),
            (
                "DELETE FROM article6_party_administrators WHERE party = 'IX' AND address = :a",
                {"a": scenario["administrators"][1]},
            ),
            (
                "DELETE FROM article6_approach_parties "
                "WHERE approach_id = 'IDX-APPROACH' AND party = 'IY'",
                {},
            ),
            ("UPDATE article6_authorizations SET letter_id = 'FORGED' WHERE id = :i", {"i": auth}),
            (
                "UPDATE article6_actions SET counterparty = 'ZZ' "
                "WHERE block_number = :b AND log_index = :l",
                {"b": acquisition.block_number, "l": acquisition.log_index},
            ),
            (
                "UPDATE article6_itmo_transfers SET authorization_id = 0 WHERE transfer_id = :t",
                {"t": transfer},
            ),
            ("UPDATE article6_config SET pending_account = NULL", {}),
            (
                "UPDATE article64_issuances SET forwarded = 0 WHERE issuance_id = :i",
                {"i": issuance},
            ),
        ]:
            assert conn.execute(text(statement), values).rowcount == 1, statement
    report = audit(engine, registry.client, registry.deployment, registry.abi, spot_checks=0)
    # The rebuilt mirror's row-by-row comparison names each changed table as well.
    tables = {d.section for d in report.differences if d.section.startswith("table ")}
    assert tables == {
        f"table {name}"
        for name in (
            "article6_parties",
            "article6_party_administrators",
            "article6_approach_parties",
            "article6_authorizations",
            "article6_actions",
            "article6_itmo_transfers",
            "article6_config",
            "article64_issuances",
        )
    }
    found = {(d.section, d.key) for d in report.differences if not d.section.startswith("table ")}
    assert found == {
        ("article6_parties", "IY"),
        ("article6_parties", "IX"),
        ("article6_approaches", "IDX-APPROACH"),
        ("article6_authorizations", str(auth)),
        ("article6_actions", f"{acquisition.block_number} / {acquisition.log_index}"),
        ("article6_itmo_transfers", str(transfer)),
        ("article6_config", "pending_account"),
        ("article64_issuances", str(issuance)),
    }
    # A part of an Article 6.4 issuance is compared with its issuance.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE article64_issuances SET forwarded = 17 WHERE issuance_id = :i"),
            {"i": issuance},
        )
        conn.execute(
            text(
                "UPDATE article64_parts SET account_id = 1 "
                "WHERE issuance_id = :i AND share = 'omge'"
            ),
            {"i": issuance},
        )
    report = audit(engine, registry.client, registry.deployment, registry.abi, spot_checks=0)
    assert ("article64_issuances", str(issuance)) in {
        (d.section, d.key) for d in report.differences
    }


def test_a_rebuild_from_raw_events_gives_the_same_article6_tables(
    registry: Registry, scenario: dict[str, Any], engine: Engine
) -> None:
    make_indexer(engine, registry).sync_once()
    before = {t.name: _rows_of(engine, t) for t in DERIVED_TABLES}
    with engine.begin() as conn:
        assert rebuild_derived(conn) > 0
    assert {t.name: _rows_of(engine, t) for t in DERIVED_TABLES} == before


def test_batches_of_one_block_and_a_crash_in_one_give_the_same_article6_tables(
    registry: Registry, scenario: dict[str, Any], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer of a later batch takes a Party's administrators and the config row as the
    database holds them; a crash in the batch that re-registers a Party leaves no trace."""
    head = registry.client.block_number()
    before = scenario["reregistered_block"] - 1  # IX and IY registered once
    first = make_indexer(engine, registry, finality_depth=head - before).sync_once()
    assert first.end_block == before
    indexer = make_indexer(engine, registry, batch_blocks=1, max_batch_blocks=1)
    original = MirrorWriter.apply

    def apply_then_crash(self: MirrorWriter, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        raise RuntimeError("simulated crash after writing the batch")

    monkeypatch.setattr(MirrorWriter, "apply", apply_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        indexer.sync_once(max_batches=1)
    monkeypatch.undo()
    assert indexer.checkpoint()[0] == before
    admins = table_of(Article6PartyAdministrator)
    with engine.connect() as conn:
        kept = set(conn.execute(select(admins.c.address).where(admins.c.party == "IX")).scalars())
    assert kept == set(scenario["administrators"][:2])

    result = indexer.sync_once()
    assert result.end_block == head and result.batches == head - before
    report = audit(engine, registry.client, registry.deployment, registry.abi, seed=11)
    assert report.ok, report.differences
    forward = {t.name: _rows_of(engine, t) for t in DERIVED_TABLES}
    with engine.begin() as conn:
        rebuild_derived(conn)  # one writer over every event
    assert {t.name: _rows_of(engine, t) for t in DERIVED_TABLES} == forward


def _rows_of(engine: Engine, table: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]


@pytest.mark.parametrize("party", ["IX", "IY"])
def test_the_aef_from_the_mirror_equals_the_aef_from_the_chain(
    registry: Registry, scenario: dict[str, Any], engine: Engine, party: str
) -> None:
    make_indexer(engine, registry).sync_once()
    result = audit_aef(
        engine, registry.client, registry.deployment, registry.abi, party, scenario["year"]
    )
    assert result.ok, result.differences
    s = scenario["start"]
    if party == "IX":
        assert [r["action_type"] for r in result.chain.actions] == [
            "authorization",
            "first_transfer",
            "authorization",
            "first_transfer",
            "transfer",
        ]
        assert [
            (h["underlying_block_start"], h["underlying_block_end"]) for h in result.chain.holdings
        ] == [(s + 20, s + 59), (s + 90, s + 99)]
    else:
        assert [r["action_type"] for r in result.chain.actions] == [
            "acquisition",
            "use_towards_ndc",
        ]
        (use,) = [r for r in result.chain.actions if r["action_type"] == "use_towards_ndc"]
        assert use["cancellation_purposes"] == ["ndc_use"]
        assert use["using_party_or_entity"] == "IY"
        assert [
            (h["underlying_block_start"], h["underlying_block_end"]) for h in result.chain.holdings
        ] == [(s + 10, s + 19)]
    # The same builder over the mirror's facts at the same block gives the same report.
    with engine.connect() as conn:
        facts = load_mirror_facts(conn, party, result.block_number)
    mirror = build_aef(facts, party, scenario["year"], result.chain.holdings_at)
    assert mirror == result.chain
    again = chain_aef(
        registry.client,
        registry.deployment,
        registry.abi,
        party,
        scenario["year"],
        result.block_number,
    )
    assert again == result.chain


def test_the_aef_audit_of_a_party_the_chain_does_not_know_fails(
    registry: Registry, scenario: dict[str, Any], engine: Engine
) -> None:
    make_indexer(engine, registry).sync_once()
    result = audit_aef(engine, registry.client, registry.deployment, registry.abi, "IZ", 2024)
    assert not result.ok
    assert result.chain.actions == () and result.mirror is None
    assert any("No Party 'IZ'" in note for note in result.notes)
