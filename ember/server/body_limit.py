"""ASGI middleware: the whole-body size limit of each request (``ember.entities.limits``).

Uploads (snapshots, job output files, a remote job's named outputs, MLflow artifacts) and runner log chunks have their own
limits; every other body is JSON and gets ``MAX_JSON_BODY_BYTES``. A declared
``Content-Length`` past the limit is answered 413 before anything is read; a chunked body is
counted as it arrives and refused once it passes the limit.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ember.entities import limits
from ember.errors import PayloadTooLargeError
from ember.server.errors import Render

_WS = r"/api/v1/workspaces/[^/]+"
_ROUTE_LIMITS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("PUT", re.compile(rf"^{_WS}/uploads/[^/]+/[^/]+$"), limits.MAX_UPLOAD_BYTES),
    ("PUT", re.compile(rf"^{_WS}/jobs/[^/]+/artifacts/.+$"), limits.MAX_UPLOAD_BYTES),
    ("PUT", re.compile(rf"^{_WS}/jobs/[^/]+/runner/outputs/[^/]+/.+$"), limits.MAX_UPLOAD_BYTES),
    ("PUT", re.compile(r"^(/workspaces/[^/]+)?/api/2\.0/mlflow-artifacts/artifacts/.+$"),
     limits.MAX_UPLOAD_BYTES),
    ("POST", re.compile(rf"^{_WS}/jobs/[^/]+/runner/logs$"), limits.MAX_LOG_CHUNK_BYTES),
)
_SMALLEST = min(limits.MAX_JSON_BODY_BYTES, *(limit for _, _, limit in _ROUTE_LIMITS))


def body_limit(method: str, path: str) -> int:
    """The largest body accepted by ``method path``, in bytes."""
    for route_method, pattern, limit in _ROUTE_LIMITS:
        if method == route_method and pattern.match(path):
            return limit
    return limits.MAX_JSON_BODY_BYTES


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is larger than {limit} bytes, the limit of this route (see "
        "Limits in the README)")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp, render: Render) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        # The hot path: a declared length under every limit needs no counting (the HTTP server
        # delivers no more than it).
        if declared is not None and declared <= _SMALLEST:
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["method"], scope["path"])
        if declared is not None and declared > limit:
            await self.render(scope, too_large(limit))(scope, receive, send)
            return
        received = 0
        refused = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise too_large(limit)
            return message

        async def guarded_send(message: Message) -> None:
            # Once the body is refused, whatever the route answers (FastAPI turns an error
            # while reading a JSON body into a 400) is replaced by the 413.
            if not refused:
                await send(message)
            elif message["type"] == "http.response.start":
                await self.render(scope, too_large(limit))(scope, receive, send)

        await self.app(scope, counted_receive, guarded_send)
