"""The studio's schedule pages (issue 15, item 8): the list with its Enabled/Disabled filter,
a schedule's overview and job history, enable / disable / trigger now, and a Reader who sees
no buttons and whom the API refuses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ember.client.convert import job_to_json
from ember.entities.jobs import Job
from tests.conftest import ServerProc
from tests.studio.conftest import Watched, assert_accessible, open_context

READER = "schedules-reader"
# far in the future: neither schedule fires on its own during the test
LATER = "2099-01-01T00:00:00"


def _owner(server: ServerProc) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


@pytest.fixture(scope="module")
def seeded(studio_server: ServerProc) -> dict[str, Any]:
    """A cron schedule (enabled) and a recurrence one (disabled), both starting in 2099."""
    body = job_to_json(Job(name="", command="echo scheduled", display_name="scheduled echo"))
    made = {
        "nightly": {"trigger": {"type": "cron", "expression": "0 3 * * 1", "start_time": LATER,
                                "time_zone": "Pacific Standard Time"},
                    "display_name": "Nightly echo", "description": "Echoes every Monday",
                    "tags": {"team": "ops"}, "create_job": body},
        "twice-daily": {"trigger": {"type": "recurrence", "frequency": "day", "interval": 2,
                                    "schedule": {"hours": [3, 15], "minutes": [30]},
                                    "start_time": LATER},
                        "create_job": body, "is_enabled": False},
    }
    for name, spec in made.items():
        answer = httpx.put(f"{studio_server.api()}/schedules/{name}", json=spec,
                           headers=_owner(studio_server), timeout=30)
        assert answer.status_code in (200, 201), answer.text
    return made


def _enabled(server: ServerProc, name: str) -> bool:
    got = httpx.get(f"{server.api()}/schedules/{name}", headers=_owner(server), timeout=30)
    return bool(got.json()["is_enabled"])


def test_the_list_shows_triggers_in_words_and_filters_by_state(
        studio: Watched, seeded: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/schedules")
    table = page.locator("#schedules")
    expect(table.get_by_role("link", name="nightly", exact=True)).to_be_visible()
    expect(table.get_by_role("link", name="twice-daily", exact=True)).to_be_visible()
    nightly = table.locator("tr", has=page.get_by_role("link", name="nightly", exact=True))
    expect(nightly).to_contain_text("cron 0 3 * * 1")
    expect(nightly).to_contain_text("Pacific Standard Time")
    expect(nightly).to_contain_text("Enabled")
    twice = table.locator("tr", has=page.get_by_role("link", name="twice-daily", exact=True))
    expect(twice).to_contain_text("every 2 days at 03:30, 15:30")
    expect(twice).to_contain_text("Disabled")
    expect(page.get_by_role("link", name="Schedules", exact=True)).to_have_attribute(
        "aria-current", "page")
    assert_accessible(page)
    studio.screenshot("schedules-list")
    page.get_by_label("Show").select_option("disabled")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/schedules?show=disabled")
    expect(table.get_by_role("link", name="twice-daily", exact=True)).to_be_visible()
    expect(table.get_by_role("link", name="nightly", exact=True)).to_have_count(0)
    studio.open("/ws/default/schedules?show=enabled")
    expect(table.get_by_role("link", name="nightly", exact=True)).to_be_visible()
    expect(table.get_by_role("link", name="twice-daily", exact=True)).to_have_count(0)


def test_a_schedule_is_disabled_enabled_with_the_keyboard_and_triggered(
        studio: Watched, studio_server: ServerProc, seeded: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/schedules")
    page.get_by_role("link", name="nightly", exact=True).click()
    page.wait_for_url("**/schedules/nightly")
    overview = page.locator("#overview")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nightly echo")
    expect(overview).to_contain_text("0 3 * * 1")
    expect(overview).to_contain_text(LATER)
    expect(overview).to_contain_text("team=ops")
    expect(overview).to_contain_text("Echoes every Monday")
    expect(page.get_by_label("Job definition")).to_contain_text("echo scheduled")
    expect(page.locator("#history")).to_contain_text("No job yet")
    expect(page.get_by_role("button", name="Enable")).to_be_hidden()
    assert_accessible(page)
    # disable with the mouse
    page.get_by_role("button", name="Disable").click()
    expect(page.locator("#state-badge")).to_have_text("Disabled")
    expect(page.get_by_role("button", name="Disable")).to_be_hidden()
    expect(page.get_by_role("button", name="Enable")).to_be_focused()
    assert _enabled(studio_server, "nightly") is False
    # enable with the keyboard: the focus is on Enable already
    page.keyboard.press("Enter")
    expect(page.locator("#state-badge")).to_have_text("Enabled")
    expect(page.get_by_role("button", name="Disable")).to_be_focused()
    assert _enabled(studio_server, "nightly") is True
    # trigger now: a job in the history, which the page shows after a reload too
    page.get_by_role("button", name="Trigger now").click()
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(1)
    link = history.first.get_by_role("link")
    expect(link).to_be_visible()
    job = link.text_content() or ""
    assert job and link.get_attribute("href") == f"/ws/default/jobs/{job}"
    fires = httpx.get(f"{studio_server.api()}/schedules/nightly/jobs",
                      headers=_owner(studio_server), timeout=30).json()
    assert [f["job_name"] for f in fires] == [job]
    studio.open("/ws/default/schedules/nightly")
    expect(page.locator("#history tbody tr").first.get_by_role("link", name=job)).to_be_visible()
    expect(page.locator("#history tbody tr").first.locator(".badge")).to_be_visible()
    studio.screenshot("schedules-detail")


def test_a_reader_sees_no_buttons_and_the_api_refuses(
        browser: Any, studio_server: ServerProc, seeded: dict[str, Any]) -> None:
    headers = _owner(studio_server)
    httpx.post(f"{studio_server.url}/api/v1/users", headers=headers, timeout=30,
               json={"name": READER, "password": "reader password 1"}).raise_for_status()
    httpx.post(f"{studio_server.api()}/roles", headers=headers, timeout=30,
               json={"user": READER, "role": "Reader"}).raise_for_status()
    token = httpx.post(f"{studio_server.url}/api/v1/tokens", auth=(READER, "reader password 1"),
                       json={"name": "t", "expires_in_days": 1}, timeout=30).json()["token"]
    context = open_context(browser, studio_server, token=token)
    watched = Watched(context.new_page(), studio_server.url)
    page = watched.page
    try:
        watched.open("/ws/default/schedules/nightly")
        expect(page.locator("#overview")).to_contain_text("0 3 * * 1")
        for name in ("Disable", "Enable", "Trigger now"):
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        assert_accessible(page)
        # the browser logs the refused request as a console error: that one is expected
        with page.expect_console_message(lambda m: m.type == "error"):
            status = page.evaluate("""async () => {
                try { await Ember.api('POST', Ember.ws('/schedules/nightly/disable'));
                      return 200; } catch (e) { return e.status; } }""")
        assert status == 403
        watched.errors.clear()
    finally:
        context.close()
    assert not watched.errors, "\n".join(watched.errors)
    assert _enabled(studio_server, "nightly") is True
