"""The studio's own HTML forms: url-encoded bodies, each checked for its CSRF token."""

from __future__ import annotations

import urllib.parse

from fastapi import Request

from ember.errors import InvalidInputError, PermissionDeniedError
from ember.server.session_cookie import CSRF_FIELD

MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """A form's fields (the last value of a repeated one)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInputError("a studio form is sent as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInputError(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidInputError("the form is not UTF-8") from None
    return {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}


def check_csrf(form: dict[str, str], expected: str) -> None:
    import hmac
    if not expected or not hmac.compare_digest(form.get(CSRF_FIELD, ""), expected):
        raise PermissionDeniedError("the form's CSRF token is missing or stale: reload the "
                                    "page and send it again")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this server only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
