"""Webhook subscriptions of platforms, and the log of every delivery and attempt.

A signer of a registered platform (per the mirror) manages that platform's subscriptions; the
registry administrator reads every platform's. Deliveries are signed per Standard Webhooks and
made by the webhook worker, never on the request path (decisions D22, D23).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from eth_utils.address import is_address, to_checksum_address
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import select

from api.auth import iso
from api.deps import CurrentCaller, ServicesDep
from api.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from api.paging import (
    CSV_RESPONSES,
    Listing,
    Page,
    PageDep,
    SnapshotDep,
    SortKey,
    choice_filter,
    fetch_page,
    int_filter,
    list_response,
    text_filter,
)
from api.problems import refuse
from api.schemas import Address
from api.services import Services
from api.webhooks.egress import EgressPolicy
from api.webhooks.subscriptions import (
    check_event_types,
    check_url,
    create_subscription,
    delete_subscription,
    find_subscription,
    platform_scope,
)
from indexer.models import table_of

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_SUBSCRIPTIONS = table_of(WebhookSubscription)
_DELIVERIES = table_of(WebhookDelivery)
_ATTEMPTS = table_of(WebhookAttempt)

SubscriptionPath = Annotated[str, Path(max_length=32, pattern=r"^sub_[0-9a-f]{24}$")]
DeliveryPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


# -- bodies ----------------------------------------------------------------------------------


class SubscriptionCreate(BaseModel):
    """A new subscription: which platform, where to, and optionally which event types."""

    model_config = ConfigDict(extra="forbid", strict=True)

    platform: Address = Field(description="The platform's address; the caller must sign for it.")
    url: str = Field(
        description="http(s) URL that receives the signed POSTs.",
        examples=["https://platform.example/registry-webhooks"],
    )
    event_types: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None,
        description='Contract event names to receive, e.g. ["ReservationReleased"]; '
        "omit for every event that concerns the platform.",
    )


class SubscriptionPublic(BaseModel):
    """A webhook subscription (its secret is shown only once, when it is created)."""

    subscription_id: str
    platform: str
    url: str
    event_types: list[str] | None = Field(description="null: every event type.")
    created_by: str
    created_at: str
    after_event_id: int = Field(description="It receives events with a greater `event_id`.")


class SubscriptionCreated(SubscriptionPublic):
    """A subscription just created, with the secret that verifies its deliveries."""

    secret: str = Field(
        description="`whsec_...`: verify each delivery with a Standard Webhooks library. "
        "It is not shown again."
    )


class DeliveryPublic(BaseModel):
    """One event for one subscription, and how its delivery is going."""

    delivery_id: int
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    subscription_id: str
    platform: str
    event_id: int
    event_type: str
    block_number: int
    status: str = Field(description="pending, delivered, failed, cancelled or orphaned.")
    attempts: int
    next_attempt_at: str | None = Field(description="When the next attempt is due (pending).")
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str


class AttemptPublic(BaseModel):
    """One POST of a delivery."""

    attempt: int
    attempted_at: str
    duration_ms: float
    status_code: int | None = Field(description="The receiver's answer; null if none came.")
    error: str | None = Field(description="Why the attempt failed; null if it succeeded.")


class DeliveryDetail(DeliveryPublic):
    """A delivery with its body and every attempt made."""

    payload: dict[str, Any] = Field(description="The JSON body every attempt sends.")
    attempt_log: list[AttemptPublic]
    as_of_block: int


class SubscriptionDetail(SubscriptionPublic):
    """A live subscription, as of an indexed block."""

    as_of_block: int


# -- helpers ---------------------------------------------------------------------------------


def _subscription(row: Any) -> SubscriptionPublic:
    return SubscriptionPublic(
        subscription_id=row.id,
        platform=row.platform,
        url=row.url,
        event_types=row.event_types,
        created_by=row.created_by,
        created_at=iso(row.created_at),
        after_event_id=row.after_event_id,
    )


def _optional_time(value: float | None) -> str | None:
    return None if value is None else iso(value)


def _delivery(row: Any) -> DeliveryPublic:
    return DeliveryPublic(
        delivery_id=row.id,
        webhook_id=row.webhook_id,
        subscription_id=row.subscription_id,
        platform=row.platform,
        event_id=row.event_id,
        event_type=row.event_type,
        block_number=row.block_number,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=(
            iso(row.next_attempt_at) if row.status == DeliveryStatus.PENDING else None
        ),
        last_attempt_at=_optional_time(row.last_attempt_at),
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=_optional_time(row.delivered_at),
        created_at=iso(row.created_at),
    )


def _event_names(services: Services) -> frozenset[str]:
    return frozenset(str(e["name"]) for e in services.abi if e.get("type") == "event")


def _platform_filter(value: Any) -> Any:
    parsed = text_filter("platform")(value)
    if parsed is None:
        return None
    if not (parsed.startswith("0x") and is_address(parsed)):
        raise refuse("INVALID_FILTER", f"Filter `platform`: {parsed!r} is not an address.")
    return to_checksum_address(parsed)


PlatformFilter = Annotated[
    str | None,
    BeforeValidator(_platform_filter),
    Query(description="Only this platform's (an address)."),
]


# -- subscriptions ---------------------------------------------------------------------------

_SUBSCRIPTION_LISTING = Listing(
    sorts={"subscription_id": SortKey(_SUBSCRIPTIONS.c.id, str)},
    key=(SortKey(_SUBSCRIPTIONS.c.id, str),),
    default="subscription_id",
)


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe a platform to webhooks",
)
def create(
    body: SubscriptionCreate, caller: CurrentCaller, services: ServicesDep
) -> SubscriptionCreated:
    """Create a subscription for a platform the caller signs for; the secret is shown once.

    It receives every event indexed from now on that concerns the platform (optionally only the
    listed types), signed per Standard Webhooks.
    """
    url = check_url(body.url)
    types = check_event_types(body.event_types, _event_names(services))
    row, secret = create_subscription(
        services.engine,
        caller,
        body.platform,
        url,
        types,
        services.settings.webhook_max_subscriptions,
        EgressPolicy.from_settings(services.settings),
    )
    return SubscriptionCreated(**_subscription(row).model_dump(), secret=secret)


@router.get("/subscriptions", response_model=Page[SubscriptionPublic], responses=CSV_RESPONSES)
def list_subscriptions(
    caller: CurrentCaller,
    page: PageDep,
    snapshot: SnapshotDep,
    platform: PlatformFilter = None,
) -> Page[SubscriptionPublic] | Response:
    """List the live subscriptions of the platforms the caller signs for (all: administrator)."""
    scope = platform_scope(snapshot.conn, caller)
    s = _SUBSCRIPTIONS.c
    query = select(_SUBSCRIPTIONS).where(s.deleted_at.is_(None))
    if not scope.everything:
        query = query.where(s.platform.in_(sorted(scope.platforms)))
    if platform is not None:
        query = query.where(s.platform == platform)
    rows, cursor = fetch_page(snapshot, _SUBSCRIPTION_LISTING, page, query)
    items = [_subscription(r) for r in rows]
    return list_response(SubscriptionPublic, items, cursor, snapshot, page)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionDetail)
def get_subscription(
    subscription_id: SubscriptionPath, caller: CurrentCaller, snapshot: SnapshotDep
) -> SubscriptionDetail:
    """Return one live subscription of a platform the caller signs for."""
    scope = platform_scope(snapshot.conn, caller)
    found = _subscription(find_subscription(snapshot.conn, scope, subscription_id))
    return SubscriptionDetail(**found.model_dump(), as_of_block=snapshot.as_of_block)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def delete(
    subscription_id: SubscriptionPath, caller: CurrentCaller, services: ServicesDep
) -> Response:
    """Delete a subscription; its deliveries not yet made are cancelled."""
    delete_subscription(services.engine, caller, subscription_id)
    return Response(status_code=204)


# -- deliveries ------------------------------------------------------------------------------

_DELIVERY_LISTING = Listing(
    sorts={
        "delivery_id": SortKey(_DELIVERIES.c.id),
        "event_id": SortKey(_DELIVERIES.c.event_id),
    },
    key=(SortKey(_DELIVERIES.c.id),),
    default="delivery_id",
)


@router.get("/deliveries", response_model=Page[DeliveryPublic], responses=CSV_RESPONSES)
def list_deliveries(
    caller: CurrentCaller,
    page: PageDep,
    snapshot: SnapshotDep,
    platform: PlatformFilter = None,
    subscription_id: Annotated[
        str | None, BeforeValidator(text_filter("subscription_id")), Query()
    ] = None,
    status: Annotated[
        str | None,
        BeforeValidator(choice_filter("status", DeliveryStatus.ALL)),
        Query(description="pending, delivered, failed, cancelled or orphaned."),
    ] = None,
    event_type: Annotated[str | None, BeforeValidator(text_filter("event_type")), Query()] = None,
    event_id: Annotated[int | None, BeforeValidator(int_filter("event_id", 1)), Query()] = None,
) -> Page[DeliveryPublic] | Response:
    """List deliveries to the platforms the caller signs for, with their latest outcome."""
    scope = platform_scope(snapshot.conn, caller)
    d = _DELIVERIES.c
    query = select(_DELIVERIES)
    if not scope.everything:
        query = query.where(d.platform.in_(sorted(scope.platforms)))
    for column, value in (
        (d.platform, platform),
        (d.subscription_id, subscription_id),
        (d.status, status),
        (d.event_type, event_type),
        (d.event_id, event_id),
    ):
        if value is not None:
            query = query.where(column == value)
    rows, cursor = fetch_page(snapshot, _DELIVERY_LISTING, page, query)
    items = [_delivery(r) for r in rows]
    return list_response(DeliveryPublic, items, cursor, snapshot, page)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(
    delivery_id: DeliveryPath, caller: CurrentCaller, snapshot: SnapshotDep
) -> DeliveryDetail:
    """Return one delivery, its body and the log of its attempts."""
    scope = platform_scope(snapshot.conn, caller)
    row = snapshot.conn.execute(select(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id)).first()
    if row is None or not scope.sees(row.platform):
        raise refuse(
            "DELIVERY_NOT_FOUND",
            f"No delivery {delivery_id} to a platform you sign for.",
        )
    a = _ATTEMPTS.c
    attempts = snapshot.conn.execute(
        select(_ATTEMPTS).where(a.delivery_id == delivery_id).order_by(a.attempt, a.id)
    ).all()
    return DeliveryDetail(
        **_delivery(row).model_dump(),
        as_of_block=snapshot.as_of_block,
        payload=json.loads(row.payload),
        attempt_log=[
            AttemptPublic(
                attempt=r.attempt,
                attempted_at=iso(r.attempted_at),
                duration_ms=r.duration_ms,
                status_code=r.status_code,
                error=r.error,
            )
            for r in attempts
        ],
    )
