"""Signing in and out of the studio, its CSRF protection, and what a page without a session
does."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ServerProc
from tests.studio.conftest import Watched, assert_accessible


def _make_user(server: ServerProc, name: str, password: str, role: str | None = None) -> None:
    headers = server_headers(server)
    httpx.post(f"{server.url}/api/v1/users", headers=headers,
               json={"name": name, "password": password}, timeout=30).raise_for_status()
    if role:
        httpx.post(f"{server.api()}/roles", headers=headers,
                   json={"user": name, "role": role}, timeout=30).raise_for_status()


def server_headers(server: ServerProc) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def test_a_page_without_a_session_asks_to_sign_in_and_returns_after(
        anonymous: Watched, studio_server: ServerProc) -> None:
    _make_user(studio_server, "ada", "correct horse battery", role="AzureML Data Scientist")
    page = anonymous.page
    anonymous.open("/ws/default/jobs?status=Completed")
    assert page.url.startswith(f"{studio_server.url}/login?next=")
    assert_accessible(page)
    anonymous.screenshot("sign-in")
    # keyboard only: the fields in tab order, Enter submits
    page.focus("#username")
    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{studio_server.url}/ws/default/jobs?status=Completed")
    assert "ada" in page.inner_text("header")
    # signing out revokes the session's token: the old cookie opens nothing
    cookie = next(c for c in page.context.cookies() if c["name"] == "ember_session")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{studio_server.url}/login")
    token = cookie["value"].split(".", 1)[1]
    answer = httpx.get(f"{studio_server.url}/api/v1/whoami",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 401
    again = httpx.get(f"{studio_server.url}/ws/default/jobs", cookies={
        "ember_session": cookie["value"]}, follow_redirects=False, timeout=30)
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


def test_a_wrong_password_is_one_clear_line_naming_no_account(
        anonymous: Watched, studio_server: ServerProc) -> None:
    page = anonymous.page
    anonymous.open("/login")
    page.fill("#username", "nobody")
    page.fill("#password", "wrong")
    # the browser logs the 401 of the form post as a console error: that one is expected
    with page.expect_console_message(lambda m: "401" in m.text), \
            page.expect_response(lambda r: r.url.endswith("/login")) as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    anonymous.errors.clear()
    assert page.inner_text("[role=alert]") == (
        "The user name and password, or the token, are not right.")
    assert not [c for c in page.context.cookies() if c["name"] == "ember_session"]


def test_the_sign_in_link_of_ember_studio_signs_in_and_leaves_the_address_bar(
        anonymous: Watched, studio_server: ServerProc) -> None:
    made = httpx.post(f"{studio_server.url}/api/v1/tokens", headers=server_headers(studio_server),
                      json={"name": "studio sign-in", "expires_in_days": 5 / 1440},
                      timeout=30).json()
    anonymous.open(f"/login?next=/ws/default/jobs#token={made['token']}")
    anonymous.page.wait_for_url(f"{studio_server.url}/ws/default/jobs")
    assert "token=" not in anonymous.page.url
    assert "owner" in anonymous.page.inner_text("header")


def test_the_api_refuses_a_cookie_request_without_its_csrf_token(
        studio: Watched, studio_server: ServerProc) -> None:
    studio.open("/ws/default/jobs")
    page = studio.page
    ok: Any = page.evaluate("""async () => {
        const r = await fetch('/api/v1/tokens', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: 'x'})});
        return [r.status, (await r.json()).message];
    }""")
    studio.errors.clear()   # the browser logs the refused request
    assert ok[0] == 403 and "CSRF" in ok[1]
    made: Any = page.evaluate("""async () => {
        const r = await Ember.api('POST', '/api/v1/tokens', {name: 'from the page',
                                                            expires_in_days: 1});
        return r.user;
    }""")
    assert made == "owner"


def test_forms_without_their_csrf_token_are_refused(studio_server: ServerProc) -> None:
    from tests.studio.conftest import session_cookie
    cookie = session_cookie(studio_server)
    answer = httpx.post(f"{studio_server.url}/logout", data={"csrf_token": "forged"},
                        cookies={cookie["name"]: cookie["value"]}, timeout=30)
    assert answer.status_code == 403
    # the session survived the forged sign-out
    still = httpx.get(f"{studio_server.url}/api/v1/whoami",
                      cookies={cookie["name"]: cookie["value"]}, timeout=30)
    assert still.status_code == 200
    login = httpx.post(f"{studio_server.url}/login", data={"token": studio_server.token},
                       timeout=30)
    assert login.status_code == 403


def test_an_open_redirect_after_sign_in_goes_home_instead(studio_server: ServerProc) -> None:
    with httpx.Client(base_url=studio_server.url, timeout=30) as client:
        page = client.get("/login", params={"next": "//evil.example/x"})
        import re
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        nxt = re.search(r'name="next" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
        assert nxt == "/"
        done = client.post("/login", data={"csrf_token": csrf, "token": studio_server.token,
                                           "next": "https://evil.example/"},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/"
