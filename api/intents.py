"""`prepare`: resolve an intent against the mirror into fully specified EIP-712 typed data.

Resolution picks serial ranges (oldest vintage first, whole blocks first, at most one split),
splits explicit ranges along the current blocks, gives the request a fresh nonce lane and a
deadline. It refuses what the mirror already shows cannot succeed, with the contract's codes.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from api.chainview import ChainView
from api.ids import account_number
from api.mirrorq import containing_block
from api.problems import Problem
from api.schemas import MAX_RANGES, SerialRange, UnitFilters
from indexer.models import (
    Account,
    Article6ItmoTransfer,
    Issuance,
    Label,
    Representative,
    Transfer,
    UnitBlock,
    table_of,
)
from node.contracts import (
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    CancellationPurpose,
    text_bytes8,
    text_bytes32,
    typed_data,
)

__all__ = [
    "KINDS",
    "POLICIES",
    "PURPOSES",
    "STATUSES",
    "Resolver",
    "bytes8_hex",
    "bytes32_hex",
    "day_end",
    "day_start",
]

_ACCOUNTS = table_of(Account)
_REPS = table_of(Representative)
_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)
_TRANSFERS = table_of(Transfer)
_ITMO_TRANSFERS = table_of(Article6ItmoTransfer)


def day_start(value: date) -> int:
    """Return the first second (UTC) of a date."""
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())


def day_end(value: date) -> int:
    """Return the last second (UTC) of a date, so consecutive periods never overlap."""
    return day_start(value) + 86_399


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
        """Complete a request with signer, a fresh nonce lane and a deadline."""
        message = {
            "signer": signer,
            **fields,
            # NOTE: a fresh random lane per request (decision D12), so requests never wait on each
            # other; a lane nobody has used starts at sequence 0, so no chain read is needed.
            "nonce": secrets.randbits(192) << 64,
            "deadline": int(time.time()) + self.deadline_seconds,
        }
        return typed_data(primary_type, message, self.chain_id, self.registry)

    def account(self, account_id: str, *, must_be_open: bool = True) -> Any:
        """Return the mirror row of an account id such as AU-1000001."""
        number = account_number(self.registry_code, account_id)
        row = self.conn.execute(select(_ACCOUNTS).where(_ACCOUNTS.c.id == number)).first()
        if row is None:
            raise Problem(404, "ACCOUNT_NOT_FOUND", f"There is no account {account_id}.")
        if must_be_open and row.status != "open":
            code = "ACCOUNT_SUSPENDED" if row.status == "suspended" else "ACCOUNT_CLOSED"
            raise Problem(409, code, f"Account {account_id} is {row.status}.")
        return row

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
            raise Problem(
                403,
                "NOT_AUTHORISED",
                f"{signer} is not an authorised representative of "
                f"{self.registry_code}-{account.id} who may {right}.",
            )

    def require_role(self, signer: str, *roles: str) -> None:
        """Refuse a signer that holds none of the registry roles named."""
        if not any(self.chain.has_role(role, signer) for role in roles):
            raise Problem(
                403, "NOT_AUTHORISED", f"{signer} does not hold the {' or '.join(roles)} role."
            )

    def label_id(self, name: str) -> int:
        """Return the id of a label by name."""
        found = self.conn.execute(select(_LABELS.c.id).where(_LABELS.c.name == name)).scalar()
        if found is None:
            raise Problem(404, "LABEL_NOT_FOUND", f"There is no label named {name!r}.")
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
        ranges: list[tuple[int, int]] = []
        remaining = quantity
        for start, end, labels in self.conn.execute(query):
            if label_bit is not None and not (int(labels) >> label_bit) & 1:
                continue
            take = min(remaining, end - start + 1)
            ranges.append((start, start + take - 1))
            remaining -= take
            if remaining == 0:
                break
            if len(ranges) == MAX_RANGES:
                raise Problem(
                    409,
                    "TOO_MANY_RANGES",
                    f"{quantity} units span more than {MAX_RANGES} blocks; move them in parts.",
                )
        if remaining:
            raise Problem(
                409,
                "INSUFFICIENT_UNITS",
                f"{self.registry_code}-{account.id} holds only {quantity - remaining} {state} "
                "units "
                f"matching the filters, not {quantity}.",
            )
        return ranges

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
                raise Problem(422, "INVALID_RANGE", "The ranges overlap.")
            serial = wanted.start
            while serial <= wanted.end:
                block = containing_block(self.conn, serial)
                if (
                    block is None
                    or block.end < serial
                    or block.account_id != account.id
                    or block.state != state
                ):
                    raise Problem(
                        409,
                        "UNITS_NOT_HELD",
                        f"Serial {serial} is not {state} in {self.registry_code}-{account.id}.",
                    )
                if block.lock_id != lock:
                    raise Problem(409, "UNITS_LOCKED", _locked(serial, block.lock_id, lock))
                end = min(block.end, wanted.end)
                pieces.append((serial, end))
                serial = end + 1
        if len(pieces) > MAX_RANGES:
            raise Problem(
                422,
                "TOO_MANY_RANGES",
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
            raise Problem(404, "TRANSFER_NOT_FOUND", f"There is no transfer {transfer_id}.")
        itmo = self.conn.execute(
            select(_ITMO_TRANSFERS.c.transfer_id).where(
                _ITMO_TRANSFERS.c.transfer_id == transfer_id
            )
        ).first()
        if itmo is not None:
            raise Problem(
                404,
                "TRANSFER_NOT_FOUND",
                f"Transfer {transfer_id} is an ITMO transfer; approve or rescind it under "
                f"/v1/article6/transfers/{transfer_id}.",
            )
        if row.status != "pending":
            raise Problem(409, "TRANSFER_NOT_PENDING", f"Transfer {transfer_id} is {row.status}.")
        return row


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


def bytes32_hex(text: str) -> str:
    """Return text as a 0x-prefixed bytes32."""
    return _hex(text_bytes32(text))


def bytes8_hex(text: str) -> str:
    """Return text as a 0x-prefixed bytes8."""
    return _hex(text_bytes8(text))
