"""The job list (``/ws/<ws>/jobs``): filters, search, sort, paging, the column chooser, and
selecting jobs to compare; the compare page itself is in ``test_compare.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ServerProc
from tests.studio.conftest import Watched, assert_accessible

TERMINAL = ("Completed", "Failed", "Canceled")
# name: (experiment, command, tags, params, metric slope); every name starts with "jl-" so
# a search for it shows only this module's jobs on the shared server
JOBS: dict[str, tuple[str, str, dict[str, str], dict[str, str], float]] = {
    "jl-a1": ("jl-alpha", "echo a1", {"team": "vision"}, {"lr": "0.1", "epochs": "10"}, 1.0),
    "jl-a2": ("jl-alpha", "echo a2", {"team": "nlp"}, {"lr": "0.01", "epochs": "10"}, 0.5),
    "jl-b1": ("jl-beta", "exit 3", {}, {}, 0.0),
    "jl-b2": ("jl-beta", "sleep 300", {}, {}, 0.0),
    "jl-c1": ("jl-gamma", "echo c1", {}, {}, 0.0),
}


def submit_jobs(server: ServerProc) -> None:
    """The module's jobs, ended (Completed, Failed, Canceled), with MLflow params and metrics
    logged on their runs (a job's run id is its name); once per server (the compare tests use
    them too)."""
    headers = server.headers
    with httpx.Client(headers=headers, timeout=60) as http:
        for name, (experiment, command, tags, params, slope) in JOBS.items():
            if http.get(f"{server.api()}/jobs/{name}").status_code == 200:
                continue
            body: dict[str, Any] = {"name": name, "command": command,
                                    "experiment_name": experiment, "tags": tags}
            if name == "jl-c1":
                body.update(display_name="Needle in a haystack",
                            description="the one with the findable description")
            r = http.post(f"{server.api()}/jobs", json=body)
            assert r.status_code == 201, r.text
            if params or slope:
                now = int(time.time() * 1000)
                metrics = [{"key": key, "value": value, "timestamp": now + step, "step": step}
                           for step in range(30)
                           for key, value in (("loss", 5.0 / (1 + slope * step)),
                                              ("accuracy", min(1.0, 0.5 + slope * step / 60)))]
                r = http.post(f"{server.url}/workspaces/default/api/2.0/mlflow/runs/log-batch",
                              json={"run_id": name, "metrics": metrics,
                                    "params": [{"key": k, "value": v}
                                               for k, v in params.items()]})
                assert r.status_code == 200, r.text
        deadline = time.monotonic() + 120
        pending = set(JOBS)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                status = http.get(f"{server.api()}/jobs/{name}").json()["status"]
                if name == "jl-b2" and status == "Running":
                    http.post(f"{server.api()}/jobs/{name}/cancel").raise_for_status()
                if status in TERMINAL:
                    pending.discard(name)
            time.sleep(0.2)   # polling a condition (the jobs' end), not ordering events
        assert not pending, f"jobs still going: {pending}"


@pytest.fixture(scope="module")
def jobs(studio_server: ServerProc) -> Iterator[None]:
    submit_jobs(studio_server)
    yield


def names(page: Any) -> list[str]:
    return page.locator("#jobs tbody td[data-col=name] a").all_inner_texts()


def test_filter_by_status_and_experiment_then_search(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open("/ws/default/jobs?q=jl-")
    assert names(page) == ["jl-c1", "jl-b2", "jl-b1", "jl-a2", "jl-a1"]
    assert_accessible(page)
    studio.screenshot("jobs-list")
    expect(page.locator("tr:has(a:text-is('jl-b1')) .badge")).to_have_text("Failed")
    page.get_by_label("Completed", exact=True).check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**status=Completed**")
    assert names(page) == ["jl-c1", "jl-a2", "jl-a1"]
    page.select_option("#experiment", "jl-alpha")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**experiment=jl-alpha**")
    assert names(page) == ["jl-a2", "jl-a1"]
    # the URL is the state: opened afresh, it shows the same
    studio.open("/ws/default/jobs?q=jl-&status=Failed&status=Canceled")
    assert names(page) == ["jl-b2", "jl-b1"]
    expect(page.get_by_label("Failed", exact=True)).to_be_checked()
    studio.open("/ws/default/jobs?q=findable")   # the description
    assert names(page) == ["jl-c1"]
    studio.open("/ws/default/jobs?q=jl-&tag=team%3Dnlp")
    assert names(page) == ["jl-a2"]
    studio.open("/ws/default/jobs?q=jl-&submitter=owner&after=2000-01-01")
    assert len(names(page)) == 5
    link = page.get_by_role("link", name="jl-a2")
    assert link.get_attribute("href") == "/ws/default/jobs/jl-a2"


def test_sort_by_a_column_and_page_forward_and_back(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open("/ws/default/jobs?q=jl-")
    page.get_by_role("link", name="Name", exact=True).click()
    page.wait_for_url("**sort=name**")
    assert names(page) == ["jl-a1", "jl-a2", "jl-b1", "jl-b2", "jl-c1"]
    expect(page.locator("th[data-col=name]")).to_have_attribute("aria-sort", "ascending")
    page.get_by_role("link", name="Name", exact=True).click()   # again: the other way
    page.wait_for_url("**dir=desc**")
    assert names(page) == ["jl-c1", "jl-b2", "jl-b1", "jl-a2", "jl-a1"]
    studio.open("/ws/default/jobs?q=jl-&sort=name&dir=asc&size=2")
    expect(page.locator("#count")).to_have_text("Jobs 1–2 of 5")
    assert names(page) == ["jl-a1", "jl-a2"]
    page.get_by_role("link", name="Next ›").click()
    page.wait_for_url("**page=2**")
    assert names(page) == ["jl-b1", "jl-b2"]
    page.get_by_role("link", name="Last page").click()
    page.wait_for_url("**page=3**")
    assert names(page) == ["jl-c1"]
    page.get_by_role("link", name="‹ Previous").click()
    page.wait_for_url("**page=2**")
    assert names(page) == ["jl-b1", "jl-b2"]
    page.get_by_role("link", name="‹ Previous").click()
    expect(page.locator("#count")).to_have_text("Jobs 1–2 of 5")
    assert "page=" not in page.url


def test_the_filter_form_works_with_the_keyboard_alone(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open("/ws/default/jobs")
    page.focus("#q")
    page.keyboard.type("jl-")
    # Tab through the status boxes (in the order shown) to "Failed", Space ticks it
    for _ in range(8):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.value") == "Failed"
    page.keyboard.press("Space")
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**status=Failed**")
    assert names(page) == ["jl-b1"]


def test_the_column_choice_persists_across_reloads(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open("/ws/default/jobs?q=jl-")
    expect(page.locator("th[data-col=type]")).to_be_visible()
    expect(page.locator("th[data-col=tags]")).to_be_hidden()
    page.locator("#columns summary").click()
    page.locator("#columns").get_by_label("Type").uncheck()
    page.locator("#columns").get_by_label("Tags").check()
    expect(page.locator("th[data-col=type]")).to_be_hidden()
    assert "cols=" in page.url   # the URL carries the choice too
    assert_accessible(page)
    studio.screenshot("jobs-list-columns")
    studio.open("/ws/default/jobs?q=jl-")            # no cols: the browser's saved choice
    expect(page.locator("th[data-col=type]")).to_be_hidden()
    expect(page.locator("th[data-col=tags]")).to_be_visible()
    expect(page.locator("tr:has(a:text-is('jl-a1')) td[data-col=tags]")).to_have_text(
        "team=vision")
    page.reload()
    expect(page.locator("th[data-col=type]")).to_be_hidden()
    studio.open("/ws/default/jobs?q=jl-&cols=status,type")   # a shared link's columns win
    expect(page.locator("th[data-col=type]")).to_be_visible()
    expect(page.locator("th[data-col=created]")).to_be_hidden()


def test_select_two_jobs_and_compare(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open("/ws/default/jobs?q=jl-a")
    compare = page.locator("#compare")
    expect(compare).to_be_disabled()
    page.get_by_label("Select jl-a1").check()
    expect(compare).to_be_disabled()
    page.get_by_label("Select jl-a2").check()
    expect(compare).to_be_enabled()
    compare.click()
    page.wait_for_url("**/ws/default/compare?jobs=jl-a2,jl-a1")
    expect(page.locator(".compare-charts .js-plotly-plot")).to_have_count(2)


def test_a_filter_the_api_refuses_is_said_on_the_page(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open('/ws/default/jobs?q=jl-&tag=%22odd')
    expect(page.get_by_role("alert")).to_contain_text("tag filter")
    expect(page.locator("#tag")).to_have_value('"odd')
    assert names(page) == []


def test_child_jobs_are_shown_only_when_asked(studio: Watched,
                                              studio_server: ServerProc) -> None:
    with httpx.Client(headers=studio_server.headers, timeout=60) as http:
        r = http.post(f"{studio_server.api()}/jobs", json={
            "type": "pipeline", "name": "pipe-jl", "experiment_name": "pipe-jl",
            "jobs": {"step": {"name": "step", "kind": "command",
                              "job": {"name": "step", "command": "echo step"}}}})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not http.get(
                f"{studio_server.api()}/jobs", params={"parent_job_name": "pipe-jl"}).json():
            time.sleep(0.2)   # polling a condition: the orchestrator records the step
    page = studio.page
    studio.open("/ws/default/jobs?q=pipe-jl")
    assert names(page) == ["pipe-jl"]
    page.get_by_label("Include child jobs").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**children=1**")
    assert sorted(names(page)) == ["pipe-jl", "pipe-jl-step"]
    page.locator("#columns summary").click()
    page.locator("#columns").get_by_label("Parent job").check()
    expect(page.locator("tr:has(a:text-is('pipe-jl-step')) td[data-col=parent]")).to_have_text(
        "pipe-jl")
