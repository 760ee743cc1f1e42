"""Signed writes, each in two calls: `POST .../prepare` with an intent, then `POST ...` signed.

Paths and intent fields follow API.md's write table (stable); representative and status
changes, label definitions and label changes follow the same pattern.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServicesDep
from api.intents import (
    PURPOSES,
    Resolver,
)
from api.operations.edge import LabelPath, prepare_request, submit_route
from api.problems import refuse
from api.schemas import (
    CancellationIntent,
    LabelChangeIntent,
    PreparedRequest,
)
from api.services import Services

__all__ = ["router"]

router = APIRouter(tags=["writes"])

# -- cancellations and labels -----------------------------------------------------------------


@router.post("/cancellations/prepare", response_model=PreparedRequest, tags=["cancellations"])
def prepare_cancellation(intent: CancellationIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare cancelling units, voluntarily or for a purpose."""

    def build(r: Resolver) -> dict[str, Any]:
        account = r.account(intent.account_id)
        r.require_right(account, intent.signer, "initiate")
        return r.typed(
            "Cancel",
            intent.signer,
            {
                "accountId": account.id,
                "ranges": r.units(account, intent.quantity, intent.filters, intent.ranges),
                "purpose": PURPOSES[intent.purpose],
                "beneficiary": intent.beneficiary,
                "reason": intent.reason,
            },
        )

    return prepare_request(services, build)


submit_route(router, "/cancellations", "cancellations", tags=["cancellations"])


def _prepare_label_change(
    services: Services, label: str, intent: LabelChangeIntent, applied: bool
) -> PreparedRequest:
    def build(r: Resolver) -> dict[str, Any]:
        label_id = r.label_id(label)
        r.require_role(intent.signer, "label_authority")
        if intent.ranges is not None:
            ranges = [{"start": x.start, "end": x.end} for x in intent.ranges]
        else:
            if intent.account_id is None:
                raise refuse("INVALID_REQUEST", "`quantity` needs an `account_id`.")
            account = r.account(intent.account_id, must_be_open=False)
            ranges = r.units(account, intent.quantity, intent.filters, None)
        return r.typed(
            "SetLabel",
            intent.signer,
            {"labelId": label_id, "applied": applied, "ranges": ranges},
        )

    return prepare_request(services, build)


@router.post("/labels/{label}/apply/prepare", response_model=PreparedRequest, tags=["labels"])
def prepare_apply_label(
    label: LabelPath, intent: LabelChangeIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare applying a label to units (the label's authority)."""
    return _prepare_label_change(services, label, intent, applied=True)


submit_route(
    router,
    "/labels/{label}/apply",
    "labels/apply",
    tags=["labels"],
    fixed={"applied": "true"},
    label=LabelPath,
)


@router.post("/labels/{label}/remove/prepare", response_model=PreparedRequest, tags=["labels"])
def prepare_remove_label(
    label: LabelPath, intent: LabelChangeIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare removing a label from units (the label's authority)."""
    return _prepare_label_change(services, label, intent, applied=False)


submit_route(
    router,
    "/labels/{label}/remove",
    "labels/remove",
    tags=["labels"],
    fixed={"applied": "false"},
    label=LabelPath,
)
