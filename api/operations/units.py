"""What an account does to its own units: cancel them, and (a label's authority) label them.

`POST /v1/cancellations`, `/v1/labels/{label}/apply` and `/v1/labels/{label}/remove` (API.md,
stable). Applying and removing a label are one request type, `SetLabel`, told apart by
`applied`, which each route fixes.

Served from these records alone (`api.routes.records`), like the escrow family.
"""

from __future__ import annotations

from typing import Any

from api.intents import PURPOSES, Resolver
from api.operations import results
from api.operations.prechecks import check_cancel, check_label
from api.operations.record import (
    ACCOUNT_ERRORS,
    RIGHT_ERRORS,
    UNIT_ERRORS,
    LabelPath,
    Operation,
    Prepare,
)
from api.operations.refusals import Refusal
from api.schemas import CancellationIntent, LabelChangeIntent

__all__ = ["OPERATIONS"]


def _cancel(r: Resolver, intent: CancellationIntent, _path: dict[str, Any]) -> dict[str, Any]:
    account = r.account(intent.account_id)
    r.require_right(account, intent.signer, "initiate")
    return {
        "signer": intent.signer,
        "accountId": account.id,
        "ranges": r.units(account, intent.quantity, intent.filters, intent.ranges),
        "purpose": PURPOSES[intent.purpose],
        "beneficiary": intent.beneficiary,
        "reason": intent.reason,
    }


def _label_change(applied: bool) -> Any:
    def build(r: Resolver, intent: LabelChangeIntent, path: dict[str, Any]) -> dict[str, Any]:
        label_id = r.label_id(path["label"])
        r.require_role(intent.signer, "label_authority")
        if intent.ranges is not None:
            ranges = [{"start": x.start, "end": x.end} for x in intent.ranges]
        else:
            if intent.account_id is None:
                raise Refusal("INVALID_REQUEST", "`quantity` needs an `account_id`.")
            account = r.account(intent.account_id, must_be_open=False)
            ranges = r.units(account, intent.quantity, intent.filters, None)
        return {"signer": intent.signer, "labelId": label_id, "applied": applied, "ranges": ranges}

    return build


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "cancellations",
        "Cancel",
        check_cancel,
        "Cancel units",
        result=results.cancel,
        errors=(*ACCOUNT_ERRORS, *RIGHT_ERRORS, *UNIT_ERRORS),
        prepare=Prepare(
            "/cancellations",
            CancellationIntent,
            _cancel,
            "Prepare cancelling units, voluntarily or for a purpose.",
            "writes",
            more_tags=("cancellations",),
            name="prepare_cancellation",
        ),
    ),
    Operation(
        "labels/apply",
        "SetLabel",
        check_label,
        "Apply a label to serial ranges",
        result=results.set_label,
        errors=(
            "NotLabelAuthority",
            "LabelNotFound",
            "AccountNotFound",
            *UNIT_ERRORS,
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/labels/{label}/apply",
            LabelChangeIntent,
            _label_change(applied=True),
            "Prepare applying a label to units (the label's authority).",
            "writes",
            {"label": LabelPath},
            ("labels",),
            name="prepare_apply_label",
            fixed={"applied": "true"},
        ),
    ),
    Operation(
        "labels/remove",
        "SetLabel",
        check_label,
        "Remove a label from serial ranges",
        result=results.set_label,
        errors=(
            "NotLabelAuthority",
            "LabelNotFound",
            "AccountNotFound",
            *UNIT_ERRORS,
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/labels/{label}/remove",
            LabelChangeIntent,
            _label_change(applied=False),
            "Prepare removing a label from units (the label's authority).",
            "writes",
            {"label": LabelPath},
            ("labels",),
            name="prepare_remove_label",
            fixed={"applied": "false"},
        ),
    ),
)
