"""Unit blocks as reads present them: with their issuance's attributes and label names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, literal, select

from api.paging import Snapshot
from indexer.models import Issuance, Label, UnitBlock, table_of

__all__ = ["QUANTITY", "holdings_query", "label_condition", "label_list", "label_names"]

_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)


def label_names(conn: Connection) -> dict[int, str]:
    """Return every label's name by id (at most 256: a block's bitmap has 256 bits)."""
    return {int(r.id): str(r.name) for r in conn.execute(select(_LABELS.c.id, _LABELS.c.name))}


def label_list(bitmap: int, names: dict[int, str]) -> list[str]:
    """Return the names of the labels set in a bitmap, in label id order."""
    return [names[i] for i in sorted(names) if bitmap >> i & 1]


def label_condition(snapshot: Snapshot, name: str) -> ColumnElement[bool]:
    """Return a WHERE condition: the block carries the label named `name`."""
    label_id = snapshot.conn.execute(select(_LABELS.c.id).where(_LABELS.c.name == name)).scalar()
    if label_id is None:
        return literal(False)
    if snapshot.dialect == "sqlite":
        return func.registry_label_bit(_BLOCKS.c.labels, int(label_id)) == 1
    # NUMERIC(78,0) arithmetic is exact on PostgreSQL: bit i is floor(labels / 2^i) mod 2.
    power = literal(Decimal(2 ** int(label_id)), _BLOCKS.c.labels.type)
    return func.mod(func.div(_BLOCKS.c.labels, power), 2) == 1


QUANTITY = (_BLOCKS.c.end - _BLOCKS.c.start + 1).label("quantity")


def holdings_query() -> Select[Any]:
    """Return the select of unit blocks with their issuance attributes."""
    return select(
        _BLOCKS.c.start,
        _BLOCKS.c.end,
        QUANTITY,
        _BLOCKS.c.state,
        _BLOCKS.c.lock_id,
        _BLOCKS.c.issuance_id,
        _BLOCKS.c.labels,
        _ISSUANCES.c.unit_type,
        _ISSUANCES.c.project_id,
        _ISSUANCES.c.vintage,
    ).select_from(_BLOCKS.join(_ISSUANCES, _ISSUANCES.c.id == _BLOCKS.c.issuance_id))
