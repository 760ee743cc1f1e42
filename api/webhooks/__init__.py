"""Webhooks for platforms: subscriptions, a transactional outbox, routing, signing, delivery.

- `subscriptions`: who may subscribe for which platform, URL and event type checks, secrets.
- `routing`: which platforms an indexed event concerns.
- `outbox`: fills the outbox from the mirror's events, exactly once (decision D22).
- `signing`: Standard Webhooks headers and stable `webhook-id`s.
- `delivery`: the worker that posts due deliveries and retries with backoff (decision D23).
"""
