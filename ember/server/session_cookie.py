"""The studio's session cookie, read by the one access check (``deps.authenticate``).

A studio sign-in makes an ordinary API token (``POST /api/v1/tokens``, 12 hours) and keeps it
in an HttpOnly, SameSite=Lax cookie as ``<token id>.<token>``: the id lets sign-out revoke it.
A request that carries no ``Authorization`` header but this cookie is that token's request, so
the studio's scripts call the same REST API as the SDK.

CSRF: a cookie travels with cross-site requests, so every unsafe request authenticated by the
cookie must also carry ``X-CSRF-Token`` (scripts) or a ``csrf_token`` form field (the studio's
own forms), whose value is a keyed hash of the session's token. A page embeds it; another site
can neither read the page nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import HTTPConnection

SESSION_COOKIE = "ember_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_HOURS = 12


def cookie_value(token_id: str, token: str) -> str:
    return f"{token_id}.{token}"


def parse_cookie(value: str | None) -> tuple[str, str] | None:
    """``(token id, token)`` of a session cookie's value; None when it is not one."""
    if not value:
        return None
    token_id, sep, token = value.partition(".")
    if not sep or not token_id or not token:
        return None
    return token_id, token


def session_of(conn: HTTPConnection) -> tuple[str, str] | None:
    return parse_cookie(conn.cookies.get(SESSION_COOKIE))


def csrf_token(secret: str) -> str:
    """The CSRF token that goes with a session (``secret``: the session's API token, or the
    server's own key when auth is off)."""
    return hmac.new(secret.encode(), b"ember-studio-csrf", hashlib.sha256).hexdigest()


def csrf_matches(secret: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret), presented or "")
