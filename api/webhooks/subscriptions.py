"""Webhook subscriptions: who may manage them, what a valid one is, creating and deleting them.

A subscription belongs to a platform. The signers the mirror lists for a registered platform
manage its subscriptions; creating one needs the platform to be active. The registry
administrator may read every platform's subscriptions and deliveries, but not create any.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine, func, select, update

from api.auth import Caller
from api.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from api.problems import Problem, refuse
from api.webhooks.egress import EgressPolicy, EgressRefused
from api.webhooks.outbox import lock_cursor, newest_event_id
from api.webhooks.signing import new_secret
from indexer.models import Platform, PlatformSigner, table_of

__all__ = [
    "MAX_URL_LENGTH",
    "WebhookScope",
    "check_event_types",
    "check_url",
    "create_subscription",
    "delete_subscription",
    "find_subscription",
    "platform_scope",
]

MAX_URL_LENGTH = 2048
_MAX_EVENT_TYPES = 64

_SUBSCRIPTIONS = table_of(WebhookSubscription)
_DELIVERIES = table_of(WebhookDelivery)
_PLATFORMS = table_of(Platform)
_SIGNERS = table_of(PlatformSigner)


@dataclass(frozen=True)
class WebhookScope:
    """The platforms whose webhooks a caller may see (all of them for the administrator)."""

    everything: bool
    platforms: dict[str, str]  # platform address -> status, for the platforms it signs for

    def sees(self, platform: str) -> bool:
        """Return whether the caller may read a platform's subscriptions and deliveries."""
        return self.everything or platform in self.platforms


def platform_scope(conn: Connection, caller: Caller) -> WebhookScope:
    """Return the platforms a caller signs for, per the mirror, and whether it sees all."""
    rows = conn.execute(
        select(_PLATFORMS.c.address, _PLATFORMS.c.status)
        .select_from(_SIGNERS.join(_PLATFORMS, _PLATFORMS.c.address == _SIGNERS.c.platform))
        .where(_SIGNERS.c.signer == caller.address)
    )
    return WebhookScope(caller.is_admin, {str(r.address): str(r.status) for r in rows})


def check_url(url: str) -> str:
    """Return a subscription URL if deliveries can be posted to it; else raise a 422 problem."""

    def invalid(why: str) -> Problem:
        return refuse("INVALID_WEBHOOK_URL", f"`url` {why}.")

    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise invalid("may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except ValueError as exc:
        raise invalid(f"cannot be parsed ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise invalid(f"must use http or https, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise invalid("must name a host, e.g. https://platform.example/webhooks")
    if parts.username is not None or parts.password is not None:
        raise invalid("may not carry credentials; the signature authenticates deliveries")
    if parts.fragment:
        raise invalid("may not have a #fragment, which is never sent")
    if port == 0:
        raise invalid("names port 0")
    return url


def check_event_types(types: Iterable[str] | None, known: frozenset[str]) -> list[str] | None:
    """Return a subscription's event type filter, deduplicated; None means every type."""
    if types is None:
        return None
    chosen = sorted(set(types))
    if not chosen:
        raise refuse(
            "INVALID_EVENT_TYPE",
            "`event_types` is empty; omit it to receive every event that concerns the platform.",
        )
    if len(chosen) > _MAX_EVENT_TYPES:
        raise refuse("INVALID_EVENT_TYPE", f"`event_types` lists over {_MAX_EVENT_TYPES}.")
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise refuse(
            "INVALID_EVENT_TYPE",
            f"The registry emits no event {unknown[0]!r}; use contract event names, e.g. "
            "ReservationReleased.",
        )
    return chosen


def _authorise(scope: WebhookScope, caller: Caller, platform: str) -> None:
    if platform not in scope.platforms:
        raise refuse(
            "NOT_AUTHORISED",
            f"{caller.address} is not a signer of platform {platform}; only a registered "
            "platform's signers manage its webhooks.",
        )


def create_subscription(
    engine: Engine,
    caller: Caller,
    platform: str,
    url: str,
    event_types: list[str] | None,
    max_per_platform: int,
    egress: EgressPolicy,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription for a platform the caller signs for; return it and its secret.

    The URL must lead to an address the node may deliver to (`egress`); it is resolved only for
    a caller who may subscribe, and outside the outbox lock.
    """
    with engine.connect() as conn:
        _authorise(platform_scope(conn, caller), caller, platform)
    try:
        egress.check(url)
    except EgressRefused as exc:
        raise refuse("WEBHOOK_URL_FORBIDDEN", f"`url` {exc}.") from None
    with engine.begin() as conn:
        # The outbox lock: see api.webhooks.outbox. The subscription then receives exactly the
        # events indexed after this point.
        lock_cursor(conn)
        scope = platform_scope(conn, caller)
        _authorise(scope, caller, platform)
        if scope.platforms[platform] != "active":
            raise refuse(
                "PLATFORM_SUSPENDED",
                f"Platform {platform} is {scope.platforms[platform]}; it cannot subscribe to "
                "webhooks until the administrator reinstates it.",
            )
        active = conn.execute(
            select(func.count()).where(
                _SUBSCRIPTIONS.c.platform == platform, _SUBSCRIPTIONS.c.deleted_at.is_(None)
            )
        ).scalar_one()
        if active >= max_per_platform:
            raise refuse(
                "TOO_MANY_SUBSCRIPTIONS",
                f"Platform {platform} has {active} subscriptions, the most allowed; delete one "
                "first.",
            )
        secret = new_secret()
        row = WebhookSubscription(
            id="sub_" + secrets.token_hex(12),
            platform=platform,
            url=url,
            event_types=event_types,
            secret=secret,
            created_by=caller.address,
            created_at=time.time(),
            after_event_id=newest_event_id(conn),
        )
        conn.execute(_SUBSCRIPTIONS.insert().values(row.model_dump()))
    return row, secret


def find_subscription(
    conn: Connection, scope: WebhookScope, subscription_id: str
) -> WebhookSubscription:
    """Return a live subscription the caller may see; 404 otherwise (ids are not guessable)."""
    row = conn.execute(
        select(_SUBSCRIPTIONS).where(
            _SUBSCRIPTIONS.c.id == subscription_id, _SUBSCRIPTIONS.c.deleted_at.is_(None)
        )
    ).first()
    if row is None or not scope.sees(row.platform):
        raise refuse(
            "SUBSCRIPTION_NOT_FOUND",
            f"No subscription {subscription_id!r} of a platform you sign for.",
        )
    return WebhookSubscription.model_validate(row._mapping)


def delete_subscription(engine: Engine, caller: Caller, subscription_id: str) -> int:
    """Delete a subscription and cancel its pending deliveries; return how many were cancelled."""
    with engine.begin() as conn:
        lock_cursor(conn)
        scope = platform_scope(conn, caller)
        row = find_subscription(conn, scope, subscription_id)
        _authorise(scope, caller, row.platform)
        now = time.time()
        conn.execute(
            update(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.id == row.id).values(deleted_at=now)
        )
        cancelled = conn.execute(
            update(_DELIVERIES)
            .where(
                _DELIVERIES.c.subscription_id == row.id,
                _DELIVERIES.c.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.CANCELLED)
        ).rowcount
    return int(cancelled)
