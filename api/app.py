"""Build the FastAPI application: routes, problem+json error handling, metrics, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from api import metrics
from api.limits import BodyLimits
from api.openapi import install_openapi
from api.operations.edge import problem_of
from api.operations.refusals import Refusal
from api.problems import Problem, refuse
from api.routes import PAGES, ROUTERS
from api.services import Services
from api.webhooks.delivery import WebhookWorker

__all__ = ["PROBLEM_JSON", "create_app"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_DESCRIPTION = """\
ANREU-style registry API. Reads come from the SQL mirror of the chain and report `as_of_block`;
writes are EIP-712 requests signed by authorised representatives, journaled, relayed and verified
again on-chain. Errors are RFC 9457 problems with a stable `code`.
"""


def _problem_response(problem: Problem, request: Request | Scope) -> JSONResponse:
    path = request.url.path if isinstance(request, Request) else request["path"]
    return JSONResponse(
        problem.body(instance=path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers or None,
    )


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        errors.append({"location": location, "message": str(error.get("msg", ""))})
    first = errors[0] if errors else {"location": "body", "message": "invalid"}
    return f"{first['location']}: {first['message']}", errors


def create_app(services: Services, *, run_workers: bool = True) -> FastAPI:
    """Return the API application over built services; `run_workers` starts the relaying."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        interop = None
        webhooks = None
        if run_workers and services.relayer is not None:
            from api.journal import JournalWorker

            services.relayer.start()
            worker = JournalWorker(services).start()
            app.state.worker = worker
            from api.interop import InteropWorker

            interop = InteropWorker(services, wake=worker.wake).start()
        if run_workers and services.settings.webhook_delivery:
            webhooks = WebhookWorker(
                services.engine, services.settings, services.event_shape
            ).start()
            app.state.webhooks = webhooks
        try:
            yield
        finally:
            if webhooks is not None:
                webhooks.stop()
            if interop is not None:
                interop.stop()
            if worker is not None:
                worker.stop()
            if services.relayer is not None:
                services.relayer.stop()

    # NOTE: Swagger UI and ReDoc are served from the package (fastapi-offline ships their
    # assets), because validator networks are usually closed: a CDN would leave /docs blank.
    app = FastAPIOffline(
        title="Unit registry API",
        version="1",
        description=_DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
        # One schema per model: a generated client would otherwise get two `SerialRange`s.
        separate_input_output_schemas=False,
    )
    app.state.services = services
    app.state.worker = None
    app.state.webhooks = None

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return _problem_response(exc, request)

    @app.exception_handler(Refusal)
    async def _refusal(request: Request, exc: Refusal) -> JSONResponse:
        # A refusal met outside prepare and submit, which map their own (`api.operations.edge`).
        return _problem_response(problem_of(exc), request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(exc)
        code = (
            "MALFORMED_JSON"
            if any(e.get("type") == "json_invalid" for e in exc.errors())
            else "INVALID_REQUEST"
        )
        problem = Problem(
            422 if code == "INVALID_REQUEST" else 400, code, detail, extra={"errors": errors}
        )
        return _problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        problem = Problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
        return _problem_response(problem, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error serving %s %s", request.method, request.url.path)
        problem = refuse(
            "INTERNAL_ERROR", "The registry could not serve this request; it was logged."
        )
        return _problem_response(problem, request)

    app.add_middleware(BodyLimits, problem_response=_problem_response)
    metrics.instrument(app, services)
    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    for router in PAGES:
        app.include_router(router)
    install_openapi(app)
    return app
