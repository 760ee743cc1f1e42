"""Article 6 writes: intents resolved into typed data, and the mirror checks of signed requests.

Every operation has one check over its message (the fields as signed), which `submit` runs on the
signed message (PRECHECKS). `prepare` runs the same checks while it builds the message: the
signer and terms first, then the units as it resolves them (explicit ranges are checked, a
quantity is chosen among the units that pass). Both refuse, with the contract's codes, what the
mirror already shows the contract would refuse; the contract checks everything again itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, select

from api.intents import Resolver, bytes8_hex, bytes32_hex, day_end, day_start, message_ranges
from api.mirrorq import containing_block
from api.operations.refusals import Refusal
from api.schemas import (
    MAX_RANGES,
    Article64IssuanceIntent,
    AuthorizationIntent,
    CooperativeApproachIntent,
    ItmoCancellationIntent,
    ItmoTransferIntent,
    MechanismAccountsIntent,
    PartyIntent,
    SerialRange,
)
from indexer.models import (
    Account,
    Article6ApproachParty,
    Article6Authorization,
    Article6Config,
    Article6ItmoTransfer,
    Article6Party,
    Issuance,
    Project,
    Transfer,
    table_of,
)
from node.contracts import (
    AccountKind,
    AuthorizationPurpose,
    CancellationPurpose,
    FirstTransferDefinition,
    bytes32_text,
)

__all__ = [
    "ARTICLE6_PRECHECKS",
    "article64_shares",
    "build_article64",
    "build_authorization",
    "build_cooperative_approach",
    "build_itmo_cancellation",
    "build_itmo_decision",
    "build_itmo_transfer",
    "build_mechanism_accounts",
    "build_party",
]

_ZERO_ADDRESS = "0x" + "00" * 20
_ACCOUNTS = table_of(Account)
_PARTIES = table_of(Article6Party)
_APPROACH_PARTIES = table_of(Article6ApproachParty)
_AUTHORIZATIONS = table_of(Article6Authorization)
_CONFIG = table_of(Article6Config)
_ITMO_TRANSFERS = table_of(Article6ItmoTransfer)
_TRANSFERS = table_of(Transfer)
_ISSUANCES = table_of(Issuance)
_PROJECTS = table_of(Project)

_PURPOSE_BITS = {"ndc_use": int(AuthorizationPurpose.NDC), "oimp": int(AuthorizationPurpose.OIMP)}
_DEFINITIONS = {d.name.lower(): int(d) for d in FirstTransferDefinition if d.value}
_CANCEL_PURPOSES = {p.name.lower(): int(p) for p in CancellationPurpose}
_MECHANISM_KINDS = {
    "pending": AccountKind.PENDING,
    "holding": AccountKind.HOLDING,
    "cancellation": AccountKind.CANCELLATION,
    "omgeCancellation": AccountKind.OMGE_CANCELLATION,
    "shareOfProceeds": AccountKind.SHARE_OF_PROCEEDS,
}


def article64_shares(quantity: int) -> tuple[int, int, int]:
    """Return (share of proceeds, OMGE, forwarded): 5% and 2% rounded up, and the rest (A3)."""
    share_of_proceeds = (quantity * 5 + 99) // 100
    omge = (quantity * 2 + 99) // 100
    return share_of_proceeds, omge, quantity - share_of_proceeds - omge


# -- mirror look-ups -------------------------------------------------------------------------


def _party(r: Resolver, code: str) -> Any:
    row = r.conn.execute(select(_PARTIES).where(_PARTIES.c.party == code)).first()
    if row is None:
        raise Refusal("PartyNotFound", f"No Party {code!r} is registered.")
    return row


def _participants(r: Resolver, approach: str) -> set[str]:
    rows = r.conn.execute(
        select(_APPROACH_PARTIES.c.party).where(_APPROACH_PARTIES.c.approach_id == approach)
    )
    return {str(p) for (p,) in rows}


def _authorization(r: Resolver, authorization_id: int) -> Any:
    row = r.conn.execute(
        select(_AUTHORIZATIONS).where(_AUTHORIZATIONS.c.id == authorization_id)
    ).first()
    if row is None:
        raise Refusal("AuthorizationNotFound", f"There is no authorization {authorization_id}.")
    return row


def _can_receive(r: Resolver, number: int) -> Any:
    account = r.account_at(number)
    r.can_receive(account)
    return account


def _require_admin(r: Resolver, message: dict[str, Any]) -> None:
    r.require_role(message["signer"], "registry_admin")


# -- checks of signed messages ---------------------------------------------------------------


def check_party(r: Resolver, m: dict[str, Any]) -> None:
    """Check a RegisterParty message against roles and the mirror."""
    _require_admin(r, m)
    code, registry_id = bytes32_text(m["party"]), bytes32_text(m["registryId"])
    authority = m["labelAuthority"]
    if not code or not registry_id or authority == _ZERO_ADDRESS:
        raise Refusal("InvalidParty", "A Party needs a code, a registry id and a label authority.")
    if not r.chain.has_role("label_authority", authority):
        raise Refusal(
            "NOT_AUTHORISED",
            f"{authority} does not hold the label_authority role; grant it before naming it the "
            "Party's label authority.",
        )
    existing = r.conn.execute(select(_PARTIES).where(_PARTIES.c.party == code)).first()
    if existing is not None and existing.registry_id != registry_id:
        raise Refusal(
            "PartyRegistryIdChanged",
            f"Party {code} has registry id {existing.registry_id}; it never changes.",
        )
    seen: set[str] = set()
    for address in m["administrators"]:
        if address == _ZERO_ADDRESS or address in seen:
            raise Refusal(
                "InvalidPartyAdministrator",
                f"Administrator {address} is the zero address or listed twice.",
            )
        seen.add(address)


def check_cooperative_approach(r: Resolver, m: dict[str, Any]) -> None:
    """Check a RegisterCooperativeApproach message."""
    _require_admin(r, m)
    approach = bytes32_text(m["approachId"])
    parties = [bytes32_text(p) for p in m["parties"]]
    if not approach or not parties or len(parties) > MAX_RANGES:
        raise Refusal(
            "InvalidCooperativeApproach",
            "A cooperative approach needs an id and 1 to 256 participating Parties.",
        )
    seen: set[str] = set()
    for code in parties:
        _party(r, code)
        if code in seen:
            raise Refusal("DuplicateParticipant", f"Party {code} is listed twice.")
        seen.add(code)


def check_mechanism_accounts(r: Resolver, m: dict[str, Any]) -> None:
    """Check a SetMechanismAccounts message: each account exists with its kind."""
    _require_admin(r, m)
    for field, kind in _MECHANISM_KINDS.items():
        number = m[field]
        row = r.conn.execute(select(_ACCOUNTS.c.kind).where(_ACCOUNTS.c.id == number)).first()
        actual = row.kind if row is not None else "none"
        if actual != kind.name.lower():
            raise Refusal(
                "MechanismAccountKindMismatch",
                f"The {field} account must be a {kind.name.lower()} account; "
                f"{r.registry_code}-{number} is {actual}.",
            )


def _section_ranges(r: Resolver, ranges: list[SerialRange], party: str) -> list[dict[str, int]]:
    """Split ranges along blocks; each must be free Held units of an open account of `party`."""
    pieces: list[dict[str, int]] = []
    accounts: dict[int, Any] = {}
    for wanted in sorted(ranges, key=lambda x: x.start):
        if pieces and wanted.start <= pieces[-1]["end"]:
            raise Refusal("InvalidRange", "The ranges overlap.")
        serial = wanted.start
        while serial <= wanted.end:
            block = containing_block(r.conn, serial)
            if block is None or block.end < serial:
                raise Refusal("BlockHintsMismatch", f"Serial {serial} has not been issued.")
            if block.state == "cancelled":
                raise Refusal("UnitsAlreadyCancelled", f"Serial {serial} is cancelled.")
            if block.state != "held" or block.lock_id != 0:
                raise Refusal(
                    "UnitsLocked",
                    f"Serial {serial} is {block.state} under lock {block.lock_id}; only free "
                    "held units can be authorized.",
                )
            account = accounts.get(block.account_id)
            if account is None:
                account = r.account_at(block.account_id)
                accounts[block.account_id] = account
            if account.party != party:
                raise Refusal(
                    "UnitsNotInPartySection",
                    f"Serial {serial} is held by {r.registry_code}-{account.id} of Party "
                    f"{account.party or '(none)'}, not of Party {party}.",
                )
            end = min(block.end, wanted.end)
            pieces.append({"start": serial, "end": end})
            serial = end + 1
    if len(pieces) > MAX_RANGES:
        raise Refusal(
            "InvalidRangeCount", f"The ranges cover {len(pieces)} blocks; at most {MAX_RANGES}."
        )
    return pieces


def check_authorization(r: Resolver, m: dict[str, Any]) -> None:
    """Check an Authorize message: the Party's label authority, the letter's terms, the units."""
    _check_letter(r, m)
    _section_ranges(r, message_ranges(m), bytes32_text(m["party"]))


def _check_letter(r: Resolver, m: dict[str, Any]) -> None:
    """Check the signer and the letter of an Authorize message, in the contract's order."""
    code = bytes32_text(m["party"])
    party = _party(r, code)
    signer = m["signer"]
    if party.label_authority != signer or not r.chain.has_role("label_authority", signer):
        raise Refusal(
            "NOT_AUTHORISED",
            f"{signer} is not the label authority of Party {code}; only it authorizes.",
        )
    letter, approach = bytes32_text(m["letterId"]), bytes32_text(m["approachId"])
    definition, purposes = m["firstTransferDefinition"], m["purposes"]
    existing = r.conn.execute(
        select(_AUTHORIZATIONS).where(
            and_(_AUTHORIZATIONS.c.party == code, _AUTHORIZATIONS.c.letter_id == letter)
        )
    ).first()
    if existing is not None:
        terms = (
            approach,
            _purposes_text(purposes),
            _DEFINITION_NAMES.get(definition),
            m["authorizedAt"],
        )
        recorded = (
            existing.approach_id,
            existing.purposes,
            existing.first_transfer_definition,
            existing.authorized_at,
        )
        if terms != recorded:
            raise Refusal(
                "AuthorizationMismatch",
                f"Party {code}'s letter {letter} is recorded as authorization {existing.id} with "
                "other terms; repeat its approach, purposes, definition and date.",
            )
    else:
        if not letter:
            raise Refusal("InvalidLetterId", "The letter id is empty.")
        participants = _participants(r, approach)
        if not participants:
            raise Refusal(
                "CooperativeApproachNotFound",
                f"No cooperative approach {approach!r} is registered.",
            )
        if code not in participants:
            raise Refusal(
                "PartyNotInApproach",
                f"Party {code} does not participate in cooperative approach {approach}.",
            )
        if not 1 <= purposes <= 3:
            raise Refusal("InvalidPurposes", "Purposes are ndc_use, oimp or both.")
        if definition not in _DEFINITION_NAMES:
            raise Refusal(
                "InvalidFirstTransferDefinition",
                "The first transfer definition is at_authorization, at_issuance or "
                "at_use_or_cancellation.",
            )
        if not 0 < m["authorizedAt"] <= time.time():
            raise Refusal(
                "InvalidAuthorizationDate",
                "The date of authorization must be set and not in the future.",
            )


def check_article64(r: Resolver, m: dict[str, Any]) -> None:
    """Check an IssueArticle64 message: mechanism, project, period, shares and forwards."""
    r.require_role(m["signer"], "issuer")
    config = r.conn.execute(select(_CONFIG)).first()
    if config is None or config.pending_account is None:
        raise Refusal(
            "MechanismNotConfigured",
            "The Article 6.4 mechanism accounts are not configured; "
            "POST /v1/article6/mechanism-accounts first.",
        )
    project = bytes32_text(m["projectId"])
    if r.conn.execute(select(_PROJECTS.c.id).where(_PROJECTS.c.id == project)).first() is None:
        raise Refusal("ProjectNotFound", f"There is no project {project!r}.")
    start, end = m["monitoringStart"], m["monitoringEnd"]
    if start > end:
        raise Refusal("InvalidMonitoringPeriod", "The monitoring period ends before it starts.")
    unit_type = bytes32_text(m["unitType"])
    i = _ISSUANCES.c
    overlap = r.conn.execute(
        select(i.monitoring_start, i.monitoring_end).where(
            i.project_id == project,
            i.unit_type == unit_type,
            i.monitoring_start <= end,
            i.monitoring_end >= start,
        )
    ).first()
    if overlap is not None:
        raise Refusal(
            "MonitoringPeriodOverlap",
            f"Project {project} already has {unit_type} issued for a period overlapping this one.",
        )
    quantity = m["quantity"]
    if quantity == 0:
        raise Refusal("InvalidQuantity", "The quantity is zero.")
    _share_of_proceeds, _omge, forwarded = article64_shares(quantity)
    if forwarded < 0:
        raise _too_small(quantity)
    forwards = m["forwards"]
    if len(forwards) > MAX_RANGES or (forwarded and not forwards):
        raise Refusal(
            "InvalidForwardCount",
            f"Give 1 to {MAX_RANGES} forwards for the {forwarded} units that remain.",
        )
    for forward in forwards:
        if forward["quantity"] == 0:
            raise Refusal("InvalidQuantity", "A forward's quantity is zero.")
        if forward["accountId"] == config.pending_account:
            raise Refusal("SameAccount", "Forwards go to participants, not to the pending account.")
        _can_receive(r, forward["accountId"])
    total = sum(f["quantity"] for f in forwards)
    if total != forwarded:
        raise Refusal(
            "ForwardedQuantityMismatch",
            f"After {_share_of_proceeds} for the share of proceeds and {_omge} for OMGE, "
            f"{forwarded} units remain; the forwards add up to {total}.",
        )


def _too_small(quantity: int) -> Refusal:
    share_of_proceeds, omge, _ = article64_shares(quantity)
    return Refusal(
        "IssuanceTooSmall",
        f"{quantity} units cannot carry {share_of_proceeds} for the share of proceeds and "
        f"{omge} for OMGE; issue at least 2.",
    )


def _itmo_target(r: Resolver, source: Any, target_number: int, authorization: Any) -> None:
    target = _can_receive(r, target_number)
    if source.party != target.party:
        _party(r, target.party)
        if target.party not in _participants(r, authorization.approach_id):
            raise Refusal(
                "PartyNotInApproach",
                f"Party {target.party} of {r.registry_code}-{target.id} does not participate in "
                f"cooperative approach {authorization.approach_id}.",
            )


def check_itmo_transfer_out(r: Resolver, m: dict[str, Any]) -> None:
    """Check a TransferItmosOut message: as a TransferOut, plus the authorization and the acquiring
    Party (one this registry records with the peer's code as its registry, in the approach)."""
    from api.queries.interop import peers

    source = r.account_at(m["fromAccount"])
    r.require_right(source, m["signer"], "initiate")
    code = bytes32_text(m["toRegistry"])
    if code not in peers(r.conn):
        raise Refusal("PeerNotFound", f"Registry {code!r} is not a peer of this registry.")
    if int(m["toAccount"]) == 0:
        raise Refusal("INVALID_ACCOUNT_ID", "The destination account id is zero.")
    authorization = _authorization(r, m["authorizationId"])
    party = bytes32_text(m["toParty"])
    row = _party(r, party)
    if row.registry_id != code:
        raise Refusal(
            "InvalidAcquiringParty",
            f"Party {party} is recorded with registry {row.registry_id}, not {code}.",
        )
    if party not in _participants(r, authorization.approach_id):
        raise Refusal(
            "PartyNotInApproach",
            f"Party {party} does not participate in cooperative approach "
            f"{authorization.approach_id}.",
        )
    r.check_ranges(source, message_ranges(m), lock=m["authorizationId"])


def _acquiring_party(r: Resolver, code: str) -> str:
    """The Party of a peer registry's section: the one Party recorded with registry `code`."""
    rows = r.conn.execute(select(_PARTIES.c.party).where(_PARTIES.c.registry_id == code)).all()
    if len(rows) != 1:
        raise Refusal(
            "InvalidAcquiringParty",
            f"{len(rows)} Parties are recorded with registry {code}; an ITMO transfer to it needs "
            "exactly one (register the acquiring Party with that registry id).",
        )
    return str(rows[0][0])


def check_itmo_transfer(r: Resolver, m: dict[str, Any]) -> None:
    """Check a TransferItmos message."""
    source = _check_itmo_transfer_head(r, m)
    r.check_ranges(source, message_ranges(m), lock=m["authorizationId"])


def _check_itmo_transfer_head(r: Resolver, m: dict[str, Any]) -> Any:
    """Check the accounts, the signer and the authorization of a TransferItmos message."""
    source = r.account_at(m["fromAccount"])
    r.require_right(source, m["signer"], "initiate")
    if m["fromAccount"] == m["toAccount"]:
        raise Refusal("SameAccount", "A transfer needs two different accounts.")
    authorization = _authorization(r, m["authorizationId"])
    _itmo_target(r, source, m["toAccount"], authorization)
    return source


def _itmo_transfer(r: Resolver, transfer_id: int) -> Any:
    row = r.conn.execute(
        select(_TRANSFERS, _ITMO_TRANSFERS.c.authorization_id)
        .select_from(
            _TRANSFERS.join(_ITMO_TRANSFERS, _ITMO_TRANSFERS.c.transfer_id == _TRANSFERS.c.id)
        )
        .where(_TRANSFERS.c.id == transfer_id)
    ).first()
    if row is None:
        raise Refusal("TransferNotFound", f"There is no ITMO transfer {transfer_id}.")
    if row.status != "pending":
        raise Refusal("TransferNotPending", f"Transfer {transfer_id} is {row.status}.")
    return row


def check_itmo_decision(
    approve: bool,
) -> Callable[[Resolver, dict[str, Any], dict[str, str]], None]:
    """Return the check of an ApproveItmoTransfer or RescindItmoTransfer message."""

    def check(r: Resolver, m: dict[str, Any], path: dict[str, str]) -> None:
        if "transfer_id" in path and int(path["transfer_id"]) != m["transferId"]:
            raise Refusal(
                "INVALID_TYPED_DATA",
                "message.transferId differs from the transfer in the path",
            )
        transfer = _itmo_transfer(r, m["transferId"])
        source = r.account_at(transfer.from_account)
        r.require_right(source, m["signer"], "approve" if approve else "appointed")
        if approve:
            if transfer.initiator == m["signer"]:
                raise Refusal(
                    "ApproverIsInitiator",
                    "Under two-person approval, another representative must approve.",
                )
            _itmo_target(
                r, source, transfer.to_account, _authorization(r, transfer.authorization_id)
            )

    return check


def check_itmo_cancellation(r: Resolver, m: dict[str, Any]) -> None:
    """Check a CancelItmos message: the account's right, the authorized purpose, the units."""
    account = _check_itmo_cancellation_head(r, m)
    r.check_ranges(account, message_ranges(m), lock=m["authorizationId"])


def _check_itmo_cancellation_head(r: Resolver, m: dict[str, Any]) -> Any:
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    authorization = _authorization(r, m["authorizationId"])
    purposes = authorization.purposes.split(",")
    purpose = m["purpose"]
    for needed, word in (
        (CancellationPurpose.NDC_USE, "ndc_use"),
        (CancellationPurpose.OIMP, "oimp"),
    ):
        if purpose == needed and word not in purposes:
            raise Refusal(
                "PurposeNotAuthorized",
                f"Authorization {authorization.id} does not authorize {word}; it authorizes "
                f"{authorization.purposes}.",
            )
    return account


def _message_check(
    check: Callable[[Resolver, dict[str, Any]], None],
) -> Callable[[Resolver, dict[str, Any], dict[str, str]], None]:
    def run(r: Resolver, m: dict[str, Any], _path: dict[str, str]) -> None:
        check(r, m)

    return run


ARTICLE6_PRECHECKS: dict[str, Callable[[Resolver, dict[str, Any], dict[str, str]], None]] = {
    "RegisterParty": _message_check(check_party),
    "RegisterCooperativeApproach": _message_check(check_cooperative_approach),
    "SetMechanismAccounts": _message_check(check_mechanism_accounts),
    "Authorize": _message_check(check_authorization),
    "IssueArticle64": _message_check(check_article64),
    "TransferItmos": _message_check(check_itmo_transfer),
    "TransferItmosOut": _message_check(check_itmo_transfer_out),
    "ApproveItmoTransfer": check_itmo_decision(approve=True),
    "RescindItmoTransfer": check_itmo_decision(approve=False),
    "CancelItmos": _message_check(check_itmo_cancellation),
}

_DEFINITION_NAMES = {value: name for name, value in _DEFINITIONS.items()}


def _purposes_text(bits: int) -> str:
    return ",".join(word for word, bit in _PURPOSE_BITS.items() if bits & bit)


# -- prepare: intents -> typed data ----------------------------------------------------------


def build_party(r: Resolver, intent: PartyIntent) -> dict[str, Any]:
    """Return the typed data registering a Party."""
    message = {
        "signer": intent.signer,
        "party": bytes8_hex(intent.party),
        "registryId": bytes8_hex(intent.registry_id),
        "labelAuthority": intent.label_authority,
        "administrators": list(intent.administrators),
    }
    check_party(r, message)
    return r.typed("RegisterParty", intent.signer, message)


def build_cooperative_approach(r: Resolver, intent: CooperativeApproachIntent) -> dict[str, Any]:
    """Return the typed data registering a cooperative approach."""
    message = {
        "signer": intent.signer,
        "approachId": bytes32_hex(intent.approach_id),
        "name": intent.name,
        "parties": [bytes8_hex(p) for p in intent.parties],
    }
    check_cooperative_approach(r, message)
    return r.typed("RegisterCooperativeApproach", intent.signer, message)


def build_mechanism_accounts(r: Resolver, intent: MechanismAccountsIntent) -> dict[str, Any]:
    """Return the typed data naming the Article 6.4 mechanism accounts."""
    message: dict[str, Any] = {"signer": intent.signer}
    for field, account_id in (
        ("pending", intent.pending),
        ("holding", intent.holding),
        ("cancellation", intent.cancellation),
        ("omgeCancellation", intent.omge_cancellation),
        ("shareOfProceeds", intent.share_of_proceeds),
    ):
        message[field] = r.account(account_id, must_be_open=False).id
    check_mechanism_accounts(r, message)
    return r.typed("SetMechanismAccounts", intent.signer, message)


def build_authorization(r: Resolver, intent: AuthorizationIntent) -> dict[str, Any]:
    """Return the typed data applying a letter of authorization to units."""
    bits = 0
    for purpose in intent.purposes:
        bits |= _PURPOSE_BITS[purpose]
    message: dict[str, Any] = {
        "signer": intent.signer,
        "party": bytes8_hex(intent.party),
        "letterId": bytes32_hex(intent.letter_id),
        "approachId": bytes32_hex(intent.cooperative_approach),
        "purposes": bits,
        "firstTransferDefinition": _DEFINITIONS[intent.first_transfer_definition],
        "authorizedAt": day_start(intent.date),
    }
    _check_letter(r, message)
    if intent.ranges is not None:
        ranges = _section_ranges(r, intent.ranges, intent.party)
    else:
        assert intent.account_id is not None  # the intent's validator requires it
        account = r.account(intent.account_id)
        if account.party != intent.party:
            raise Refusal(
                "UnitsNotInPartySection",
                f"{intent.account_id} belongs to Party {account.party or '(none)'}, "
                f"not {intent.party}.",
            )
        chosen = r.select_units(account, intent.quantity or 0, intent.filters)
        ranges = [{"start": s, "end": e} for s, e in chosen]
    message["ranges"] = ranges
    return r.typed("Authorize", intent.signer, message)


def build_article64(r: Resolver, intent: Article64IssuanceIntent) -> dict[str, Any]:
    """Return the typed data of an Article 6.4 issuance (a forward without quantity: the rest)."""
    if intent.monitoring_period_end < intent.monitoring_period_start:
        raise Refusal("InvalidMonitoringPeriod", "The monitoring period ends before it starts.")
    share_of_proceeds, omge, forwarded = article64_shares(intent.quantity)
    if forwarded < 0:
        raise _too_small(intent.quantity)
    given = sum(f.quantity or 0 for f in intent.forwards)
    forwards = []
    for forward in intent.forwards:
        quantity = forward.quantity if forward.quantity is not None else forwarded - given
        if quantity <= 0:
            raise Refusal(
                "ForwardedQuantityMismatch",
                f"After {share_of_proceeds} for the share of proceeds and {omge} for OMGE, "
                f"{forwarded} units remain; the other forwards take {given}, leaving nothing "
                "for the forward without a quantity.",
            )
        account = r.account(forward.account_id)
        forwards.append({"accountId": account.id, "quantity": quantity})
    message = {
        "signer": intent.signer,
        "projectId": bytes32_hex(intent.project_id),
        "unitType": bytes32_hex(intent.unit_type),
        "vintage": intent.vintage,
        "monitoringStart": day_start(intent.monitoring_period_start),
        "monitoringEnd": day_end(intent.monitoring_period_end),
        "quantity": intent.quantity,
        "forwards": forwards,
    }
    check_article64(r, message)
    return r.typed("IssueArticle64", intent.signer, message)


def _authorization_id(r: Resolver, given: int | None, ranges: list[SerialRange] | None) -> int:
    """Return the authorization an intent names, or else the one its first serial is held under.

    The intents' validators require `ranges` when the authorization is left out.
    """
    if given is not None:
        return given
    assert ranges is not None
    first = min(x.start for x in ranges)
    block = containing_block(r.conn, first)
    if block is None or block.end < first or block.state != "held" or block.lock_id == 0:
        raise Refusal(
            "UnitsLocked",
            "The first serial named is not an ITMO held under an authorization.",
        )
    return int(block.lock_id)


def build_itmo_transfer(r: Resolver, intent: ItmoTransferIntent) -> dict[str, Any]:
    """Return the typed data of an ITMO transfer (to a peer's account: a TransferItmosOut)."""
    source = r.account(intent.from_account)
    if intent.to_account.partition("-")[0] != r.registry_code:
        from api.interop import peer_account
        from api.queries.interop import peers

        code, number = peer_account(intent.to_account)
        if code not in peers(r.conn):
            raise Refusal("PeerNotFound", f"Registry {code!r} is not a peer of this registry.")
        authorization_id = _authorization_id(r, intent.authorization_id, intent.ranges)
        out: dict[str, Any] = {
            "signer": intent.signer,
            "fromAccount": source.id,
            "toRegistry": bytes8_hex(code),
            "toAccount": number,
            "toParty": bytes8_hex(_acquiring_party(r, code)),
            "authorizationId": authorization_id,
            "ranges": [],
        }
        r.require_right(source, intent.signer, "initiate")
        out["ranges"] = r.units(
            source, intent.quantity, intent.filters, intent.ranges, authorization_id
        )
        check_itmo_transfer_out(r, out)
        return r.typed("TransferItmosOut", intent.signer, out)
    target = r.account(intent.to_account, must_be_open=False)
    authorization_id = _authorization_id(r, intent.authorization_id, intent.ranges)
    message: dict[str, Any] = {
        "signer": intent.signer,
        "fromAccount": source.id,
        "toAccount": target.id,
        "authorizationId": authorization_id,
    }
    _check_itmo_transfer_head(r, message)
    message["ranges"] = r.units(
        source, intent.quantity, intent.filters, intent.ranges, authorization_id
    )
    return r.typed("TransferItmos", intent.signer, message)


def build_itmo_decision(
    r: Resolver, transfer_id: int, signer: str, approve: bool
) -> dict[str, Any]:
    """Return the typed data approving or rescinding a pending ITMO transfer."""
    message = {"signer": signer, "transferId": transfer_id}
    check_itmo_decision(approve)(r, message, {})
    primary = "ApproveItmoTransfer" if approve else "RescindItmoTransfer"
    return r.typed(primary, signer, message)


def build_itmo_cancellation(r: Resolver, intent: ItmoCancellationIntent) -> dict[str, Any]:
    """Return the typed data of a use or cancellation of ITMOs."""
    account = r.account(intent.account_id)
    authorization_id = _authorization_id(r, intent.authorization_id, intent.ranges)
    message: dict[str, Any] = {
        "signer": intent.signer,
        "accountId": account.id,
        "authorizationId": authorization_id,
        "purpose": _CANCEL_PURPOSES[intent.purpose],
        "beneficiary": intent.beneficiary,
        "reason": intent.reason,
    }
    _check_itmo_cancellation_head(r, message)
    message["ranges"] = r.units(
        account, intent.quantity, intent.filters, intent.ranges, authorization_id
    )
    return r.typed("CancelItmos", intent.signer, message)
