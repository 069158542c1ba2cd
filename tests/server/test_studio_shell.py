"""The studio's shell in process (no browser): its access check, static files, forms, error
pages and headers. The pages themselves are tested in a real browser (tests/studio)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ember.server.app import create_app
from ember.server.studio.forms import safe_next
from ember.server.studio.render import static_url
from ember.settings import Settings


@pytest.fixture
def browser_client(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends no token: it signs in as a browser does."""
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def _sign_in(client: TestClient, token: str, next_url: str = "/") -> str:
    page = client.get("/login", params={"next": next_url})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post("/login", data={"csrf_token": csrf.group(1), "token": token,
                                       "next": next_url}, follow_redirects=False)
    assert done.status_code == 303, done.text
    return done.headers["location"]


def test_pages_need_a_session_and_keep_the_address_to_return_to(
        browser_client: TestClient) -> None:
    answer = browser_client.get("/ws/default/jobs?status=Failed", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/ws/default/jobs%3Fstatus%3DFailed"


def test_a_session_reads_pages_and_the_api_and_carries_security_headers(
        app: FastAPI, browser_client: TestClient) -> None:
    assert _sign_in(browser_client, app.state.platform.owner_token,
                    "/ws/default/jobs") == "/ws/default/jobs"
    page = browser_client.get("/ws/default/jobs")
    assert page.status_code == 200 and "<h1>Jobs</h1>" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text    # no inline script: the CSP would refuse it
    cookie = browser_client.cookies["ember_session"]
    assert cookie.count(".") == 1
    assert browser_client.get("/api/v1/whoami").json()["user"] == "owner"


def test_an_unknown_job_page_is_an_html_404_in_the_layout(
        app: FastAPI, browser_client: TestClient) -> None:
    _sign_in(browser_client, app.state.platform.owner_token)
    answer = browser_client.get("/ws/nowhere/jobs")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "workspace &#39;nowhere&#39; does not exist" in answer.text


def test_static_files_are_versioned_cached_compressed_and_confined(
        browser_client: TestClient) -> None:
    url = static_url("studio.js")
    first = browser_client.get(url, headers={"accept-encoding": "gzip"})
    assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
    assert "immutable" in first.headers["cache-control"]
    again = browser_client.get(url, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    for bad in ("..%2Fapi.py", "%2E%2E%2Fsession.py", ".hidden", "nothing.js"):
        assert browser_client.get(f"/static/studio/x/{bad}").status_code == 404
    plotly = browser_client.get(static_url("plotly.js"), headers={"accept-encoding": "gzip"})
    assert plotly.status_code == 200
    assert plotly.headers["content-type"].startswith("text/javascript")
    # the one bundled file of the plotly package (4.8 MB), sent compressed
    assert plotly.content.startswith(b"/**\n* plotly.js")
    assert plotly.headers["content-encoding"] == "gzip"
    assert int(plotly.headers["content-length"]) < 2_000_000
    assert browser_client.get("/static/plotly-evil.js").status_code == 404


def test_the_sign_in_form_refuses_bad_bodies(browser_client: TestClient) -> None:
    browser_client.get("/login")
    not_form = browser_client.post("/login", json={"token": "x"})
    assert not_form.status_code == 400 and "x-www-form-urlencoded" in not_form.text
    latin = browser_client.post("/login", content=b"token=\xff\xfe",
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert latin.status_code == 400 and "UTF-8" in latin.text
    huge = browser_client.post("/login", content=b"token=" + b"a" * 70_000,
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 400 and "larger than" in huge.text
    stale = browser_client.post("/login", data={"csrf_token": "guess", "token": "x"})
    assert stale.status_code == 403 and "CSRF" in stale.text


@pytest.mark.parametrize("given, expected", [
    ("/ws/a/jobs?x=1", "/ws/a/jobs?x=1"), ("//evil.example", "/"),
    ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/"), (None, "/")])
def test_after_sign_in_only_paths_of_this_server(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_with_auth_off_pages_open_without_signing_in(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path / "home", port=0, auth=False),
                     start_scheduler=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/login", follow_redirects=False).headers["location"] == "/"
        page = client.get("/ws/default/jobs")
        assert page.status_code == 200 and "Sign out" not in page.text
