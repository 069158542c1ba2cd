"""Sign in and sign out.

Signing in makes a 12-hour API token through the REST API (``POST /api/v1/tokens``), as the
user name and password (Basic) or as a token the user has, and keeps it in the session cookie;
signing out revokes it. The sign-in form's CSRF token is a random value also set as a cookie
(double submit), as there is no session yet.
"""

from __future__ import annotations

import base64
import secrets

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from ember.errors import EmberError
from ember.server.deps import ANONYMOUS, platform_of
from ember.server.session_cookie import SESSION_COOKIE, SESSION_HOURS, cookie_value, session_of
from ember.server.studio.api import API, client_for
from ember.server.studio.forms import check_csrf, read_form, safe_next
from ember.server.studio.pages import studio_router
from ember.server.studio.render import render
from ember.server.studio.session import Session, SignInRequired, page_session

router = studio_router()
LOGIN_CSRF_COOKIE = "ember_login_csrf"


def _login_page(request: Request, *, next_url: str, error: str = "", username: str = "",
                token_open: bool = False, status_code: int = 200) -> Response:
    login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    session = Session(ANONYMOUS, None, None, "", False)
    response = render(request, session, "login.html", title="Sign in", status_code=status_code,
                      next_url=next_url, error=error, username=username,
                      token_open=token_open, login_csrf=login_csrf)
    response.set_cookie(LOGIN_CSRF_COOKIE, login_csrf, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login")
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if not platform_of(request).auth.enabled:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"))
    username = form.get("username", "").strip()
    check_csrf(form, request.cookies.get(LOGIN_CSRF_COOKIE, ""))
    token = form.get("token", "").strip()
    if token:
        authorization = f"Bearer {token}"
    elif username and form.get("password"):
        pair = f"{username}:{form['password']}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode()
    else:
        return _login_page(request, next_url=next_url, username=username, status_code=400,
                           error="Enter your user name and password, or a token.")
    async with client_for(request, authorization) as client:
        answer = await client.post(f"{API}/tokens", json={
            "name": "studio session", "expires_in_days": SESSION_HOURS / 24})
    if answer.status_code != 201:
        try:
            message = str(answer.json().get("message", ""))
        except ValueError:
            message = ""
        return _login_page(request, next_url=next_url, username=username,
                           token_open=bool(token), status_code=answer.status_code,
                           error=_sign_in_error(answer.status_code, message))
    made = answer.json()
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie_value(made["id"], made["token"]),
                        max_age=SESSION_HOURS * 3600, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _sign_in_error(status: int, message: str) -> str:
    if status == 401:
        # one answer for an unknown user and a wrong password: it names no account
        return "The user name and password, or the token, are not right."
    return message or f"Signing in failed ({status})."


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    found = session_of(request)
    if found is None:
        return response
    try:
        session = await page_session(request)
    except SignInRequired:   # an expired or revoked session: nothing left to revoke
        return response
    form = await read_form(request)
    check_csrf(form, session.csrf)
    token_id, token = found
    async with client_for(request, f"Bearer {token}") as client:
        answer = await client.delete(f"{API}/tokens/{token_id}")
    if answer.status_code >= 400:
        raise EmberError(f"signing out could not revoke the session ({answer.status_code})")
    return response
