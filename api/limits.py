"""Bound every request body before any parser sees it: its size per route, and its JSON nesting.

NOTE: the nesting bound is not optional hygiene. `py_ecc` (imported by eth-account's keystore
support) raises the interpreter's recursion limit to 100,000 when it is imported, which disables
the guard that normally stops CPython's C JSON scanner (`_json`) at depth 1,000. A body of 100,000
nested arrays then overflows the C stack of the worker thread and the whole process dies with a
segmentation fault (decision D30). This middleware refuses such a body in linear time, outside any
recursive parser, so no route, whatever parser it uses, ever sees one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import Problem, refuse

__all__ = ["MAX_JSON_DEPTH", "BodyLimits", "body_limit", "json_depth_exceeds"]

# The deepest body the API takes: EIP-712 typed data nests five levels, an intent three.
MAX_JSON_DEPTH = 32

# Largest body per path prefix, longest prefix first. A signed write with the most ranges a request
# may carry (256) and its block hints is about 40 KB.
_LIMITS: tuple[tuple[str, int], ...] = (
    ("/v1/auth/", 16 * 1024),
    ("/v1/webhooks/", 16 * 1024),
    ("/v1/", 256 * 1024),
)
_DEFAULT_LIMIT = 16 * 1024

# A JSON string token (escapes included), or one bracket. Strings are matched whole so that
# brackets inside them never count; an unterminated string leaves its brackets counted, which can
# only make the estimate deeper, never shallower.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def body_limit(path: str) -> int:
    """Return the largest body, in bytes, that a request to `path` may carry."""
    for prefix, limit in _LIMITS:
        if path.startswith(prefix):
            return limit
    return _DEFAULT_LIMIT


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return whether JSON text nests arrays and objects deeper than `limit`; parse nothing."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than the brackets it has
    depth = 0
    for token in _TOKENS.finditer(body):
        char = token.group()[0]
        if char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth = max(depth - 1, 0)
    return False


class BodyLimits:
    """ASGI middleware: read a body up to its route's limit, check its nesting, replay it."""

    def __init__(self, app: ASGIApp, problem_response: Callable[[Problem, Scope], Any]) -> None:
        self._app = app
        self._problem_response = problem_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        problem = self._declared_too_large(scope, limit)
        body = b""
        if problem is None:
            body, problem = await self._read(receive, limit)
        if problem is None and json_depth_exceeds(body):
            problem = refuse(
                "JSON_TOO_DEEP",
                f"The body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep; "
                "no request of this API needs that.",
            )
        if problem is not None:
            response = self._problem_response(problem, scope)
            await response(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self._app(scope, replay, send)

    @staticmethod
    def _declared_too_large(scope: Scope, limit: int) -> Problem | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return refuse("INVALID_CONTENT_LENGTH", "Content-Length is not a number.")
                if declared > limit:
                    return _too_large(limit)
        return None

    @staticmethod
    async def _read(receive: Receive, limit: int) -> tuple[bytes, Problem | None]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), None


def _too_large(limit: int) -> Problem:
    return refuse(
        "PAYLOAD_TOO_LARGE",
        f"The body is larger than this route takes ({limit:,} bytes); send a smaller request.",
    )
