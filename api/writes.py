"""Signed writes: build typed data from intents (prepare) and journal signed requests (submit).

Submit checks, in order, and changes nothing when one fails: the typed data is exactly the
registry's (types, domain), the values fit their types, the signature is the named signer's, the
deadline is ahead; a request already journaled is answered with its first request id; then the
nonce is unused and the mirror shows the signer may do it. Only then is it journaled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from api.article6 import ARTICLE6_PRECHECKS
from api.chainview import UNORDERED_NONCE, split_nonce
from api.ids import account_number
from api.intents import PLATFORM_STATUSES, SCOPES, Resolver, message_ranges
from api.models import JournalEntry, RequestStatus
from api.problems import Problem
from api.schemas import MAX_RANGES
from api.services import Services
from node.contracts import AUXILIARY_TYPES, REQUEST_TYPES, request_digest, typed_data

__all__ = [
    "OPERATION_TYPES",
    "accept",
    "association_head",
    "checked_request",
    "fresh_mirror",
    "lock_head",
    "resolver",
    "wait_for_request",
]

T = TypeVar("T")

_JOURNAL = JournalEntry.__table__  # type: ignore[attr-defined]

# Operation path -> the EIP-712 primary type it accepts.
OPERATION_TYPES: dict[str, str] = {
    "admin/accounts": "OpenAccount",
    "admin/accounts/representatives": "SetRepresentative",
    "admin/accounts/status": "SetAccountStatus",
    "admin/projects": "RegisterProject",
    "admin/labels": "DefineLabel",
    "admin/issuances": "Issue",
    "transfers": "InitiateTransfer",
    "transfers/approve": "ApproveTransfer",
    "transfers/rescind": "RescindTransfer",
    "cancellations": "Cancel",
    "labels/apply": "SetLabel",
    "labels/remove": "SetLabel",
    # Platform models (CER Class B) and third-party certificates (Class C).
    "admin/platforms": "RegisterPlatform",
    "admin/platforms/signers": "SetPlatformSigner",
    "admin/platforms/status": "SetPlatformStatus",
    "consents": "GrantConsent",
    "consents/revoke": "RevokeConsent",
    "reservations": "Reserve",
    "reservations/release": "ReleaseReservation",
    "reservations/transfer": "TransferReservation",
    "escrows": "Escrow",
    "escrows/settle": "SettleEscrow",
    "escrows/release": "ReleaseEscrow",
    "associations": "Associate",
    "associations/dissociate": "Dissociate",
    "associations/retire": "RetireAssociation",
    "article6/parties": "RegisterParty",
    "article6/cooperative-approaches": "RegisterCooperativeApproach",
    "article6/mechanism-accounts": "SetMechanismAccounts",
    "article6/authorizations": "Authorize",
    "article6/issuances": "IssueArticle64",
    "article6/transfers": "TransferItmos",
    "article6/transfers/approve": "ApproveItmoTransfer",
    "article6/transfers/rescind": "RescindItmoTransfer",
    "article6/cancellations": "CancelItmos",
}


def resolver(services: Services, conn: Connection) -> Resolver:
    """Return a resolver over the mirror for this deployment."""
    deployment = services.deployment
    return Resolver(
        conn,
        services.chain,
        deployment.chain_id,
        deployment.registry,
        deployment.registry_code,
        services.settings.request_deadline_seconds,
    )


# -- canonical typed data ----------------------------------------------------------------------


def _bad(detail: str) -> Problem:
    return Problem(422, "INVALID_TYPED_DATA", detail)


def _normalize(typ: str, value: Any, path: str) -> Any:
    """Return a message value in canonical form, or raise INVALID_TYPED_DATA naming its path."""
    if typ.endswith("[]"):
        if not isinstance(value, list):
            raise _bad(f"{path} must be an array")
        if len(value) > MAX_RANGES:
            raise _bad(f"{path} has {len(value)} items; at most {MAX_RANGES}")
        return [_normalize(typ[:-2], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if typ in AUXILIARY_TYPES:
        return _normalize_struct(AUXILIARY_TYPES[typ], value, path)
    if typ.startswith("uint"):
        bits = int(typ[4:])
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _bad(f"{path} must be an integer")
        if isinstance(value, str):
            if not value.isascii() or not value.isdecimal():
                raise _bad(f"{path} must be a decimal integer")
            value = int(value)
        if not 0 <= value < 2**bits:
            raise _bad(f"{path} does not fit {typ}")
        return value
    if typ == "address":
        if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
            raise _bad(f"{path} must be a 0x-prefixed 20-byte address")
        try:
            return to_checksum_address(value)
        except ValueError as exc:
            raise _bad(f"{path} must be a 0x-prefixed 20-byte address") from exc
    if typ == "bool":
        if not isinstance(value, bool):
            raise _bad(f"{path} must be true or false")
        return value
    if typ == "string":
        if not isinstance(value, str):
            raise _bad(f"{path} must be a string")
        if len(value) > 200 or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise _bad(f"{path} must be at most 200 characters without control characters")
        return value
    if typ.startswith("bytes"):
        size = int(typ[5:])
        if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
            raise _bad(f"{path} must be 0x followed by {2 * size} hex digits")
        try:
            bytes.fromhex(value[2:])
        except ValueError as exc:
            raise _bad(f"{path} must be hex") from exc
        return value.lower()
    raise _bad(f"{path} has an unsupported type {typ}")


def _normalize_struct(fields: list[dict[str, str]], value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{path} must be an object")
    names = [f["name"] for f in fields]
    if set(value) != set(names):
        missing = sorted(set(names) - set(value))
        extra = sorted(set(value) - set(names))
        raise _bad(f"{path} fields differ from the type: missing {missing}, unexpected {extra}")
    return {
        f["name"]: _normalize(f["type"], value[f["name"]], f"{path}.{f['name']}") for f in fields
    }


def canonical(services: Services, primary_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Return the registry's own typed data for a submission, or raise naming what differs."""
    if not isinstance(data, dict) or data.get("primaryType") != primary_type:
        raise _bad(f"this operation takes a {primary_type} request")
    deployment = services.deployment
    ours = typed_data(
        primary_type,
        {f["name"]: None for f in REQUEST_TYPES[primary_type]},
        deployment.chain_id,
        deployment.registry,
    )
    domain = data.get("domain")
    if not isinstance(domain, dict) or {
        **domain,
        "verifyingContract": str(domain.get("verifyingContract", "")).lower(),
    } != {**ours["domain"], "verifyingContract": deployment.registry.lower()}:
        raise Problem(
            422,
            "WRONG_DOMAIN",
            "The typed data is for another EIP-712 domain; sign for the domain in GET /v1/chain.",
            extra={"expected_domain": ours["domain"]},
        )
    if data.get("types") != ours["types"]:
        raise _bad(f"the types are not the registry's {primary_type} types; use prepare")
    message = _normalize_struct(REQUEST_TYPES[primary_type], data.get("message"), "message")
    return {**ours, "message": message}


# -- submit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A submission that passed the stateless checks."""

    data: dict[str, Any]
    signature: bytes
    digest: str
    signer: str


def _check_signature(data: dict[str, Any], signature: str) -> Checked:
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError as exc:
        raise Problem(422, "INVALID_SIGNATURE", "The signature is not hex.") from exc
    if len(raw) != 65:
        raise Problem(422, "INVALID_SIGNATURE", f"A signature has 65 bytes, not {len(raw)}.")
    try:
        recovered = Account.recover_message(encode_typed_data(full_message=data), signature=raw)
    except Exception as exc:  # eth-keys raises several types for invalid r, s or v
        raise Problem(
            422, "INVALID_SIGNATURE", f"The signature cannot be verified: {exc}."
        ) from exc
    signer = data["message"]["signer"]
    if recovered != signer:
        raise Problem(
            422,
            "INVALID_SIGNATURE",
            f"The signature is by {recovered}, not by the request's signer {signer}; or the "
            "typed data changed after signing.",
        )
    return Checked(data, raw, "0x" + request_digest(data).hex(), signer)


Precheck = Callable[[Resolver, dict[str, Any], dict[str, str]], None]


def _pre_admin(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin")


def _pre_project(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin", "issuer")


def _pre_issue(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "issuer")
    r.account_at(m["toAccount"])


def _pre_transfer(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    account = r.account_at(m["fromAccount"])
    r.require_right(account, m["signer"], "initiate")
    r.check_ranges(account, message_ranges(m))


def _pre_decide(right: str) -> Precheck:
    def check(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
        if "transfer_id" in p and int(p["transfer_id"]) != m["transferId"]:
            raise _bad("message.transferId differs from the transfer in the path")
        transfer = r.transfer(m["transferId"])
        account = r.account_at(transfer.from_account)
        r.require_right(account, m["signer"], right)

    return check


def _pre_cancel(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    r.check_ranges(account, message_ranges(m))


def _pre_label(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    if "applied" in p and (p["applied"] == "true") != m["applied"]:
        raise _bad("message.applied does not match the operation (apply or remove)")
    if "label" in p and r.label_id(p["label"]) != m["labelId"]:
        raise _bad("message.labelId differs from the label in the path")
    r.require_role(m["signer"], "label_authority")
    message_ranges(m)


def _pre_account_path(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    if "account_id" in p:
        if account_number(r.registry_code, p["account_id"]) != m["accountId"]:
            raise _bad("message.accountId differs from the account in the path")
    _pre_admin(r, m, p)


def _same_id(p: dict[str, str], key: str, m: dict[str, Any], field: str) -> None:
    if key in p and int(p[key]) != m[field]:
        raise _bad(f"message.{field} differs from the id in the path")


def _pre_platform_path(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    if "platform" in p and to_checksum_address(p["platform"]) != m["platform"]:
        raise _bad("message.platform differs from the platform in the path")
    if "status" in m and m["status"] not in PLATFORM_STATUSES.values():
        raise _bad(f"message.status must be one of {sorted(PLATFORM_STATUSES.values())}")
    r.require_role(m["signer"], "registry_admin")
    platform = r.platform(m["platform"], must_be_active=False)
    if "status" in m and PLATFORM_STATUSES[platform.status] == m["status"]:
        raise Problem(
            409,
            "INVALID_STATUS_CHANGE",
            f"Platform {platform.address} is already {platform.status}.",
        )
    if m.get("enabled"):
        r.signers_free(m["platform"], [m["platformSigner"]])


def _pre_register_platform(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.require_role(m["signer"], "registry_admin")
    _check_new_platform(r, m["platform"], m["custodialAccount"])
    r.signers_free(m["platform"], m["signers"])


def _check_new_platform(r: Resolver, platform: str, custodial: int) -> None:
    """Refuse registering a platform twice, or with an account that is not free custody."""
    try:
        r.platform(platform, must_be_active=False)
    except Problem:
        pass
    else:
        raise Problem(409, "PLATFORM_EXISTS", f"A platform is already registered at {platform}.")
    account = r.account_at(custodial, must_be_open=False)
    if account.kind != "custodial" or account.status == "closed":
        raise Problem(
            422,
            "CUSTODIAL_ACCOUNT_REQUIRED",
            f"{r.registry_code}-{custodial} is a {account.status} {account.kind} account; a "
            "platform's custody needs an account of kind `custodial` that is not closed.",
        )
    other = r.custodian(custodial)
    if other is not None:
        raise Problem(
            409,
            "CUSTODIAL_ACCOUNT_TAKEN",
            f"{r.registry_code}-{custodial} is already the custodial account of platform {other}.",
        )


def _pre_grant_consent(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    r.platform(m["platform"])
    names = {value: name for name, value in SCOPES.items()}
    if m["scope"] not in names:
        raise _bad(f"message.scope must be one of {sorted(names)}")
    scope = names[m["scope"]]
    existing = r.active_consent(account.id, m["platform"], scope)
    if existing is not None:
        raise Problem(
            409, "CONSENT_EXISTS", f"Consent {existing} already grants this platform `{scope}`."
        )


def _pre_revoke_consent(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
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


def _pre_lock(scope: str) -> Precheck:
    def check(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
        r.check_ranges(lock_head(r, m, scope), message_ranges(m))

    return check


def _pre_reservation(right: str, *, transfer: bool = False) -> Precheck:
    def check(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
        _same_id(p, "reservation_id", m, "reservationId")
        reservation = r.reservation(m["reservationId"])
        account = r.account_at(reservation.account_id)
        r.require_right(account, m["signer"], right)
        if transfer:
            platform = r.platform(reservation.platform)
            r.account_at(platform.custodial_account_id)

    return check


def _pre_escrow_decision(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    _same_id(p, "escrow_id", m, "escrowId")
    escrow = r.escrow(m["escrowId"])
    r.require_escrow_controller(escrow, m["signer"])
    r.account_at(escrow.account_id)
    if "toAccount" in m:
        if m["toAccount"] == escrow.account_id:
            raise Problem(422, "SAME_ACCOUNT", "An escrow settles to another account.")
        r.can_receive(r.account_at(m["toAccount"]))


def association_head(r: Resolver, m: dict[str, Any]) -> Any:
    """Check an Associate message but its ranges; return the account's mirror row."""
    account = r.account_at(m["accountId"])
    r.require_right(account, m["signer"], "initiate")
    certificate = bytes.fromhex(m["certificateId"][2:])
    if not any(certificate):
        raise Problem(422, "INVALID_CERTIFICATE", "The certificate id is empty.")
    registry = m["thirdPartyRegistry"]
    if not r.chain.has_role("third_party_registry", registry):
        raise Problem(
            403,
            "NOT_AUTHORISED",
            f"{registry} does not hold the third_party_registry role; the registry "
            "administrator grants it to certificate schemes.",
        )
    r.certificate_unused(registry, certificate)
    return account


def _pre_associate(r: Resolver, m: dict[str, Any], _p: dict[str, str]) -> None:
    r.check_ranges(association_head(r, m), message_ranges(m))


def _pre_association_decision(r: Resolver, m: dict[str, Any], p: dict[str, str]) -> None:
    _same_id(p, "association_id", m, "associationId")
    association = r.association(m["associationId"])
    r.require_association_registry(association, m["signer"])
    r.account_at(association.account_id)


PRECHECKS: dict[str, Precheck] = {
    "OpenAccount": _pre_admin,
    "SetRepresentative": _pre_account_path,
    "SetAccountStatus": _pre_account_path,
    "DefineLabel": _pre_admin,
    "RegisterProject": _pre_project,
    "Issue": _pre_issue,
    "InitiateTransfer": _pre_transfer,
    "ApproveTransfer": _pre_decide("approve"),
    "RescindTransfer": _pre_decide("appointed"),
    "Cancel": _pre_cancel,
    "SetLabel": _pre_label,
    "RegisterPlatform": _pre_register_platform,
    "SetPlatformSigner": _pre_platform_path,
    "SetPlatformStatus": _pre_platform_path,
    "GrantConsent": _pre_grant_consent,
    "RevokeConsent": _pre_revoke_consent,
    "Reserve": _pre_lock("reserved"),
    "ReleaseReservation": _pre_reservation("appointed"),
    "TransferReservation": _pre_reservation("initiate", transfer=True),
    "Escrow": _pre_lock("escrowed"),
    "SettleEscrow": _pre_escrow_decision,
    "ReleaseEscrow": _pre_escrow_decision,
    "Associate": _pre_associate,
    "Dissociate": _pre_association_decision,
    "RetireAssociation": _pre_association_decision,
    **ARTICLE6_PRECHECKS,
}


def checked_request(r: Resolver, primary_type: str, message: dict[str, Any]) -> dict[str, Any]:
    """Return the typed data of a message (signer included) that passes its operation's check.

    `prepare` runs the check `submit` runs (PRECHECKS), so both refuse the same requests with the
    same codes. Operations on ranges check the rest of the message first (`lock_head`,
    `association_head`) and their units as they resolve them (`Resolver.units`).
    """
    PRECHECKS[primary_type](r, message, {})
    return r.typed(primary_type, message["signer"], message)


def _existing(conn: Connection, request_id: str) -> Any:
    return conn.execute(select(_JOURNAL).where(_JOURNAL.c.request_id == request_id)).first()


def accept(
    services: Services,
    operation: str,
    body: dict[str, Any],
    signature: str,
    path: dict[str, str] | None = None,
) -> tuple[Any, bool]:
    """Check and journal a signed request; return (journal row, whether it was new)."""
    path = path or {}
    primary_type = OPERATION_TYPES[operation]
    data = canonical(services, primary_type, body)
    checked = _check_signature(data, signature)
    services.limiter.take(checked.signer)
    with services.engine.connect() as conn:
        existing = _existing(conn, checked.digest)
    if existing is not None:
        return existing, False
    message = data["message"]
    if message["deadline"] <= time.time():
        raise Problem(
            422,
            "DEADLINE_EXPIRED",
            f"The request's deadline {message['deadline']} has passed; prepare it again.",
        )
    _check_nonce(services, checked)
    _precheck(services, primary_type, message, path)
    now = time.time()
    row = {
        "request_id": checked.digest,
        "operation": operation,
        "primary_type": primary_type,
        "signer": checked.signer,
        "nonce": message["nonce"],
        "typed_data": data,
        "signature": "0x" + checked.signature.hex(),
        "status": RequestStatus.ACCEPTED,
        "attempts": 0,
        "accepted_at": now,
        "updated_at": now,
    }
    try:
        with services.engine.begin() as conn:
            conn.execute(_JOURNAL.insert().values(**row))
    except IntegrityError:
        # The same signed request, submitted concurrently: answer with the first one.
        with services.engine.connect() as conn:
            existing = _existing(conn, checked.digest)
        if existing is None:
            raise
        return existing, False
    with services.engine.connect() as conn:
        return _existing(conn, checked.digest), True


def _check_nonce(services: Services, checked: Checked) -> None:
    nonce = int(checked.data["message"]["nonce"])
    if nonce & UNORDERED_NONCE:
        _check_unordered_nonce(services, checked.signer, nonce)
        return
    key, sequence = split_nonce(nonce)
    current = services.chain.next_nonce(checked.signer, key)
    if sequence < current:
        raise Problem(
            409, "NONCE_USED", "The request's nonce was already used; prepare a new request."
        )
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(_JOURNAL.c.nonce).where(
                _JOURNAL.c.signer == checked.signer,
                _JOURNAL.c.status.in_(RequestStatus.OPEN),
            )
        ).all()
    queued = {split_nonce(int(n))[1] for (n,) in rows if split_nonce(int(n))[0] == key}
    if sequence in queued:
        raise Problem(
            409,
            "NONCE_USED",
            "Another journaled request uses this nonce; prepare a new request.",
        )
    if any(s not in queued for s in range(current, sequence)):
        raise Problem(
            409,
            "NONCE_GAP",
            f"Nonce {sequence} of this lane is ahead of the next usable one ({current}); "
            "submit the earlier requests first, or prepare a new request.",
        )


def _check_unordered_nonce(services: Services, signer: str, nonce: int) -> None:
    """Refuse an unordered nonce (D30) the chain has used or another open request holds."""
    if services.chain.nonce_used(signer, nonce):
        raise Problem(
            409, "NONCE_USED", "The request's nonce was already used; prepare a new request."
        )
    with services.engine.connect() as conn:
        taken = conn.execute(
            select(_JOURNAL.c.request_id).where(
                _JOURNAL.c.signer == signer,
                _JOURNAL.c.nonce == nonce,
                _JOURNAL.c.status.in_(RequestStatus.OPEN),
            )
        ).first()
    if taken is not None:
        raise Problem(
            409,
            "NONCE_USED",
            "Another journaled request uses this nonce; prepare a new request.",
        )


def _precheck(
    services: Services, primary_type: str, message: dict[str, Any], path: dict[str, str]
) -> None:
    check = PRECHECKS[primary_type]
    fresh_mirror(services, lambda r: check(r, message, path))


def fresh_mirror(services: Services, work: Callable[[Resolver], T]) -> T:
    """Run a mirror check; if it refuses while the mirror trails the chain, retry once caught up.

    NOTE: the mirror may trail the chain by a block or two. A refusal is final only when judged
    against at least the head the client could have seen when it called.
    """
    head: int | None = None
    deadline = time.monotonic() + min(5.0, services.settings.wait_timeout_seconds)
    while True:
        # What the mirror held before the check: the check saw at least this block.
        seen = services.indexed_block()
        try:
            with services.engine.connect() as conn:
                return work(resolver(services, conn))
        except Problem as problem:
            if problem.status >= 500 or problem.code in _FINAL_CODES:
                raise
            if head is None:
                head = services.client.block_number()  # only a refusal needs the head
            if seen >= head or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_FINAL_CODES = frozenset({"INVALID_TYPED_DATA", "INVALID_ACCOUNT_ID", "INVALID_RANGE"})


def wait_for_request(services: Services, request_id: str, timeout: float) -> Any:
    """Poll the journal until a request is indexed or failed, or the timeout passes."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        with services.engine.connect() as conn:
            row = _existing(conn, request_id)
        if row.status in (RequestStatus.INDEXED, RequestStatus.FAILED):
            return row
        if time.monotonic() > deadline:
            return row
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)
