"""``ember studio``: the studio's address and a sign-in link that signs a browser in once, for
five minutes, without the token reaching the server's logs (it travels in the fragment)."""

from __future__ import annotations

import re
import time
import urllib.parse
from pathlib import Path

import httpx

from tests.cli.test_auth_cli import ember_as, ok_json
from tests.conftest import WorkspaceServer


def test_ember_studio_prints_a_sign_in_link_that_signs_in(server: WorkspaceServer,
                                                          tmp_path: Path) -> None:
    shown = ok_json(ember_as(server, server.home, "studio", "--no-browser",
                             "-w", server.workspace, "-o", "json"))
    page = f"/ws/{server.workspace}/jobs"
    assert shown["url"] == server.url + page and shown["user"] == "owner"
    link = urllib.parse.urlsplit(shown["sign_in_url"])
    assert link.path == "/login" and urllib.parse.parse_qs(link.query)["next"] == [page]
    token = urllib.parse.parse_qs(link.fragment)["token"][0]
    made = [t for t in httpx.get(f"{server.url}/api/v1/tokens", headers=server.headers,
                                 timeout=30).json() if t["name"] == "studio sign-in"]
    assert made and made[-1]["expires_at"] - time.time() <= 5 * 60 + 5
    # what the sign-in page's script does with the fragment
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        form = browser.get(f"/login?{link.query}").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        done = browser.post("/login", data={"csrf_token": csrf.group(1), "token": token,
                                            "next": page}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == page
        assert browser.get(page).status_code == 200


def test_ember_studio_with_auth_off_prints_the_address_only(tmp_path: Path) -> None:
    from tests.conftest import ServerProc
    proc = ServerProc(tmp_path / "home", extra=["--no-auth"]).start()
    try:
        shown = ok_json(ember_as(WorkspaceServer(proc, "default"), tmp_path / "cli",
                                 "studio", "--no-browser", "-o", "json"))
        assert shown == {"url": f"{proc.url}/ws/default/jobs", "sign_in_url": None,
                         "user": "anonymous"}
    finally:
        proc.stop()
