"""The `result` of a request, read off the events it emitted (API.md's write table)."""

from __future__ import annotations

from collections.abc import Sequence
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
    if primary_type == "SetLabel":
        changes = [args for name, args in events if name == "LabelChanged"]
        return {
            "label_id": int(changes[0]["labelId"]) if changes else None,
            "ranges": [{"start": int(a["start"]), "end": int(a["end"])} for a in changes],
        }
    return {}
