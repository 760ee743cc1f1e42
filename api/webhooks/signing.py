"""Standard Webhooks signing: secrets, the stable `webhook-id`, and the three signed headers."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

__all__ = ["new_secret", "signed_headers", "webhook_id"]

_SECRET_BYTES = 32


def new_secret() -> str:
    """Return a fresh signing secret in the Standard Webhooks form `whsec_<base64>`."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def webhook_id(subscription_id: str, event_id: int) -> str:
    """Return the message id of an event sent to a subscription: the same on every attempt."""
    return f"msg_{subscription_id.removeprefix('sub_')}_{event_id}"


def signed_headers(secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    """Return the `webhook-id`, `webhook-timestamp` and `webhook-signature` of one attempt.

    The timestamp is the attempt's, as the scheme asks (receivers refuse stale ones); the body
    and the id stay the same across attempts.
    """
    moment = now.astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }
