"""The checks each operation's request must pass against the mirror: one per operation.

`prepare` runs them on the message it builds and `submit` on the message it is given, so both
refuse the same requests with the same codes (the contract checks everything again on-chain).
A check takes the resolver, the message and the route's path parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_utils.address import to_checksum_address

from api.ids import account_number
from api.intents import PLATFORM_STATUSES, SCOPES, Resolver, message_ranges
from api.operations.refusals import Refusal

__all__ = [
    "Precheck",
    "association_head",
    "check_account_path",
    "check_admin",
    "check_associate",
    "check_association_decision",
    "check_cancel",
    "check_decide",
    "check_escrow_decision",
    "check_grant_consent",
    "check_issue",
    "check_label",
    "check_lock",
    "check_open_account",
    "check_platform_path",
    "check_project",
    "check_register_platform",
    "check_reservation",
    "check_revoke_consent",
    "check_transfer",
    "lock_head",
]


def _bad(detail: str) -> Refusal:
    return Refusal("INVALID_TYPED_DATA", detail)


Precheck = Callable[[Resolver, dict[str, Any], dict[str, str]], None]


def check_admin(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin")


def check_open_account(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin")
    seen: set[str] = set()
    for rep in m["representatives"]:
        address = str(rep["addr"]).lower()
        if address in seen:
            raise Refusal(
                "InvalidRepresentative",
                f"{rep['addr']} is named twice; name each representative once.",
            )
        seen.add(address)
        if int(address, 16) == 0 or not (rep["primary"] or rep["canInitiate"] or rep["canApprove"]):
            raise Refusal(
                "InvalidRepresentative",
                f"Representative {rep['addr']} needs an address and a role (primary, initiate "
                "or approve).",
            )
    primaries = sum(1 for rep in m["representatives"] if rep["primary"])
    if primaries != 1:
        raise Refusal(
            "PrimaryRepresentativeRequired",
            f"Name exactly one primary representative, not {primaries}.",
        )


def check_project(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin", "issuer")


def check_issue(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "issuer")
    r.account_at(m["toAccount"])


def check_transfer(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    account = r.account_at(m["fromAccount"])
    target = r.account_at(m["toAccount"])
    if account.id == target.id:
        raise Refusal("SameAccount", "A transfer needs two different accounts.")
    r.require_right(account, m["signer"], "initiate")
    r.check_ranges(account, message_ranges(m))


def check_decide(right: str) -> Precheck:
    def check(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
        if "transfer_id" in p and int(p["transfer_id"]) != m["transferId"]:
            raise _bad("message.transferId differs from the transfer in the path")
        transfer = r.transfer(m["transferId"])
        account = r.account_at(transfer.from_account)
        r.require_right(account, m["signer"], right)
        if right == "approve" and str(transfer.initiator).lower() == str(m["signer"]).lower():
            raise Refusal(
                "ApproverIsInitiator",
                "Under two-person approval, another representative must approve.",
            )

    return check


def check_cancel(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    r.check_ranges(account, message_ranges(m))


def check_label(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    if "applied" in p and (p["applied"] == "true") != m["applied"]:
        raise _bad("message.applied does not match the operation (apply or remove)")
    if "label" in p and r.label_id(p["label"]) != m["labelId"]:
        raise _bad("message.labelId differs from the label in the path")
    r.require_role(m["signer"], "label_authority")
    message_ranges(m)


def check_account_path(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    if "account_id" in p:
        if account_number(r.registry_code, p["account_id"]) != m["accountId"]:
            raise _bad("message.accountId differs from the account in the path")
    check_admin(r, m, p)


def _same_id(p: dict[str, str], key: str, m: dict[str, Any], field: str) -> None:
    if key in p and int(p[key]) != m[field]:
        raise _bad(f"message.{field} differs from the id in the path")


def check_platform_path(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    if "platform" in p and to_checksum_address(p["platform"]) != m["platform"]:
        raise _bad("message.platform differs from the platform in the path")
    if "status" in m and m["status"] not in PLATFORM_STATUSES.values():
        raise _bad(f"message.status must be one of {sorted(PLATFORM_STATUSES.values())}")
    r.require_role(m["signer"], "registry_admin")
    platform = r.platform(m["platform"], must_be_active=False)
    if "status" in m and PLATFORM_STATUSES[platform.status] == m["status"]:
        raise Refusal(
            "InvalidStatusChange",
            f"Platform {platform.address} is already {platform.status}.",
        )
    if m.get("enabled"):
        r.signers_free(m["platform"], [m["platformSigner"]])


def check_register_platform(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin")
    _check_new_platform(r, m["platform"], m["custodialAccount"])
    r.signers_free(m["platform"], m["signers"])


def _check_new_platform(r: Resolver, platform: str, custodial: int) -> None:
    """Refuse registering a platform twice, or with an account that is not free custody."""
    try:
        r.platform(platform, must_be_active=False)
    except Refusal:
        pass
    else:
        raise Refusal(
            "PlatformAlreadyRegistered", f"A platform is already registered at {platform}."
        )
    account = r.account_at(custodial, must_be_open=False)
    if account.kind != "custodial" or account.status == "closed":
        raise Refusal(
            "CustodialAccountRequired",
            f"{r.registry_code}-{custodial} is a {account.status} {account.kind} account; a "
            "platform's custody needs an account of kind `custodial` that is not closed.",
        )
    other = r.custodian(custodial)
    if other is not None:
        raise Refusal(
            "CustodialAccountTaken",
            f"{r.registry_code}-{custodial} is already the custodial account of platform {other}.",
        )


def check_grant_consent(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    r.platform(m["platform"])
    names = {value: name for name, value in SCOPES.items()}
    if m["scope"] not in names:
        raise _bad(f"message.scope must be one of {sorted(names)}")
    scope = names[m["scope"]]
    existing = r.active_consent(account.id, m["platform"], scope)
    if existing is not None:
        raise Refusal(
            "ConsentAlreadyGranted", f"Consent {existing} already grants this platform `{scope}`."
        )


def check_revoke_consent(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    _same_id(p, "consent_id", m, "consentId")
    consent = r.consent(m["consentId"])
    account = r.account_at(consent.account_id, must_be_open=False)
    r.require_right(account, m["signer"], "appointed")


def lock_head(r: Resolver, m: dict[str, Any], scope: str) -> Any:
    """Check a Reserve or Escrow message but its ranges; return the account's mirror row."""
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    r.platform(m["platform"])
    r.require_consent(account, m["platform"], scope)
    return account


def check_lock(scope: str) -> Precheck:
    def check(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
        r.check_ranges(lock_head(r, m, scope), message_ranges(m))

    return check


def check_reservation(right: str, *, transfer: bool = False) -> Precheck:
    def check(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
        _same_id(p, "reservation_id", m, "reservationId")
        reservation = r.reservation(m["reservationId"])
        account = r.account_at(reservation.account_id)
        r.require_right(account, m["signer"], right)
        if transfer:
            platform = r.platform(reservation.platform)
            r.account_at(platform.custodial_account_id)

    return check


def check_escrow_decision(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    _same_id(p, "escrow_id", m, "escrowId")
    escrow = r.escrow(m["escrowId"])
    r.require_escrow_controller(escrow, m["signer"])
    r.account_at(escrow.account_id)
    if "toAccount" in m:
        if m["toAccount"] == escrow.account_id:
            raise Refusal("SameAccount", "An escrow settles to another account.")
        r.can_receive(r.account_at(m["toAccount"]))


def association_head(r: Resolver, m: dict[str, Any]) -> Any:
    """Check an Associate message but its ranges; return the account's mirror row."""
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    certificate = bytes.fromhex(m["certificateId"][2:])
    if not any(certificate):
        raise Refusal("InvalidCertificate", "The certificate id is empty.")
    registry = m["thirdPartyRegistry"]
    if not r.chain.has_role("third_party_registry", registry):
        raise Refusal(
            "NOT_AUTHORISED",
            f"{registry} does not hold the third_party_registry role; the registry "
            "administrator grants it to certificate schemes.",
        )
    r.certificate_unused(registry, certificate)
    return account


def check_associate(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.check_ranges(association_head(r, m), message_ranges(m))


def check_association_decision(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    _same_id(p, "association_id", m, "associationId")
    association = r.association(m["associationId"])
    r.require_association_registry(association, m["signer"])
    r.account_at(association.account_id)
