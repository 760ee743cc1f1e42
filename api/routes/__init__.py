"""One module per resource; `ROUTERS` is what the app mounts under /v1."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    accounts,
    article6,
    auth,
    discovery,
    events,
    explorer,
    interop,
    platforms,
    records,
    registers,
    requests,
    webhooks,
)

__all__ = ["PAGES", "ROUTERS"]

ROUTERS: list[APIRouter] = [discovery.router, auth.router, requests.router]
ROUTERS += [accounts.router, registers.router, events.router, webhooks.router]
ROUTERS += [platforms.router, records.router]
ROUTERS += [article6.router, interop.router]

# Served at the root, outside /v1: the public explorer's HTML pages (decision D35).
PAGES: list[APIRouter] = [explorer.router]
