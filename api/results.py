"""The `result` of a request, read off the events it emitted (API.md's write table)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from node.contracts import Article6Action, Article64Share, bytes32_text

__all__ = ["result_from_events"]


def _ranges(
    events: Sequence[tuple[str, dict[str, Any]]], lock_id: int | None = None
) -> list[dict[str, int]]:
    """Return the ranges the request's BlockChanged events moved (merged where adjacent)."""
    out: list[dict[str, int]] = []
    for name, args in events:
        if name != "BlockChanged" or (lock_id is not None and args["lockId"] != lock_id):
            continue
        start, end = int(args["start"]), int(args["end"])
        if out and out[-1]["end"] + 1 == start:
            out[-1]["end"] = end
        else:
            out.append({"start": start, "end": end})
    return out


def _action_ranges(
    events: Sequence[tuple[str, dict[str, Any]]], *actions: Article6Action
) -> list[dict[str, int]]:
    """Return the ranges of the request's Article 6 records of the given actions, in order."""
    wanted = {int(a) for a in actions}
    return [
        {"start": int(args["start"]), "end": int(args["end"])}
        for name, args in events
        if name == "Article6ActionRecorded" and int(args["action"]) in wanted
    ]


def _article6_result(
    account: Any,
    primary_type: str,
    by_name: dict[str, dict[str, Any]],
    events: Sequence[tuple[str, dict[str, Any]]],
) -> dict[str, Any] | None:
    """Return the result of an Article 6 request, or None for another type."""
    first_transfers = _action_ranges(events, Article6Action.FIRST_TRANSFER)
    if primary_type == "RegisterParty":
        return {"party": bytes32_text(by_name["PartyRegistered"]["party"])}
    if primary_type == "RegisterCooperativeApproach":
        return {"approach_id": bytes32_text(by_name["CooperativeApproachRegistered"]["approachId"])}
    if primary_type == "SetMechanismAccounts":
        m = by_name["MechanismAccountsSet"]
        return {
            "pending": account(m["pending"]),
            "holding": account(m["holding"]),
            "cancellation": account(m["cancellation"]),
            "omge_cancellation": account(m["omgeCancellation"]),
            "share_of_proceeds": account(m["shareOfProceeds"]),
        }
    if primary_type == "Authorize":
        recorded = by_name["Article6ActionRecorded"]
        return {
            "authorization_id": int(recorded["authorizationId"]),
            "party": bytes32_text(recorded["party"]),
            "ranges": _action_ranges(events, Article6Action.AUTHORIZATION),
            "first_transfer_ranges": first_transfers,
        }
    if primary_type == "TransferItmos":
        initiated = by_name["TransferInitiated"]
        return {
            "transfer_id": int(initiated["transferId"]),
            "authorization_id": int(by_name["ItmoTransferInitiated"]["authorizationId"]),
            "ranges": _ranges(events),
            "status": "completed" if "TransferCompleted" in by_name else "pending",
            "first_transfer_ranges": first_transfers,
        }
    if primary_type in ("ApproveItmoTransfer", "RescindItmoTransfer"):
        approved = primary_type == "ApproveItmoTransfer"
        decided = by_name["TransferCompleted" if approved else "TransferRescinded"]
        return {
            "transfer_id": int(decided["transferId"]),
            "status": "completed" if approved else "rescinded",
            "first_transfer_ranges": first_transfers,
        }
    if primary_type == "CancelItmos":
        cancelled = by_name["UnitsCancelled"]
        cancellation_id = int(cancelled["cancellationId"])
        uses = [
            args
            for name, args in events
            if name == "Article6ActionRecorded"
            and int(args["action"]) != Article6Action.FIRST_TRANSFER
        ]
        return {
            "cancellation_id": cancellation_id,
            "action": Article6Action(int(uses[0]["action"])).name.lower() if uses else None,
            "ranges": _ranges(events, cancellation_id),
            "first_transfer_ranges": first_transfers,
        }
    if primary_type == "IssueArticle64":
        issued = by_name["UnitsIssued"]
        summary = by_name["Article64Issued"]
        parts: dict[int, list[tuple[int, int, int]]] = {}
        for name, args in events:
            if name == "Article64Distributed":
                share = int(args["share"])
                parts.setdefault(share, []).append(
                    (int(args["accountId"]), int(args["start"]), int(args["end"]))
                )

        def part(account_id: int, start: int, end: int) -> dict[str, Any]:
            return {
                "account_id": account(account_id),
                "quantity": end - start + 1,
                "ranges": [{"start": start, "end": end}],
            }

        (sop,) = parts.get(Article64Share.SHARE_OF_PROCEEDS, [(0, 1, 0)])
        (omge,) = parts.get(Article64Share.OMGE, [(0, 1, 0)])
        return {
            "issuance_id": int(issued["issuanceId"]),
            "quantity": int(summary["quantity"]),
            "ranges": [{"start": int(issued["start"]), "end": int(issued["end"])}],
            "pending_account": account(summary["pendingAccount"]),
            "share_of_proceeds": part(*sop),
            "omge": {**part(*omge), "cancellation_id": int(summary["cancellationId"])},
            "forwarded": [part(*p) for p in parts.get(Article64Share.FORWARDED, [])],
            "forwarded_quantity": int(summary["forwarded"]),
        }
    return None


def result_from_events(
    registry_code: str, primary_type: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Return the result fields of an applied request from its events."""
    by_name: dict[str, dict[str, Any]] = {}
    for name, args in events:
        by_name.setdefault(name, args)

    def account(number: Any) -> str:
        return f"{registry_code}-{int(number)}"

    article6 = _article6_result(account, primary_type, by_name, events)
    if article6 is not None:
        return article6

    if primary_type == "OpenAccount":
        return {"account_id": account(by_name["AccountOpened"]["accountId"])}
    if primary_type in ("SetRepresentative", "SetAccountStatus"):
        key = "RepresentativeSet" if primary_type == "SetRepresentative" else "AccountStatusChanged"
        return {"account_id": account(by_name[key]["accountId"])}
    if primary_type == "RegisterProject":
        return {
            "project_id": bytes32_text(bytes.fromhex(by_name["ProjectRegistered"]["projectId"][2:]))
        }
    if primary_type == "DefineLabel":
        return {"label_id": int(by_name["LabelDefined"]["labelId"])}
    if primary_type == "Issue":
        issued = by_name["UnitsIssued"]
        return {
            "issuance_id": int(issued["issuanceId"]),
            "ranges": [{"start": int(issued["start"]), "end": int(issued["end"])}],
        }
    if primary_type == "InitiateTransfer":
        # A single-policy transfer logs TransferExecuted alone; a two-person one TransferInitiated.
        completed = "TransferExecuted" in by_name
        initiated = by_name["TransferExecuted" if completed else "TransferInitiated"]
        transfer_id = int(initiated["transferId"])
        return {
            "transfer_id": transfer_id,
            "ranges": _ranges(events),
            "status": "completed" if completed else "pending",
        }
    if primary_type == "ApproveTransfer":
        return {
            "transfer_id": int(by_name["TransferCompleted"]["transferId"]),
            "status": "completed",
        }
    if primary_type == "RescindTransfer":
        return {
            "transfer_id": int(by_name["TransferRescinded"]["transferId"]),
            "status": "rescinded",
        }
    if primary_type == "Cancel":
        cancelled = by_name["UnitsCancelled"]
        return {"cancellation_id": int(cancelled["cancellationId"]), "ranges": _ranges(events)}
    if primary_type in _PLATFORM_RESULTS:
        return _PLATFORM_RESULTS[primary_type](account, by_name, events)
    if primary_type == "SetLabel":
        changes = [args for name, args in events if name == "LabelChanged"]
        return {
            "label_id": int(changes[0]["labelId"]) if changes else None,
            "ranges": [{"start": int(a["start"]), "end": int(a["end"])} for a in changes],
        }
    if primary_type == "TransferOut":  # to a peer registry (docs/interop.md)
        started = by_name["TransferOutInitiated"]
        return {
            "transfer_id": int(started["transferId"]),
            "status": "in_transit" if "TransferOutApproved" in by_name else "pending",
            "ranges": _ranges(events),
        }
    return {}


# -- platform models (CER Class B) and third-party certificates (Class C) -----------------------

Events = Sequence[tuple[str, dict[str, Any]]]
_Result = Callable[[Callable[[Any], str], dict[str, dict[str, Any]], Events], dict[str, Any]]


def _transfer_reservation(
    account: Callable[[Any], str], by_name: dict[str, dict[str, Any]], events: Events
) -> dict[str, Any]:
    moved = by_name["ReservationTransferred"]
    return {
        "reservation_id": int(moved["reservationId"]),
        "transfer_id": int(moved["transferId"]),
        "to_account": account(moved["custodialAccount"]),
        "ranges": _ranges(events),
        "status": "completed" if "TransferCompleted" in by_name else "pending",
    }


def _retire(
    account: Callable[[Any], str], by_name: dict[str, dict[str, Any]], events: Events
) -> dict[str, Any]:
    retired = by_name["AssociationRetired"]
    return {
        "association_id": int(retired["associationId"]),
        "cancellation_id": int(retired["cancellationId"]),
        "ranges": _ranges(events),
        "status": "retired",
    }


_PLATFORM_RESULTS: dict[str, _Result] = {
    "RegisterPlatform": lambda _a, n, _e: {
        "platform": n["PlatformRegistered"]["platform"],
        "custodial_account": _a(n["PlatformRegistered"]["custodialAccount"]),
    },
    "SetPlatformSigner": lambda _a, n, _e: {
        "platform": n["PlatformSignerSet"]["platform"],
        "signer": n["PlatformSignerSet"]["signer"],
        "enabled": bool(n["PlatformSignerSet"]["enabled"]),
    },
    "SetPlatformStatus": lambda _a, n, _e: {
        "platform": n["PlatformStatusChanged"]["platform"],
        "status": "active" if int(n["PlatformStatusChanged"]["status"]) == 1 else "suspended",
    },
    "GrantConsent": lambda _a, n, _e: {"consent_id": int(n["ConsentGranted"]["consentId"])},
    "RevokeConsent": lambda _a, n, _e: {
        "consent_id": int(n["ConsentRevoked"]["consentId"]),
        "status": "revoked",
    },
    "Reserve": lambda _a, n, e: {
        "reservation_id": int(n["UnitsReserved"]["reservationId"]),
        "ranges": _ranges(e),
    },
    "ReleaseReservation": lambda _a, n, _e: {
        "reservation_id": int(n["ReservationReleased"]["reservationId"]),
        "status": "released",
    },
    "TransferReservation": _transfer_reservation,
    "Escrow": lambda _a, n, e: {
        "escrow_id": int(n["UnitsEscrowed"]["escrowId"]),
        "ranges": _ranges(e),
    },
    "SettleEscrow": lambda a, n, _e: {
        "escrow_id": int(n["EscrowSettled"]["escrowId"]),
        "to_account": a(n["EscrowSettled"]["toAccount"]),
        "status": "settled",
    },
    "ReleaseEscrow": lambda _a, n, _e: {
        "escrow_id": int(n["EscrowReleased"]["escrowId"]),
        "status": "released",
    },
    "Associate": lambda _a, n, e: {
        "association_id": int(n["UnitsAssociated"]["associationId"]),
        "ranges": _ranges(e),
    },
    "Dissociate": lambda _a, n, _e: {
        "association_id": int(n["UnitsDissociated"]["associationId"]),
        "status": "dissociated",
    },
    "RetireAssociation": _retire,
}
