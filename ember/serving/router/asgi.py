"""ASGI plumbing shared by the router's routes: message types, body reading, responses, and
the two shapes of the router's own errors (Azure's on ``/score``, OpenAI's on a language
model's paths)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 100 * 1024 * 1024
JSON = b"application/json"
# A client's own x-request-id is kept as the correlation id when it is this plain.
safe_request_id = re.compile(rb"[A-Za-z0-9._:\-]{1,128}\Z").match
# status, content type, body, answered by a worker, the worker's x-ember-usage header
Outcome = tuple[int, bytes, bytes, bool, bytes | None]
ErrorShape = Callable[[int, str, str], Outcome]   # (status, Ember error code, message)


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def error(status: int, code: str, message: str) -> Outcome:
    return status, JSON, orjson.dumps({"error_code": code, "message": message}), False, None


_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_OPENAI_CODES = {"UNAUTHORIZED": "invalid_api_key"}


def openai_error(status: int, code: str, message: str) -> Outcome:
    """The same error in OpenAI's shape, which its clients parse: ``{"error": {"message",
    "type", "param", "code"}}``; the code is Ember's in lower case."""
    return status, JSON, orjson.dumps({"error": openai_error_body(status, code, message)}), \
        False, None


def openai_error_body(status: int, code: str, message: str) -> dict[str, object]:
    kind = _OPENAI_TYPES.get(status) or ("server_error" if status >= 500
                                         else "invalid_request_error")
    return {"message": message, "type": kind, "param": None,
            "code": _OPENAI_CODES.get(code) or code.lower()}


async def read_body(receive: Receive, declared: int) -> bytes | None:
    """The whole request body; None when it is over MAX_BODY."""
    if declared > MAX_BODY:
        return None
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts, size = [body], len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


async def respond(send: Send, outcome: Outcome, rid: bytes | None = None,
                  deployment: bytes | None = None,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    status, ctype, data = outcome[0], outcome[1], outcome[2]
    headers = [(b"content-type", ctype), (b"content-length", str(len(data)).encode("ascii"))]
    if deployment is not None:
        headers.append((b"azureml-model-deployment", deployment))
    if rid is not None:
        headers.append((b"x-request-id", rid))
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
