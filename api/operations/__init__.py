"""Signed write operations: what every one of them shares at the HTTP edge."""

from api.operations.edge import (
    WRITE_RESPONSES,
    AccountPath,
    LabelPath,
    TransferId,
    Wait,
    prepare_request,
    resource,
    submit_request,
    submit_route,
)

__all__ = [
    "WRITE_RESPONSES",
    "AccountPath",
    "LabelPath",
    "TransferId",
    "Wait",
    "prepare_request",
    "resource",
    "submit_request",
    "submit_route",
]
