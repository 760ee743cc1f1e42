"""`prepare`: resolve an intent against the mirror into fully specified EIP-712 typed data.

Resolution picks serial ranges (oldest vintage first, whole blocks first, at most one split),
splits explicit ranges along the current blocks, gives the request an unordered nonce of the
signer's (decision D33) and a deadline. It refuses what the mirror already shows cannot
succeed, with the contract's codes.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from api.chainview import ChainView
from api.ids import account_number, format_account
from api.mirrorq import containing_block
from api.models import JournalEntry, RequestStatus
from api.nonces import claim_nonce
from api.operations.refusals import Refusal
from api.schemas import MAX_RANGES, MAX_SERIAL, SerialRange, UnitFilters
from indexer.models import (
    Account,
    Article6ItmoTransfer,
    Association,
    Consent,
    Escrow,
    Issuance,
    Label,
    Platform,
    PlatformSigner,
    Representative,
    Reservation,
    Transfer,
    UnitBlock,
    table_of,
)
from node.contracts import (
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    CancellationPurpose,
    ConsentScope,
    PlatformStatus,
    text_bytes8,
    text_bytes32,
    typed_data,
)

__all__ = [
    "KINDS",
    "PLATFORM_STATUSES",
    "POLICIES",
    "PURPOSES",
    "SCOPES",
    "STATUSES",
    "Resolver",
    "bytes8_hex",
    "bytes32_hex",
    "day_end",
    "day_start",
    "message_ranges",
    "units_account",
]

_ACCOUNTS = table_of(Account)
_REPS = table_of(Representative)
_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)
_TRANSFERS = table_of(Transfer)
_PLATFORMS = table_of(Platform)
_PLATFORM_SIGNERS = table_of(PlatformSigner)
_CONSENTS = table_of(Consent)
_RESERVATIONS = table_of(Reservation)
_ESCROWS = table_of(Escrow)
_ASSOCIATIONS = table_of(Association)
# Account kinds units can never be transferred or settled into (decision D3).
_CANNOT_RECEIVE = ("cancellation", "omge_cancellation")
_ITMO_TRANSFERS = table_of(Article6ItmoTransfer)
_JOURNAL = table_of(JournalEntry)


def day_start(value: date) -> int:
    """Return the first second (UTC) of a date."""
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())


def day_end(value: date) -> int:
    """Return the last second (UTC) of a date, so consecutive periods never overlap."""
    return day_start(value) + 86_399


def message_ranges(message: dict[str, Any]) -> list[SerialRange]:
    """Return the serial ranges a signed message names, refusing an invalid or empty list."""
    ranges = []
    for item in message["ranges"]:
        if not 1 <= item["start"] <= item["end"] <= MAX_SERIAL:
            raise Refusal("InvalidRange", f"Range {item['start']}-{item['end']} is invalid.")
        ranges.append(SerialRange(start=item["start"], end=item["end"]))
    if not ranges:
        raise Refusal("InvalidRange", "The request names no ranges.")
    return ranges


def units_account(message: dict[str, Any]) -> int | None:
    """Return the account whose units a signed message takes, if it names ranges of one."""
    if "ranges" not in message:
        return None
    account = message.get("fromAccount", message.get("accountId"))
    return None if account is None else int(account)


def _without(
    blocks: list[tuple[int, int, Any]], taken: list[tuple[int, int]]
) -> list[tuple[int, int, Any]]:
    """Return the parts of (start, end, extra) blocks that no taken range covers, in order."""
    if not taken:
        return blocks
    taken = sorted(taken)
    free: list[tuple[int, int, Any]] = []
    for start, end, extra in blocks:
        serial = start
        for low, high in taken:
            if high < serial or low > end:
                continue
            if low > serial:
                free.append((serial, low - 1, extra))
            serial = max(serial, high + 1)
            if serial > end:
                break
        if serial <= end:
            free.append((serial, end, extra))
    return free


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


class Resolver:
    """Turn intents into typed data for one deployment, reading the mirror over a connection."""

    def __init__(
        self,
        conn: Connection,
        chain: ChainView,
        chain_id: int,
        registry: str,
        registry_code: str,
        deadline_seconds: int,
    ) -> None:
        self.conn = conn
        self.chain = chain
        self.chain_id = chain_id
        self.registry = registry
        self.registry_code = registry_code
        self.deadline_seconds = deadline_seconds

    # -- common ------------------------------------------------------------------------------

    def typed(self, primary_type: str, signer: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Complete a request with signer, an unordered nonce of its own and a deadline."""
        message = {
            "signer": signer,
            **fields,
            # NOTE: the signer's next unordered nonce (decision D33): requests never wait on each
            # other, as with D12's fresh lanes, without paying for a new storage slot each.
            "nonce": claim_nonce(self.conn, self.chain, signer),
            "deadline": int(time.time()) + self.deadline_seconds,
        }
        return typed_data(primary_type, message, self.chain_id, self.registry)

    def account(self, account_id: str, *, must_be_open: bool = True) -> Any:
        """Return the mirror row of an account id such as AU-1000001."""
        number = account_number(self.registry_code, account_id)
        row = self.conn.execute(select(_ACCOUNTS).where(_ACCOUNTS.c.id == number)).first()
        if row is None:
            raise Refusal("AccountNotFound", f"There is no account {account_id}.")
        if must_be_open and row.status != "open":
            code = "ACCOUNT_SUSPENDED" if row.status == "suspended" else "ACCOUNT_CLOSED"
            raise Refusal(code, f"Account {account_id} is {row.status}.")
        return row

    def account_at(self, number: int, *, must_be_open: bool = True) -> Any:
        """Return the mirror row of an account by its on-chain number (as messages carry it)."""
        return self.account(format_account(self.registry_code, number), must_be_open=must_be_open)

    def require_right(self, account: Any, signer: str, right: str) -> None:
        """Refuse a signer who is not an AR of the account with a right ("initiate", ...)."""
        rep = self.conn.execute(
            select(_REPS).where(_REPS.c.account_id == account.id, _REPS.c.address == signer)
        ).first()
        allowed = rep is not None and (
            right == "appointed"
            or (right == "initiate" and rep.can_initiate)
            or (right == "approve" and rep.can_approve)
        )
        if not allowed:
            raise Refusal(
                "NOT_AUTHORISED",
                f"{signer} is not an authorised representative of "
                f"{self.registry_code}-{account.id} who may {right}.",
            )

    def require_role(self, signer: str, *roles: str) -> None:
        """Refuse a signer that holds none of the registry roles named."""
        if not any(self.chain.has_role(role, signer) for role in roles):
            raise Refusal(
                "NOT_AUTHORISED", f"{signer} does not hold the {' or '.join(roles)} role."
            )

    def label_id(self, name: str) -> int:
        """Return the id of a label by name."""
        found = self.conn.execute(select(_LABELS.c.id).where(_LABELS.c.name == name)).scalar()
        if found is None:
            raise Refusal("LabelNotFound", f"There is no label named {name!r}.")
        return int(found)

    # -- units -------------------------------------------------------------------------------

    def select_units(
        self,
        account: Any,
        quantity: int,
        filters: UnitFilters | None,
        state: str = "held",
        lock: int = 0,
    ) -> list[tuple[int, int]]:
        """Choose ranges for a quantity: oldest vintage first, whole blocks, one split at most.

        Only units under `lock` qualify: 0, free units, for the core's operations; an
        authorization's id for the ITMOs it covers (authorized units are Held under it).
        """
        conditions = [
            _BLOCKS.c.account_id == account.id,
            _BLOCKS.c.state == state,
            _BLOCKS.c.lock_id == lock,
        ]
        if filters is not None:
            if filters.unit_type is not None:
                conditions.append(_ISSUANCES.c.unit_type == filters.unit_type)
            if filters.vintage is not None:
                conditions.append(_ISSUANCES.c.vintage == filters.vintage)
            if filters.project_id is not None:
                conditions.append(_ISSUANCES.c.project_id == filters.project_id)
        label_bit = (
            None if filters is None or filters.label is None else self.label_id(filters.label)
        )
        query = (
            select(_BLOCKS.c.start, _BLOCKS.c.end, _BLOCKS.c.labels)
            .select_from(_BLOCKS.join(_ISSUANCES, _ISSUANCES.c.id == _BLOCKS.c.issuance_id))
            .where(and_(*conditions))
            .order_by(_ISSUANCES.c.vintage, _BLOCKS.c.issuance_id, _BLOCKS.c.start)
        )
        # NOTE: units named by this account's requests still in the journal are on their way
        # out, though the mirror shows them held until the request is indexed; choosing them
        # again would make the second request fail on-chain (UNITS_NOT_HELD). The journal is
        # read first: a request indexed in between is then skipped twice, never chosen twice.
        taken = self.journaled_ranges(account.id)
        blocks = _without(
            [(row.start, row.end, row.labels) for row in self.conn.execute(query)], taken
        )
        ranges: list[tuple[int, int]] = []
        remaining = quantity
        for start, end, labels in blocks:
            if label_bit is not None and not (int(labels) >> label_bit) & 1:
                continue
            take = min(remaining, end - start + 1)
            ranges.append((start, start + take - 1))
            remaining -= take
            if remaining == 0:
                break
            if len(ranges) == MAX_RANGES:
                raise Refusal(
                    "InvalidRangeCount",
                    f"{quantity} units span more than {MAX_RANGES} blocks; move them in parts.",
                )
        if remaining:
            raise Refusal(
                "INSUFFICIENT_UNITS",
                f"{self.registry_code}-{account.id} holds only {quantity - remaining} {state} "
                "units "
                f"matching the filters, not {quantity}.",
            )
        return ranges

    def journaled_ranges(self, account_id: int) -> list[tuple[int, int]]:
        """Return the ranges the account's open journaled requests take (not yet indexed)."""
        rows = self.conn.execute(
            select(_JOURNAL.c.typed_data).where(
                _JOURNAL.c.units_account == account_id,
                _JOURNAL.c.status.in_(RequestStatus.OPEN),
            )
        )
        return [
            (int(item["start"]), int(item["end"]))
            for (typed,) in rows
            for item in typed["message"]["ranges"]
        ]

    def check_ranges(
        self, account: Any, ranges: list[SerialRange], state: str = "held", lock: int = 0
    ) -> list[tuple[int, int]]:
        """Split explicit ranges along the mirror's blocks; refuse units the account lacks.

        Units Held under another lock (an authorization's, for ITMOs) are UNITS_LOCKED, as the
        contract refuses them.
        """
        pieces: list[tuple[int, int]] = []
        for wanted in sorted(ranges, key=lambda r: r.start):
            if pieces and wanted.start <= pieces[-1][1]:
                raise Refusal("InvalidRange", "The ranges overlap.")
            serial = wanted.start
            while serial <= wanted.end:
                block = containing_block(self.conn, serial)
                if (
                    block is None
                    or block.end < serial
                    or block.account_id != account.id
                    or block.state != state
                ):
                    raise Refusal(
                        "BlockHintsMismatch",
                        f"Serial {serial} is not {state} in {self.registry_code}-{account.id}.",
                    )
                if block.lock_id != lock:
                    raise Refusal("UnitsLocked", _locked(serial, block.lock_id, lock))
                end = min(block.end, wanted.end)
                pieces.append((serial, end))
                serial = end + 1
        if len(pieces) > MAX_RANGES:
            raise Refusal(
                "InvalidRangeCount",
                f"The ranges cover {len(pieces)} blocks; at most {MAX_RANGES}.",
            )
        return pieces

    def units(
        self,
        account: Any,
        quantity: int | None,
        filters: UnitFilters | None,
        ranges: list[SerialRange] | None,
        lock: int = 0,
    ) -> list[dict[str, int]]:
        """Resolve a quantity or explicit ranges into the ranges to sign (units under `lock`)."""
        chosen = (
            self.check_ranges(account, ranges, lock=lock)
            if ranges is not None
            else self.select_units(account, quantity or 0, filters, lock=lock)
        )
        return [{"start": s, "end": e} for s, e in chosen]

    def transfer(self, transfer_id: int) -> Any:
        """Return a pending transfer's mirror row."""
        row = self.conn.execute(select(_TRANSFERS).where(_TRANSFERS.c.id == transfer_id)).first()
        if row is None:
            raise Refusal("TransferNotFound", f"There is no transfer {transfer_id}.")
        itmo = self.conn.execute(
            select(_ITMO_TRANSFERS.c.transfer_id).where(
                _ITMO_TRANSFERS.c.transfer_id == transfer_id
            )
        ).first()
        if itmo is not None:
            raise Refusal(
                "TransferNotFound",
                f"Transfer {transfer_id} is an ITMO transfer; approve or rescind it under "
                f"/v1/article6/transfers/{transfer_id}.",
            )
        if row.status != "pending":
            raise Refusal("TransferNotPending", f"Transfer {transfer_id} is {row.status}.")
        return row

    def can_receive(self, account: Any) -> None:
        """Refuse an account units cannot be moved into (a cancellation account)."""
        if account.kind in _CANNOT_RECEIVE:
            raise Refusal(
                "AccountCannotReceive",
                f"{self.registry_code}-{account.id} is a {account.kind} account; units reach it "
                "only by being cancelled.",
            )

    # -- platforms, consents, reservations, escrows, associations ----------------------------

    def platform(self, address: str, *, must_be_active: bool = True) -> Any:
        """Return the mirror row of a registered platform."""
        row = self.conn.execute(select(_PLATFORMS).where(_PLATFORMS.c.address == address)).first()
        if row is None:
            raise Refusal("PlatformNotFound", f"No platform is registered at {address}.")
        if must_be_active and row.status != "active":
            raise Refusal("PlatformSuspended", f"Platform {address} ({row.name}) is suspended.")
        return row

    def custodian(self, account_id: int) -> str | None:
        """Return the platform whose custodial account this is, if any."""
        found = self.conn.execute(
            select(_PLATFORMS.c.address).where(_PLATFORMS.c.custodial_account_id == account_id)
        ).scalar()
        return None if found is None else str(found)

    def signers_free(self, platform: str, signers: list[str]) -> None:
        """Refuse signers that are zero or already sign for another platform (one each)."""
        for signer in signers:
            if int(signer, 16) == 0:
                raise Refusal("InvalidPlatformSigner", "A platform signer cannot be zero.")
            other = self.conn.execute(
                select(_PLATFORM_SIGNERS.c.platform).where(
                    _PLATFORM_SIGNERS.c.signer == signer, _PLATFORM_SIGNERS.c.platform != platform
                )
            ).scalar()
            if other is not None:
                raise Refusal(
                    "PlatformSignerTaken",
                    f"{signer} already signs for platform {other}; an address signs for one.",
                )

    def signs_for(self, platform: str, signer: str) -> bool:
        """Return whether an address signs for a platform, per the mirror."""
        found = self.conn.execute(
            select(_PLATFORM_SIGNERS.c.signer).where(
                _PLATFORM_SIGNERS.c.platform == platform, _PLATFORM_SIGNERS.c.signer == signer
            )
        ).first()
        return found is not None

    def require_consent(self, account: Any, platform: str, scope: str) -> None:
        """Refuse locking units for a platform the account gave no active consent of a scope."""
        if self.active_consent(account.id, platform, scope) is None:
            raise Refusal(
                "ConsentRequired",
                f"{self.registry_code}-{account.id} has not given platform {platform} an active "
                f"`{scope}` consent; grant one first (POST /v1/consents).",
            )

    def active_consent(self, account_id: int, platform: str, scope: str) -> int | None:
        """Return the id of the active consent of an account, platform and scope, if any."""
        found = self.conn.execute(
            select(_CONSENTS.c.id).where(
                _CONSENTS.c.account_id == account_id,
                _CONSENTS.c.platform == platform,
                _CONSENTS.c.scope == scope,
                _CONSENTS.c.status == "active",
            )
        ).scalar()
        return None if found is None else int(found)

    def _operation(self, table: Any, what: str, code: str, operation_id: int) -> Any:
        row = self.conn.execute(select(table).where(table.c.id == operation_id)).first()
        if row is None:
            raise Refusal(f"{code}_NOT_FOUND", f"There is no {what} {operation_id}.")
        if row.status != "active":
            raise Refusal(
                f"{code}_NOT_ACTIVE", f"{what.capitalize()} {operation_id} is {row.status}."
            )
        return row

    def consent(self, consent_id: int) -> Any:
        """Return an active consent's mirror row."""
        return self._operation(_CONSENTS, "consent", "CONSENT", consent_id)

    def reservation(self, reservation_id: int) -> Any:
        """Return an active reservation's mirror row."""
        return self._operation(_RESERVATIONS, "reservation", "RESERVATION", reservation_id)

    def escrow(self, escrow_id: int) -> Any:
        """Return an active escrow's mirror row."""
        return self._operation(_ESCROWS, "escrow", "ESCROW", escrow_id)

    def association(self, association_id: int) -> Any:
        """Return an active association's mirror row."""
        return self._operation(_ASSOCIATIONS, "association", "ASSOCIATION", association_id)

    def require_escrow_controller(self, escrow: Any, signer: str) -> None:
        """Refuse a signer that neither signs for the escrow's active platform nor administers."""
        if self.signs_for(escrow.platform, signer):
            self.platform(escrow.platform)  # a suspended platform settles nothing
            return
        if self.chain.has_role("registry_admin", signer):
            return  # the regulator's override, whatever the platform's status
        raise Refusal(
            "NOT_AUTHORISED",
            f"{signer} neither signs for platform {escrow.platform}, which controls escrow "
            f"{escrow.id}, nor is a registry administrator.",
        )

    def require_association_registry(self, association: Any, signer: str) -> None:
        """Refuse a signer that is not the association's third-party registry (with its role)."""
        if signer != association.third_party_registry or not self.chain.has_role(
            "third_party_registry", signer
        ):
            raise Refusal(
                "NOT_AUTHORISED",
                f"Only the third-party registry {association.third_party_registry} of "
                f"association {association.id} may do this, while it holds the "
                "third_party_registry role.",
            )

    def certificate_unused(self, registry: str, certificate: bytes) -> None:
        """Refuse a certificate id a third-party registry already associated units with."""
        text = certificate.rstrip(b"\0")
        if not text or b"\0" in text or not text.isascii():
            return  # not an id the mirror can hold as text: the contract decides alone
        found = self.conn.execute(
            select(_ASSOCIATIONS.c.id).where(
                _ASSOCIATIONS.c.third_party_registry == registry,
                _ASSOCIATIONS.c.certificate_id == text.decode("ascii"),
            )
        ).scalar()
        if found is not None:
            raise Refusal(
                "CertificateAlreadyUsed",
                f"{registry} already associated units with certificate {text.decode('ascii')!r} "
                f"(association {found}); a certificate backs units once.",
            )


def _locked(serial: int, found: int, wanted: int) -> str:
    if wanted:
        return f"Serial {serial} is not held under authorization {wanted}."
    return (
        f"Serial {serial} is an ITMO under authorization {found}; ITMOs move only through "
        "the /v1/article6 operations."
    )


# Wire values of the intents -> contract enums.
KINDS = {kind.name.lower(): int(kind) for kind in AccountKind if kind != AccountKind.NONE}
POLICIES = {policy.name.lower(): int(policy) for policy in ApprovalPolicy}
STATUSES = {status.name.lower(): int(status) for status in AccountStatus if status.value}
PURPOSES = {purpose.name.lower(): int(purpose) for purpose in CancellationPurpose}
SCOPES = {scope.name.lower(): int(scope) for scope in ConsentScope}
PLATFORM_STATUSES = {
    status.name.lower(): int(status) for status in PlatformStatus if status != PlatformStatus.NONE
}


def bytes32_hex(text: str) -> str:
    """Return text as a 0x-prefixed bytes32."""
    return _hex(text_bytes32(text))


def bytes8_hex(text: str) -> str:
    """Return text as a 0x-prefixed bytes8."""
    return _hex(text_bytes8(text))
