"""Routes served from operation records alone: each record that declares its intent schema and
builder (`Operation.prepare`) gets its prepare and submit routes here, with no module of its own.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.operations.catalogue import OPERATIONS
from api.operations.edge import record_routes

__all__ = ["router"]

router = APIRouter()
record_routes(router, OPERATIONS)
