"""Who is looking at a studio page: the page routes' access check (``page_session``).

A page is rendered only for a signed-in caller (or anyone, when the server runs with auth
off); without a valid session it answers a redirect to ``/login``. The page's data is not read
here: the page reads the REST API with the session's token (``api.py``), where the one access
check (``server/deps.py``) decides what the caller may see.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request

from ember.entities.auth import Principal
from ember.errors import EmberError, PermissionDeniedError, UnauthenticatedError
from ember.server.deps import ANONYMOUS, platform_of, resource_kind
from ember.server.session_cookie import csrf_token, session_of


class SignInRequired(Exception):
    """No valid session: the page answers a redirect to the sign-in page."""

    def __init__(self, next_url: str, reason: str = "") -> None:
        super().__init__(reason)
        self.next_url = next_url
        self.reason = reason


@dataclass(frozen=True)
class Session:
    principal: Principal
    token: str | None       # the session's API token; None with auth off
    token_id: str | None
    csrf: str
    auth_enabled: bool

    @property
    def user(self) -> str:
        return self.principal.user


def server_secret(request: Request) -> str:
    """The key of the CSRF tokens of a server with auth off (there is no session token)."""
    state = request.app.state
    if not getattr(state, "studio_secret", None):
        state.studio_secret = secrets.token_hex(32)
    return str(state.studio_secret)


async def page_session(request: Request) -> Session:
    """The studio pages' access check (listed in ``create_app``'s checks)."""
    platform = platform_of(request)
    if not platform.auth.enabled:
        session = Session(ANONYMOUS, None, None, csrf_token(server_secret(request)), False)
        request.state.studio_session = session
        return session
    found = session_of(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        # a token in the header (a script, curl): the page as that token's caller
        found = ("", header[7:].strip())
    next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if found is None:
        raise SignInRequired(next_url)
    token_id, token = found
    try:
        principal = platform.auth.authenticate(f"Bearer {token}")
    except UnauthenticatedError as exc:
        raise SignInRequired(next_url, str(exc)) from None
    request.state.principal = principal
    session = Session(principal, token, token_id, csrf_token(token), True)
    request.state.studio_session = session
    return session


def may(request: Request, session: Session, workspace: str, action: str,
        path: str | None = None) -> bool:
    """Whether the caller may ``action`` (write, delete, secrets...) in ``workspace``: what a
    page asks before it shows an edit button. The API decides again on every request."""
    platform = platform_of(request)
    if not platform.auth.enabled:
        return True
    kind = resource_kind(path or f"/api/v1/workspaces/{workspace}/jobs")
    try:
        platform.auth.authorize(session.principal, workspace, kind, action)
    except (PermissionDeniedError, EmberError):
        return False
    return True
