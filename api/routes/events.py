"""The ordered feed of registry events (API.md, stable), read from the mirror's raw events.

Events name accounts, holders and representatives, so the feed is the registry administrator's
until consents define what a platform may follow (decision D11).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import select

from api.deps import CurrentCaller, ServicesDep
from api.paging import (
    CSV_RESPONSES,
    Listing,
    Page,
    PageDep,
    SnapshotDep,
    SortKey,
    fetch_page,
    list_response,
    text_filter,
)
from api.problems import refuse
from indexer.models import Event, table_of

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=["events"])

_EVENTS = table_of(Event)

_LISTING = Listing(
    sorts={"event_id": SortKey(_EVENTS.c.id)},
    key=(SortKey(_EVENTS.c.id),),
    default="event_id",
)


class EventPublic(BaseModel):
    """One registry event, in chain order."""

    event_id: int = Field(description="Grows with chain order; never reused, even after a reorg.")
    type: str = Field(description="The contract event's name, e.g. UnitsIssued.")
    block_number: int
    log_index: int
    tx_hash: str
    block_hash: str
    data: dict[str, Any] = Field(
        description="The event's arguments: snake_case names, `AU-…` account ids, enum values "
        "as words, identifiers as text (the same shape webhooks deliver)."
    )


def _event_names(abi: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(str(e["name"]) for e in abi if e.get("type") == "event")


@router.get("", response_model=Page[EventPublic], responses=CSV_RESPONSES)
def list_events(
    caller: CurrentCaller,
    services: ServicesDep,
    page: PageDep,
    snapshot: SnapshotDep,
    type_: Annotated[
        str | None,
        BeforeValidator(text_filter("type")),
        Query(alias="type", description="An event name, e.g. BlockChanged."),
    ] = None,
    tx_hash: Annotated[str | None, BeforeValidator(text_filter("tx_hash")), Query()] = None,
) -> Page[EventPublic] | Response:
    """Page through registry events in chain order, from `cursor` on.

    Unlike other lists, `next_cursor` is set on every page, the last one included: poll with it
    to receive the events indexed since.
    """
    if not caller.is_admin:
        raise refuse(
            "NOT_AUTHORISED",
            f"{caller.address} may not read the event feed: it is the registry administrator's.",
        )
    query = select(
        _EVENTS.c.id,
        _EVENTS.c.name,
        _EVENTS.c.block_number,
        _EVENTS.c.log_index,
        _EVENTS.c.tx_hash,
        _EVENTS.c.block_hash,
        _EVENTS.c.data,
    )
    if type_ is not None:
        if type_ not in _event_names(services.abi):
            raise refuse(
                "INVALID_FILTER",
                f"Filter `type`: the registry emits no event {type_!r}; use a contract event "
                "name, e.g. UnitsIssued.",
            )
        query = query.where(_EVENTS.c.name == type_)
    if tx_hash is not None:
        query = query.where(_EVENTS.c.tx_hash == tx_hash.lower())
    rows, cursor = fetch_page(snapshot, _LISTING, page, query, feed=True)
    items = [
        EventPublic(
            event_id=r.id,
            type=r.name,
            block_number=r.block_number,
            log_index=r.log_index,
            tx_hash=r.tx_hash,
            block_hash=r.block_hash,
            data=services.event_shape.data(r.name, r.data),
        )
        for r in rows
    ]
    return list_response(EventPublic, items, cursor, snapshot, page)
