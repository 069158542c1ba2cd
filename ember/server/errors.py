"""Every failure of a request as an :class:`~ember.errors.EmberError`, so that the one handler in
``app.py`` answers them all in one shape: ``{"error_code", "message"}``.

- body and parameter validation (pydantic) → :class:`InvalidInputError` naming the field;
- Starlette's own answers (unknown route, wrong method, unreadable body) → their classes;
- anything unexpected → a bare 500 ``INTERNAL_ERROR``; the traceback goes to the server log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ember.errors import (
    EmberError,
    InvalidInputError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RouteNotFoundError,
)

log = logging.getLogger("ember.server")

# pydantic puts the member of a union it tried into the error location ("str", "EnvironmentIn",
# "list[str]", "function-after[...]"): not a field a caller wrote, so not named to them.
_UNION_MEMBER = re.compile(r"^([A-Z]\w*|str|int|float|bool|bytes|none|[\w-]+\[.*\])$")


def validation_message(errors: Sequence[Any]) -> str:
    """One line naming the field of the most specific error (the one with the deepest path)."""
    if not errors:
        return "invalid request"
    first = max(errors, key=lambda e: len(e.get("loc", ())))
    parts = [str(p) for p in first.get("loc", ()) if not _UNION_MEMBER.match(str(p))]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    where = ".".join(parts)
    msg = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        msg = "unknown key (not a field of this body)"
    elif first.get("type") == "json_invalid":
        error = (first.get("ctx") or {}).get("error", "")
        return f"the request body is not valid JSON: {error}".rstrip(": ")
    return f"{where}: {msg}" if where else msg


def from_http_exception(exc: HTTPException, method: str, path: str) -> EmberError:
    """The error class of an answer Starlette or FastAPI made itself."""
    if exc.status_code == 404:
        return RouteNotFoundError(f"no route {method} {path}")
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        err: EmberError = MethodNotAllowedError(
            f"method {method} is not allowed on {path} (allowed: {allowed})")
    elif exc.status_code == 413:
        err = PayloadTooLargeError(str(exc.detail))
    elif exc.status_code in (401, 403):
        err = PermissionDeniedError(str(exc.detail))
    elif exc.status_code < 500:
        detail = "the request body could not be read" if "parsing the body" in str(exc.detail) \
            else str(exc.detail)
        err = InvalidInputError(detail)
    else:
        err = EmberError("internal server error")
    err.http_status = exc.status_code
    return err


Render = Callable[[Scope, EmberError], Callable[[Scope, Receive, Send], Awaitable[None]]]


class UnexpectedErrors:
    """ASGI middleware: an exception no handler took becomes a complete 500 answer in the one
    shape, and the server logs the traceback.

    Without it Starlette sent a plain-text 500 and re-raised, and uvicorn then reset the
    keep-alive connection under the client. A response already under way cannot be replaced;
    that one is re-raised (uvicorn closes the connection, the only honest end left).
    """

    def __init__(self, app: ASGIApp, render: Render) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = self.render(scope, EmberError(
                "internal server error: the server logged the details"))
            await response(scope, receive, send)
