"""Trading platforms (CER Class B): the administrator registers, suspends and staffs them.

The writes under `admin/platforms` are served from their records (`api.operations.platforms`);
the list of platforms is public, like the registers, so that account holders can find the
address to consent to.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import ServicesDep
from api.ids import format_account
from api.operations.platforms import PlatformPath
from api.paging import (
    CSV_RESPONSES,
    Listing,
    Page,
    PageDep,
    SnapshotDep,
    SortKey,
    fetch_page,
    list_response,
)
from api.problems import refuse
from indexer.models import Platform, table_of

__all__ = ["router"]

router = APIRouter(tags=["platforms"])

_PLATFORMS = table_of(Platform)


def _checksummed(address: str) -> str:
    return str(to_checksum_address(address))


# -- reads -----------------------------------------------------------------------------------


class PlatformPublic(BaseModel):
    """A registered trading platform."""

    address: str
    name: str
    status: str
    custodial_account: str
    registered_block: int


class PlatformDetail(PlatformPublic):
    """A registered trading platform, as of an indexed block."""

    as_of_block: int


_LISTING = Listing(
    sorts={
        "address": SortKey(_PLATFORMS.c.address, str),
        "name": SortKey(_PLATFORMS.c.name, str),
        "registered_block": SortKey(_PLATFORMS.c.registered_block),
    },
    key=(SortKey(_PLATFORMS.c.address, str),),
    default="registered_block",
)


def _public(code: str, row: Any) -> PlatformPublic:
    return PlatformPublic(
        address=row.address,
        name=row.name,
        status=row.status,
        custodial_account=format_account(code, row.custodial_account_id),
        registered_block=row.registered_block,
    )


@router.get("/platforms", response_model=Page[PlatformPublic], responses=CSV_RESPONSES)
def list_platforms(
    services: ServicesDep, page: PageDep, snapshot: SnapshotDep
) -> Page[PlatformPublic] | Response:
    """List registered platforms (public): the addresses account holders consent to."""
    rows, cursor = fetch_page(snapshot, _LISTING, page, select(_PLATFORMS))
    items = [_public(services.registry_code, row) for row in rows]
    return list_response(PlatformPublic, items, cursor, snapshot, page)


@router.get("/platforms/{platform}", response_model=PlatformDetail)
def get_platform(
    platform: PlatformPath, services: ServicesDep, snapshot: SnapshotDep
) -> PlatformDetail:
    """Return one registered platform (public)."""
    address = _checksummed(platform)
    row = snapshot.conn.execute(select(_PLATFORMS).where(_PLATFORMS.c.address == address)).first()
    if row is None:
        raise refuse("PLATFORM_NOT_FOUND", f"No platform is registered at {address}.")
    public = _public(services.registry_code, row)
    return PlatformDetail(**public.model_dump(), as_of_block=snapshot.as_of_block)
