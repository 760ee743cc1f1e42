"""Prometheus metrics: request latencies by route, journal depth, indexer lag, webhook backlog."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy import func, select

from api.models import DeliveryStatus, JournalEntry, RequestStatus, WebhookDelivery

if TYPE_CHECKING:
    from api.services import Services

__all__ = ["instrument"]


def instrument(app: FastAPI, services: Services) -> None:
    """Add the latency middleware and the `/metrics` endpoint to an app."""
    registry = CollectorRegistry()
    latency = Histogram(
        "registry_api_request_seconds",
        "HTTP request latency by route template, method and status.",
        ("route", "method", "status"),
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    )
    journal_depth = Gauge(
        "registry_relayer_queue_depth",
        "Journaled requests not yet confirmed on-chain, by status.",
        ("status",),
        registry=registry,
    )
    lag = Gauge(
        "registry_indexer_lag_blocks",
        "Chain head minus the mirror's last block.",
        registry=registry,
    )
    head = Gauge("registry_chain_head_block", "Latest chain block.", registry=registry)
    webhooks_pending = Gauge(
        "registry_webhook_deliveries_pending",
        "Webhook deliveries in the outbox not yet delivered, failed or cancelled.",
        registry=registry,
    )

    @app.middleware("http")
    async def _time(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        latency.labels(template, request.method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    @app.get("/metrics", include_in_schema=False)
    def _metrics() -> Response:
        with services.engine.connect() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(JournalEntry.status, func.count())  # type: ignore[call-overload]
                    .where(JournalEntry.status.in_(RequestStatus.OPEN))  # type: ignore[attr-defined]
                    .group_by(JournalEntry.status)
                ).all()
            )
            pending = conn.execute(
                select(func.count()).where(
                    WebhookDelivery.status == DeliveryStatus.PENDING  # type: ignore[arg-type]
                )
            ).scalar_one()
        for status in RequestStatus.OPEN:
            journal_depth.labels(status).set(counts.get(status, 0))
        webhooks_pending.set(pending)
        try:
            chain_head = services.client.block_number()
        except Exception:  # the chain being down must not break the metrics endpoint
            chain_head = -1
        if chain_head >= 0:
            head.set(chain_head)
            lag.set(max(0, chain_head - services.indexed_block()))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
