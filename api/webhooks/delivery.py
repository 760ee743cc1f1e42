"""The delivery worker: fill the outbox, post due deliveries, retry with backoff, log attempts.

It runs on its own thread (plus a small pool for the HTTP posts), never on the request path.
Every state is in the database, so a restart resumes: a delivery is claimed by pushing its
`next_attempt_at` past the longest an attempt can take (a lease) and counting the attempt; a
process that dies mid-attempt leaves it to be tried again once the lease has passed. The
`webhook-id` is the same on every attempt, so a receiver that saw a delivery whose answer was
lost drops the repeat (decision D23).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, insert, select, update

from api.config import ApiSettings
from api.events import EventShape
from api.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from api.webhooks.egress import EgressPolicy, EgressRefused
from api.webhooks.outbox import fill_outbox
from api.webhooks.signing import signed_headers
from indexer.models import Event, table_of

__all__ = ["AttemptResult", "WebhookWorker", "retry_delay"]

log = logging.getLogger(__name__)

_DELIVERIES = table_of(WebhookDelivery)
_ATTEMPTS = table_of(WebhookAttempt)
_SUBSCRIPTIONS = table_of(WebhookSubscription)
_EVENTS = table_of(Event)
_MAX_ERROR = 500
_USER_AGENT = "registry-webhooks/1"
# Rounds of outbox filling per loop, so a long backlog never starves deliveries.
_FILL_ROUNDS = 20


def retry_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Return the wait after failed attempt `attempt` (1-based): capped doubling, half jitter.

    The n-th retry waits between half and all of min(cap, base * 2^(n-1)), so receivers that
    fail together are not retried together.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class AttemptResult:
    """What one POST came to."""

    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        """Return whether the receiver accepted the delivery (any 2xx)."""
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookWorker:
    """Deliver the outbox; one per API process (several processes may share one database)."""

    def __init__(
        self,
        engine: Engine,
        settings: ApiSettings,
        shape: EventShape,
        *,
        rng: random.Random | None = None,
        wake: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.shape = shape
        self.rng = rng or random.Random()
        self._concurrency = settings.webhook_concurrency
        self._egress = EgressPolicy.from_settings(settings)
        timeout = settings.webhook_timeout_seconds
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self._concurrency),
            headers={"user-agent": _USER_AGENT, "content-type": "application/json"},
        )
        # An attempt holds its claim for longer than httpx's phases can take together.
        self._lease = 4 * timeout + 30
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="webhook-post")
        self._in_flight = 0
        self._lock = threading.Lock()
        # Set when the mirror advances (another process's notification), or to stop.
        self._wake = wake or threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> WebhookWorker:
        """Start filling and delivering."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop; attempts in flight finish (bounded by the timeout), the rest stay queued."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    # -- loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a database outage: log, back off, carry on
                log.exception("webhook worker step failed; retrying")
                self._stop.wait(1.0)
            self._wake.wait(self.settings.webhook_poll_seconds)
            self._wake.clear()

    def step(self) -> None:
        """Fill the outbox from the mirror, then start the due deliveries there is room for."""
        for _ in range(_FILL_ROUNDS):
            consumed, _added = fill_outbox(self.engine, self.shape)
            if not consumed:
                break
        with self._lock:
            room = self._concurrency - self._in_flight
        if room <= 0:
            return
        for row in self._claim(room):
            with self._lock:
                self._in_flight += 1
            self._pool.submit(self._attempt, row)

    def _claim(self, limit: int) -> list[Any]:
        """Claim up to `limit` due deliveries; settle those whose event a reorg removed."""
        now = time.time()
        d = _DELIVERIES.c
        with self.engine.begin() as conn:
            due = (
                conn.execute(
                    select(d.id)
                    .where(d.status == DeliveryStatus.PENDING, d.next_attempt_at <= now)
                    .order_by(d.next_attempt_at, d.id)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if not due:
                return []
            # Only rows still due are ours: another process may have claimed some meanwhile.
            claimed = conn.execute(
                update(_DELIVERIES)
                .where(
                    d.id.in_(due),
                    d.status == DeliveryStatus.PENDING,
                    d.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + self._lease, attempts=d.attempts + 1)
                .returning(d.id, d.event_id, d.attempts)
            ).all()
            if not claimed:
                return []
            present = set(
                conn.execute(
                    select(_EVENTS.c.id).where(_EVENTS.c.id.in_([r.event_id for r in claimed]))
                ).scalars()
            )
            orphans = [r.id for r in claimed if r.event_id not in present]
            if orphans:
                # NOTE: the chain reorganised the event away before it was delivered; its
                # replacement (if the same request was mined again) is a new event, with a new
                # id and its own delivery (decision D22).
                conn.execute(
                    update(_DELIVERIES)
                    .where(d.id.in_(orphans))
                    .values(
                        status=DeliveryStatus.ORPHANED,
                        attempts=d.attempts - 1,
                        next_attempt_at=now,
                        last_error="the event was removed by a chain reorganisation",
                    )
                )
            live = [r.id for r in claimed if r.event_id in present]
            if not live:
                return []
            s = _SUBSCRIPTIONS.c
            return list(
                conn.execute(
                    select(
                        d.id,
                        d.webhook_id,
                        d.payload,
                        d.attempts,
                        s.url,
                        s.secret,
                    )
                    .select_from(_DELIVERIES.join(_SUBSCRIPTIONS, s.id == d.subscription_id))
                    .where(d.id.in_(live))
                    .order_by(d.id)
                ).all()
            )

    # -- one attempt -------------------------------------------------------------------------

    def _attempt(self, row: Any) -> None:
        try:
            result = self.post(row.url, row.secret, row.webhook_id, row.payload)
            self._record(row, result)
        except Exception:
            log.exception("recording webhook delivery %s failed", row.id)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._wake.set()

    def post(self, url: str, secret: str, message_id: str, body: str) -> AttemptResult:
        """POST one signed delivery; return the status code or the error, and the time taken."""
        headers = signed_headers(secret, message_id, body, datetime.now(UTC))
        started = time.perf_counter()
        try:
            # Checked again at every attempt, on the addresses the host has now, and connected
            # to the address checked (DNS rebinding).
            target = self._egress.resolve(url)
        except EgressRefused as exc:
            duration = (time.perf_counter() - started) * 1000
            return AttemptResult(None, f"refused: the URL {exc}"[:_MAX_ERROR], duration)
        try:
            # Streamed and closed unread: only the status matters, and a large or slow body
            # must not hold the worker.
            with self._http.stream(
                "POST",
                target.url,
                content=body.encode(),
                headers=headers | target.headers,
                extensions=target.extensions,
            ) as resp:
                status: int | None = resp.status_code
            error = None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            status = None
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration = (time.perf_counter() - started) * 1000
        return AttemptResult(status, None if error is None else error[:_MAX_ERROR], duration)

    def _record(self, row: Any, result: AttemptResult) -> None:
        now = time.time()
        settings = self.settings
        values: dict[str, Any] = {
            "last_attempt_at": now,
            "last_status_code": result.status_code,
            "last_error": result.error,
        }
        if result.ok:
            values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
        elif row.attempts >= settings.webhook_max_attempts:
            values |= {"status": DeliveryStatus.FAILED}
        else:
            delay = retry_delay(
                row.attempts,
                settings.webhook_retry_base_seconds,
                settings.webhook_retry_max_seconds,
                self.rng,
            )
            values |= {"next_attempt_at": now + delay}
        d = _DELIVERIES.c
        with self.engine.begin() as conn:
            conn.execute(
                insert(_ATTEMPTS).values(
                    delivery_id=row.id,
                    attempt=row.attempts,
                    attempted_at=now - result.duration_ms / 1000,
                    duration_ms=round(result.duration_ms, 3),
                    status_code=result.status_code,
                    error=result.error,
                )
            )
            # Only while it is still our claim: a deleted subscription's rows stay cancelled.
            conn.execute(
                update(_DELIVERIES)
                .where(
                    d.id == row.id,
                    d.status == DeliveryStatus.PENDING,
                    d.attempts == row.attempts,
                )
                .values(**values)
            )
