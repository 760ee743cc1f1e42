"""The `result` of a request, read off the events it emitted (API.md's write table)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from node.contracts import bytes32_text

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


def result_from_events(
    registry_code: str, primary_type: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Return the result fields of an applied request from its events."""
    by_name: dict[str, dict[str, Any]] = {}
    for name, args in events:
        by_name.setdefault(name, args)

    def account(number: Any) -> str:
        return f"{registry_code}-{int(number)}"

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
        initiated = by_name["TransferInitiated"]
        transfer_id = int(initiated["transferId"])
        completed = "TransferCompleted" in by_name
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
