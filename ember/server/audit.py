"""The audit trail: an ASGI middleware that records every mutating request and every denied
one (401, 403) in the platform's audit log, once its answer's status is known.

It sits inside the MLflow root alias, so it sees the scope the router filled: the matched
route's template (the action), the ``{workspace}`` parameter, and the caller the access check
left in ``scope["state"]``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ember.entities.audit import AuditEntry

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditTrail:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if scope["method"] not in _READS or status in (401, 403):
                _record(scope, status)


def _template(scope: Scope) -> str:
    """The matched route's whole template (``/api/v1/workspaces/{workspace}/jobs/{name}``):
    FastAPI matches an included router's own route, whose template lacks the prefix, so the
    prefix is the request's path less the part the route rendered, its workspace put back as
    ``{workspace}``. The path itself when nothing matched (a 404)."""
    path = str(scope["path"])
    route = scope.get("route")
    fmt = getattr(route, "path_format", None)
    if not fmt:
        return path
    params = scope.get("path_params") or {}
    rendered = fmt
    for key, value in params.items():
        rendered = rendered.replace("{" + key + "}", str(value))
    if not path.endswith(rendered):
        return str(fmt)
    prefix = path[:len(path) - len(rendered)].split("/")
    ws = params.get("workspace")
    for i in range(len(prefix) - 1):
        if prefix[i] == "workspaces" and prefix[i + 1] == ws:
            prefix[i + 1] = "{workspace}"
    return "/".join(prefix) + str(fmt)


def _record(scope: Scope, status: int) -> None:
    app = scope.get("app")
    platform = getattr(getattr(app, "state", None), "platform", None)
    if platform is None:
        return
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    template = _template(scope)
    client = scope.get("client")
    who = ""
    kind = ""
    if principal is not None:
        who = principal.user
        kind = principal.kind if not principal.subject else f"{principal.kind} {principal.subject}"
    platform.audit.record(AuditEntry(
        time=time.time(), user=who, principal=kind,
        workspace=str((scope.get("path_params") or {}).get("workspace", "")),
        action=f"{scope['method']} {template}", resource=scope["path"], outcome=status,
        client=client[0] if client else ""))
