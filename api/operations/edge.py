"""The HTTP edge every signed write shares: prepare, submit, wait, and the request resource.

Route modules declare their prepare handlers and add their submit routes with `submit_route`;
`api.writes` checks and journals what is submitted. Nothing here knows one operation from another.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from api.auth import iso
from api.deps import ServicesDep
from api.intents import Resolver
from api.operations.catalogue import REQUEST_ERRORS, SUBMIT_ERRORS
from api.operations.catalogue import operation as operation_record
from api.operations.record import AccountPath, LabelPath, Operation, Ready, TransferId
from api.operations.refusals import Refusal, code_of
from api.problems import STATUS_OF, Problem
from api.schemas import PreparedRequest, RequestAccepted, RequestResource, SignedSubmission
from api.services import Services
from api.writes import accept, fresh_mirror, wait_for_request

__all__ = [
    "OPERATION_KEY",
    "WRITE_RESPONSES",
    "AccountPath",
    "LabelPath",
    "TransferId",
    "Wait",
    "errors_of",
    "prepare_request",
    "problem_of",
    "record_routes",
    "resource",
    "submit_request",
    "submit_route",
]


def resource(row: Any) -> RequestResource:
    """Return a journal row as the public request resource."""
    error = row.error
    if error is not None and "marker" in error:
        error = None  # internal bookkeeping, not a failure
    return RequestResource(
        request_id=row.request_id,
        operation=row.operation,
        signer=row.signer,
        status=row.status,
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        error=error,
        result=row.result,
        accepted_at=iso(row.accepted_at),
    )


# The OpenAPI extension a write route names its operation record with (`api.openapi` reads it
# and removes it from the published document).
OPERATION_KEY = "x-operation"

Wait = Annotated[
    Literal["indexed"] | None,
    Query(description="`indexed`: answer once the request is indexed or failed (bounded)."),
]


def problem_of(refusal: Refusal) -> Problem:
    """Return the HTTP problem of a domain refusal: its status comes from the error catalogue.

    This is the one place a refusal of the registry's rules becomes HTTP.
    """
    return Problem(STATUS_OF[refusal.code], refusal.code, refusal.detail, extra=refusal.extra)


def prepare_request(
    services: Services, build: Callable[[Resolver], dict[str, Any]]
) -> PreparedRequest:
    """Resolve an intent against the mirror (retrying a refusal the mirror may be behind on)."""
    try:
        return PreparedRequest(typed_data=fresh_mirror(services, build))
    except Refusal as refusal:
        raise problem_of(refusal) from refusal


def submit_request(
    request: Request,
    response: Response,
    services: Services,
    operation: str,
    body: SignedSubmission,
    wait: str | None,
    path: dict[str, str] | None = None,
) -> RequestAccepted | RequestResource:
    """Check and journal a signed request; with `wait=indexed`, answer once it settled."""
    try:
        row, fresh = accept(services, operation, body.typed_data, body.signature, path)
    except Refusal as refusal:
        raise problem_of(refusal) from refusal
    if fresh:
        worker = request.app.state.worker
        if worker is not None:
            worker.wake()  # the relayer runs in this process
        else:
            services.notifier.publish("journal")  # the relayer process, wherever it runs
    if wait == "indexed":
        row = wait_for_request(services, row.request_id, services.settings.wait_timeout_seconds)
        if row.status in ("indexed", "failed"):
            response.status_code = 200
            return resource(row)
    response.status_code = 202
    return RequestAccepted(request_id=row.request_id, status=row.status)


WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": RequestResource, "description": "With `wait=indexed`: the final request."},
    202: {"model": RequestAccepted, "description": "Journaled; follow GET /v1/requests/{id}."},
}


def submit_route(
    router: APIRouter,
    path: str,
    operation: str,
    *,
    tags: list[str | Enum] | None = None,
    fixed: dict[str, str] | None = None,
    **params: Any,
) -> None:
    """Add `POST path`, which checks and journals a signed request of `operation`.

    Every submission takes the same body and `wait` and differs only in its path parameters,
    given as `name=AnnotatedType` so that they are validated and documented like any other.
    `fixed` adds values the route implies (e.g. whether a label is applied) to those the
    submitted request is checked against.
    """
    record = operation_record(operation)

    def submit(
        body: SignedSubmission,
        request: Request,
        response: Response,
        services: ServicesDep,
        wait: Wait = None,
        **values: Any,
    ) -> RequestAccepted | RequestResource:
        path_values = {name: str(value) for name, value in values.items()} | (fixed or {})
        return submit_request(
            request, response, services, operation, body, wait, path_values or None
        )

    # NOTE: FastAPI reads parameters from the signature; the path parameters are added to it
    # here because their names and types vary by route.
    signature = inspect.signature(submit)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    path_params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        for name, annotation in params.items()
    ]
    keyword = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=_HINTS[p.name]) for p in own
    ]
    submit.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=keyword + path_params, return_annotation=RequestAccepted | RequestResource
    )
    submit.__doc__ = (
        f"Submit the signed `{record.primary_type}` request that `POST {path}/prepare` returned. "
        "Checked at once against the mirror (the same check prepare ran), journaled, relayed, "
        "and verified again on-chain."
    )
    router.add_api_route(
        path,
        submit,
        methods=["POST"],
        summary=record.summary,
        name=f"submit_{operation.replace('/', '_').replace('-', '_')}",
        responses=WRITE_RESPONSES,
        status_code=202,
        tags=tags,
        # The record the route serves: `api.openapi` declares its errors from it.
        openapi_extra={OPERATION_KEY: operation},
    )


# The submit handler's own parameters, as objects: this module's annotations are strings.
_HINTS: dict[str, Any] = {
    "body": SignedSubmission,
    "request": Request,
    "response": Response,
    "services": ServicesDep,
    "wait": Wait,
}


def record_routes(router: APIRouter, records: tuple[Operation, ...]) -> None:
    """Add `POST {route}/prepare` and `POST {route}` for each record that declares its routes.

    The prepare handler validates the record's intent schema, builds the message with the
    record's builder, runs the record's precheck (the one submit runs) and completes the typed
    data with the signer's nonce and a deadline.
    """
    for record in records:
        if record.prepare is not None:
            _prepare_route(router, record)
            spec = record.prepare
            submit_route(
                router,
                spec.route,
                record.path,
                tags=list(spec.tags),
                fixed=spec.fixed or None,
                **spec.params,
            )


def _prepare_route(router: APIRouter, record: Operation) -> None:
    spec = record.prepare
    assert spec is not None
    if spec.example is not None:
        spec.intent.model_config["json_schema_extra"] = {"examples": [spec.example]}
        spec.intent.model_rebuild(force=True)

    def prepare(intent: Any, services: ServicesDep, **path: Any) -> PreparedRequest:
        def build(r: Resolver) -> dict[str, Any]:
            message = spec.build(r, intent, path)
            if isinstance(message, Ready):
                return message.typed_data
            record.precheck(r, message, {})
            return r.typed(record.primary_type, message["signer"], message)

        return prepare_request(services, build)

    # NOTE: as in `submit_route`, FastAPI reads the intent's schema and the path parameters from
    # the signature, which differ by record.
    parameters = [
        inspect.Parameter("intent", inspect.Parameter.KEYWORD_ONLY, annotation=spec.intent),
        inspect.Parameter("services", inspect.Parameter.KEYWORD_ONLY, annotation=ServicesDep),
    ] + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        for name, annotation in spec.params.items()
    ]
    prepare.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=PreparedRequest
    )
    prepare.__doc__ = spec.description
    router.add_api_route(
        f"{spec.route}/prepare",
        prepare,
        methods=["POST"],
        response_model=PreparedRequest,
        name=spec.name or f"prepare_{record.path.replace('/', '_').replace('-', '_')}",
        tags=list(spec.tags),
        openapi_extra={OPERATION_KEY: record.path},
    )


def errors_of(record: Operation, *, submit: bool) -> dict[int, list[str]]:
    """Return the codes the prepare (or submit) route of a record can answer with, by status."""
    generic = REQUEST_ERRORS + (SUBMIT_ERRORS if submit else ())
    codes = record.codes | {code_of(error) for error in generic}
    by_status: dict[int, list[str]] = {}
    for code in sorted(codes):
        by_status.setdefault(STATUS_OF[code], []).append(code)
    return by_status
