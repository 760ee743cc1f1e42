"""Each operation's `result` (API.md's write table), read off the typed events it emitted.

A reader takes a `Receipt`, the applied request's events as typed payloads
(`indexer.payloads`), and returns the result fields; each operation record names its reader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from indexer import payloads as p
from node.contracts import Article6Action, Article64Share, bytes32_text

__all__ = ["Receipt", "ResultReader", "receipt"]

T = TypeVar("T")


@dataclass(frozen=True)
class Receipt:
    """The events one applied request emitted, in order, and the registry's account prefix."""

    events: tuple[Any, ...]
    registry_code: str

    def account(self, number: int) -> str:
        """Return an account number as the API writes it."""
        return f"{self.registry_code}-{int(number)}"

    def all(self, kind: type[T]) -> list[T]:
        """Return every event of one kind, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def first(self, kind: type[T]) -> T:
        """Return the first event of one kind (the request must have emitted one)."""
        for e in self.events:
            if isinstance(e, kind):
                return e
        raise LookupError(f"the request emitted no {kind.__name__}")

    def has(self, kind: type[Any]) -> bool:
        """Return whether the request emitted an event of one kind."""
        return any(isinstance(e, kind) for e in self.events)

    def ranges(self, lock_id: int | None = None) -> list[dict[str, int]]:
        """Return the ranges the request's BlockChanged events moved (merged where adjacent)."""
        out: list[dict[str, int]] = []
        for e in self.all(p.BlockChanged):
            if lock_id is not None and e.lock_id != lock_id:
                continue
            if out and out[-1]["end"] + 1 == e.start:
                out[-1]["end"] = e.end
            else:
                out.append({"start": e.start, "end": e.end})
        return out

    def action_ranges(self, *actions: Article6Action) -> list[dict[str, int]]:
        """Return the ranges of the request's Article 6 records of the given actions, in order."""
        wanted = {int(a) for a in actions}
        return [
            {"start": e.start, "end": e.end}
            for e in self.all(p.Article6ActionRecorded)
            if e.action in wanted
        ]


ResultReader = Callable[[Receipt], dict[str, Any]]


def receipt(registry_code: str, events: Sequence[tuple[str, dict[str, Any]]]) -> Receipt:
    """Return the receipt of a request from its events as (name, arguments) pairs."""
    decoded = (p.decode_args(name, args) for name, args in events)
    return Receipt(tuple(e for e in decoded if e is not None), registry_code)


# -- administration, transfers, cancellations, labels -----------------------------------------


def open_account(r: Receipt) -> dict[str, Any]:
    return {"account_id": r.account(r.first(p.AccountOpened).account_id)}


def set_representative(r: Receipt) -> dict[str, Any]:
    return {"account_id": r.account(r.first(p.RepresentativeSet).account_id)}


def set_account_status(r: Receipt) -> dict[str, Any]:
    return {"account_id": r.account(r.first(p.AccountStatusChanged).account_id)}


def register_project(r: Receipt) -> dict[str, Any]:
    return {"project_id": bytes32_text(r.first(p.ProjectRegistered).project_id)}


def define_label(r: Receipt) -> dict[str, Any]:
    return {"label_id": r.first(p.LabelDefined).label_id}


def issue(r: Receipt) -> dict[str, Any]:
    issued = r.first(p.UnitsIssued)
    return {
        "issuance_id": issued.issuance_id,
        "ranges": [{"start": issued.start, "end": issued.end}],
    }


def initiate_transfer(r: Receipt) -> dict[str, Any]:
    # A single-policy transfer logs TransferExecuted alone; a two-person one TransferInitiated.
    completed = r.has(p.TransferExecuted)
    transfer_id = (
        r.first(p.TransferExecuted).transfer_id
        if completed
        else r.first(p.TransferInitiated).transfer_id
    )
    return {
        "transfer_id": transfer_id,
        "ranges": r.ranges(),
        "status": "completed" if completed else "pending",
    }


def approve_transfer(r: Receipt) -> dict[str, Any]:
    return {"transfer_id": r.first(p.TransferCompleted).transfer_id, "status": "completed"}


def rescind_transfer(r: Receipt) -> dict[str, Any]:
    return {"transfer_id": r.first(p.TransferRescinded).transfer_id, "status": "rescinded"}


def cancel(r: Receipt) -> dict[str, Any]:
    return {"cancellation_id": r.first(p.UnitsCancelled).cancellation_id, "ranges": r.ranges()}


def set_label(r: Receipt) -> dict[str, Any]:
    changes = r.all(p.LabelChanged)
    return {
        "label_id": changes[0].label_id if changes else None,
        "ranges": [{"start": c.start, "end": c.end} for c in changes],
    }


# -- platform models (CER Class B) and third-party certificates (Class C) ---------------------


def register_platform(r: Receipt) -> dict[str, Any]:
    e = r.first(p.PlatformRegistered)
    return {"platform": e.platform, "custodial_account": r.account(e.custodial_account)}


def set_platform_signer(r: Receipt) -> dict[str, Any]:
    e = r.first(p.PlatformSignerSet)
    return {"platform": e.platform, "signer": e.signer, "enabled": bool(e.enabled)}


def set_platform_status(r: Receipt) -> dict[str, Any]:
    e = r.first(p.PlatformStatusChanged)
    return {"platform": e.platform, "status": "active" if e.status == 1 else "suspended"}


def grant_consent(r: Receipt) -> dict[str, Any]:
    return {"consent_id": r.first(p.ConsentGranted).consent_id}


def revoke_consent(r: Receipt) -> dict[str, Any]:
    return {"consent_id": r.first(p.ConsentRevoked).consent_id, "status": "revoked"}


def reserve(r: Receipt) -> dict[str, Any]:
    return {"reservation_id": r.first(p.UnitsReserved).reservation_id, "ranges": r.ranges()}


def release_reservation(r: Receipt) -> dict[str, Any]:
    return {"reservation_id": r.first(p.ReservationReleased).reservation_id, "status": "released"}


def transfer_reservation(r: Receipt) -> dict[str, Any]:
    moved = r.first(p.ReservationTransferred)
    return {
        "reservation_id": moved.reservation_id,
        "transfer_id": moved.transfer_id,
        "to_account": r.account(moved.custodial_account),
        "ranges": r.ranges(),
        "status": "completed" if r.has(p.TransferCompleted) else "pending",
    }


def escrow(r: Receipt) -> dict[str, Any]:
    return {"escrow_id": r.first(p.UnitsEscrowed).escrow_id, "ranges": r.ranges()}


def settle_escrow(r: Receipt) -> dict[str, Any]:
    e = r.first(p.EscrowSettled)
    return {"escrow_id": e.escrow_id, "to_account": r.account(e.to_account), "status": "settled"}


def release_escrow(r: Receipt) -> dict[str, Any]:
    return {"escrow_id": r.first(p.EscrowReleased).escrow_id, "status": "released"}


def associate(r: Receipt) -> dict[str, Any]:
    return {"association_id": r.first(p.UnitsAssociated).association_id, "ranges": r.ranges()}


def dissociate(r: Receipt) -> dict[str, Any]:
    return {
        "association_id": r.first(p.UnitsDissociated).association_id,
        "status": "dissociated",
    }


def retire_association(r: Receipt) -> dict[str, Any]:
    retired = r.first(p.AssociationRetired)
    return {
        "association_id": retired.association_id,
        "cancellation_id": retired.cancellation_id,
        "ranges": r.ranges(),
        "status": "retired",
    }


# -- Article 6 ---------------------------------------------------------------------------------


def register_party(r: Receipt) -> dict[str, Any]:
    return {"party": bytes32_text(r.first(p.PartyRegistered).party)}


def register_approach(r: Receipt) -> dict[str, Any]:
    return {"approach_id": bytes32_text(r.first(p.CooperativeApproachRegistered).approach_id)}


def set_mechanism_accounts(r: Receipt) -> dict[str, Any]:
    m = r.first(p.MechanismAccountsSet)
    return {
        "pending": r.account(m.pending),
        "holding": r.account(m.holding),
        "cancellation": r.account(m.cancellation),
        "omge_cancellation": r.account(m.omge_cancellation),
        "share_of_proceeds": r.account(m.share_of_proceeds),
    }


def authorize(r: Receipt) -> dict[str, Any]:
    recorded = r.first(p.Article6ActionRecorded)
    return {
        "authorization_id": recorded.authorization_id,
        "party": bytes32_text(recorded.party),
        "ranges": r.action_ranges(Article6Action.AUTHORIZATION),
        "first_transfer_ranges": r.action_ranges(Article6Action.FIRST_TRANSFER),
    }


def transfer_itmos(r: Receipt) -> dict[str, Any]:
    return {
        "transfer_id": r.first(p.TransferInitiated).transfer_id,
        "authorization_id": r.first(p.ItmoTransferInitiated).authorization_id,
        "ranges": r.ranges(),
        "status": "completed" if r.has(p.TransferCompleted) else "pending",
        "first_transfer_ranges": r.action_ranges(Article6Action.FIRST_TRANSFER),
    }


def approve_itmo_transfer(r: Receipt) -> dict[str, Any]:
    return {
        "transfer_id": r.first(p.TransferCompleted).transfer_id,
        "status": "completed",
        "first_transfer_ranges": r.action_ranges(Article6Action.FIRST_TRANSFER),
    }


def rescind_itmo_transfer(r: Receipt) -> dict[str, Any]:
    return {
        "transfer_id": r.first(p.TransferRescinded).transfer_id,
        "status": "rescinded",
        "first_transfer_ranges": r.action_ranges(Article6Action.FIRST_TRANSFER),
    }


def cancel_itmos(r: Receipt) -> dict[str, Any]:
    cancellation_id = r.first(p.UnitsCancelled).cancellation_id
    uses = [e for e in r.all(p.Article6ActionRecorded) if e.action != Article6Action.FIRST_TRANSFER]
    return {
        "cancellation_id": cancellation_id,
        "action": Article6Action(uses[0].action).name.lower() if uses else None,
        "ranges": r.ranges(cancellation_id),
        "first_transfer_ranges": r.action_ranges(Article6Action.FIRST_TRANSFER),
    }


def issue_article64(r: Receipt) -> dict[str, Any]:
    issued = r.first(p.UnitsIssued)
    summary = r.first(p.Article64Issued)
    parts: dict[int, list[tuple[int, int, int]]] = {}
    for e in r.all(p.Article64Distributed):
        parts.setdefault(e.share, []).append((e.account_id, e.start, e.end))

    def part(account_id: int, start: int, end: int) -> dict[str, Any]:
        return {
            "account_id": r.account(account_id),
            "quantity": end - start + 1,
            "ranges": [{"start": start, "end": end}],
        }

    (sop,) = parts.get(Article64Share.SHARE_OF_PROCEEDS, [(0, 1, 0)])
    (omge,) = parts.get(Article64Share.OMGE, [(0, 1, 0)])
    return {
        "issuance_id": issued.issuance_id,
        "quantity": summary.quantity,
        "ranges": [{"start": issued.start, "end": issued.end}],
        "pending_account": r.account(summary.pending_account),
        "share_of_proceeds": part(*sop),
        "omge": {**part(*omge), "cancellation_id": summary.cancellation_id},
        "forwarded": [part(*x) for x in parts.get(Article64Share.FORWARDED, [])],
        "forwarded_quantity": summary.forwarded,
    }


# -- inter-registry transfers (docs/interop.md) --------------------------------------------


def set_peer(r: Receipt) -> dict[str, Any]:
    return {"registry_code": bytes32_text(r.first(p.PeerSet).registry_code)}


def transfer_out(r: Receipt) -> dict[str, Any]:
    started = r.first(p.TransferOutInitiated)
    return {
        "transfer_id": started.transfer_id,
        # The single policy approves at once: the units are in transit to the peer.
        "status": "in_transit" if r.has(p.TransferOutApproved) else "pending",
        "ranges": r.ranges(),
    }


def approve_transfer_out(r: Receipt) -> dict[str, Any]:
    return {"transfer_id": r.first(p.TransferOutApproved).transfer_id, "status": "in_transit"}
