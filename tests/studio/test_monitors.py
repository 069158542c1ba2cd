"""The studio's monitoring pages (issue 16): monitors of a model (no deployment: their
production data is a data asset, ``@latest``, given a new version before each trigger), run on
the real server; the list shows each one's last run, a monitor's page its signals, the trend of
a metric over the runs, a feature's histograms, the runs and their alerts; the charted view is
chosen with the keyboard; a Reader sees no buttons."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import expect

from ember.client.mlclient import MLClient
from ember.entities.data import DataAsset
from ember.entities.jobs import JobStatus
from ember.entities.models import Model
from tests.conftest import ServerProc, wait_for
from tests.studio.conftest import Watched, assert_accessible, open_context

READER = "monitors-reader"
LATER = "2099-01-01T00:00:00"
TRIGGERS = ["2026-12-01T10:00:00Z", "2026-12-02T10:00:00Z", "2026-12-03T10:00:00Z"]
# production data of each trigger: the reference's distribution, then more and more shifted
AGES = [(20, 60), (28, 68), (55, 95)]
REGIONS = [["north", "south", "east", "west"]] * 2 + [["north", "north", "north", "south"]]


class Hooks:
    """Alert webhooks on loopback: ``/ok`` takes them, ``/bad`` answers 400 (not retried)."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hooks.got.append(json.loads(body))
                self.send_response(204 if self.path.startswith("/ok") else 400)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _csv(path: Path, rng: np.random.Generator, ages: tuple[int, int], regions: list[str],
         n: int) -> Path:
    age = rng.uniform(*ages, n)
    region = rng.choice(regions, n)
    path.write_text("age,region\n" + "".join(f"{a:.2f},{r}\n" for a, r in zip(age, region)))
    return path


def _signal(kind: str, production: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, **extra,
            "production_data": {"input_data": {"path": production, "type": "uri_file"}},
            "reference_data": {"input_data": {"path": "azureml:mon-ref:1", "type": "uri_file"},
                               "data_context": "training"}}


def _monitor(production: str, **alert: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "monitoring_target": {"ml_task": "classification", "model_id": "azureml:mon-model:1"},
        "monitoring_signals": {
            "drift": _signal("data_drift", production, metric_thresholds={
                "numerical": {"normalized_wasserstein_distance": 0.2},
                "categorical": {"jensen_shannon_distance": 0.1}}),
            "quality": _signal("data_quality", production, alert_enabled=False)}}
    if alert:
        definition["alert_notification"] = alert
    return definition


def _ended(c: MLClient, name: str) -> Any:
    return wait_for(lambda: (j := c.jobs.get(name)).status in JobStatus.TERMINAL and j,
                    timeout=180)


@pytest.fixture(scope="module")
def monitored(studio_server: ServerProc, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, Any]]:
    """``churn-monitor``: three runs on ever more shifted data (the last breaches drift and
    alerts two webhooks, one refusing, and starts a retraining job); ``calm-monitor``
    (disabled): one run on the reference's distribution."""
    tmp = tmp_path_factory.mktemp("monitors")
    rng = np.random.default_rng(11)
    hooks = Hooks()
    headers = {"Authorization": f"Bearer {studio_server.token}"}
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as c:
        (tmp / "model").mkdir()
        (tmp / "model" / "model.txt").write_text("age > 40\n")
        c.models.create_or_update(Model(name="mon-model", path=str(tmp / "model")))
        ref = _csv(tmp / "ref.csv", rng, (20, 60), REGIONS[0], 2000)
        c.data.create_or_update(DataAsset(name="mon-ref", version="1", type="uri_file",
                                          path=str(ref)))
        made = {
            "churn-monitor": {
                "trigger": {"type": "recurrence", "frequency": "day", "interval": 1,
                            "schedule": {"hours": [3], "minutes": [0]}, "start_time": LATER},
                "display_name": "Churn model drift",
                "create_monitor": _monitor(
                    "azureml:mon-prod@latest",
                    webhooks=[f"{hooks.base}/ok?token=s3cret",
                              f"http://user:pw@127.0.0.1:{hooks.server.server_address[1]}/bad"],
                    actions=[{"action": "create_job", "signals": ["drift"],
                              "create_job": {"command": "echo retraining",
                                             "experiment_name": "retrain"}}])},
            "calm-monitor": {
                "trigger": {"type": "cron", "expression": "0 3 * * 1", "start_time": LATER},
                "is_enabled": False, "create_monitor": _monitor("azureml:mon-prod:1")},
            "broken-monitor": {
                "trigger": {"type": "cron", "expression": "0 3 * * 1", "start_time": LATER},
                "create_monitor": {
                    "monitoring_target": {"model_id": "azureml:mon-model:1"},
                    "monitoring_signals": {"salary-drift": _signal(
                        "data_drift", "azureml:mon-prod:1", features=["salary"])}}},
            "plain-echo": {
                "trigger": {"type": "cron", "expression": "0 3 * * 1", "start_time": LATER},
                "create_job": {"command": "echo hi"}},
        }
        jobs = []
        for i, (ages, regions) in enumerate(zip(AGES, REGIONS)):
            prod = _csv(tmp / f"prod{i}.csv", rng, ages, regions, 400)
            c.data.create_or_update(DataAsset(name="mon-prod", version=str(i + 1),
                                              type="uri_file", path=str(prod)))
            if i == 0:
                for name, spec in made.items():
                    put = httpx.put(f"{studio_server.api()}/schedules/{name}", json=spec,
                                    headers=headers, timeout=30)
                    assert put.status_code in (200, 201), put.text
                for name in ("calm-monitor", "broken-monitor"):
                    jobs.append(c.schedules.trigger(name, schedule_time=TRIGGERS[0]).name)
            jobs.append(c.schedules.trigger("churn-monitor", schedule_time=TRIGGERS[i]).name)
        ended = {name: _ended(c, name).status for name in jobs}
        runs = c.schedules.monitor_runs("churn-monitor")
        latest = runs[0]
        alerts = wait_for(lambda: c.schedules.monitor_runs("churn-monitor", top=1)[0]["alerts"],
                          timeout=60)
        retrain = alerts["jobs"][0]["name"]
        yield {"jobs": jobs, "ended": ended, "runs": runs, "latest": latest, "alerts": alerts,
               "retrain": retrain, "hooks": hooks}
        hooks.server.shutdown()


def test_the_runs_are_read_through_the_sdk(monitored: dict[str, Any]) -> None:
    runs = monitored["runs"]
    assert [r["job_name"] for r in runs] == [
        "churn-monitor-20261203T100000Z", "churn-monitor-20261202T100000Z",
        "churn-monitor-20261201T100000Z"]
    latest = monitored["latest"]
    assert latest["status"] == "Failed"          # a breach fails the run, as on Azure
    assert latest["signals"]["breached"] == ["drift"]
    assert set(latest["signals"]["signals"]["drift"]["breached_features"]) == {"age", "region"}
    assert runs[-1]["status"] == "Completed" and runs[-1]["signals"]["breached"] == []
    assert monitored["ended"]["calm-monitor-20261201T100000Z"] == "Completed"
    alerts = monitored["alerts"]
    assert [d["ok"] for d in alerts["deliveries"]] == [True, False]
    assert "s3cret" not in json.dumps(alerts)


def test_the_list_shows_each_monitor_and_its_last_run(
        studio: Watched, monitored: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/monitors")
    table = page.locator("#monitors")
    churn = table.locator("tr", has=page.get_by_role("link", name="churn-monitor", exact=True))
    expect(churn).to_contain_text("Breached")
    expect(churn).to_contain_text("mon-model:1")
    expect(churn).to_contain_text("2: drift, quality")
    expect(churn).to_contain_text("2026-12-03 10:00:00 UTC")
    expect(churn).to_contain_text("Enabled")
    calm = table.locator("tr", has=page.get_by_role("link", name="calm-monitor", exact=True))
    expect(calm).to_contain_text("OK")
    expect(calm).to_contain_text("Disabled")
    broken = table.locator("tr", has=page.get_by_role("link", name="broken-monitor"))
    expect(broken).to_contain_text("Failed to compute")
    expect(table).not_to_contain_text("plain-echo")
    expect(page.get_by_role("link", name="Monitoring", exact=True)).to_have_attribute(
        "aria-current", "page")
    assert_accessible(page)
    studio.screenshot("monitors-list")
    # the schedules list and a monitor's schedule page link here
    studio.open("/ws/default/schedules")
    page.get_by_role("link", name="Monitoring of churn-monitor").click()
    page.wait_for_url("**/monitors/churn-monitor")
    studio.open("/ws/default/schedules/churn-monitor")
    expect(page.get_by_label("Monitor definition")).to_contain_text("mon-model")
    page.locator("#monitor-link").get_by_role("link").click()
    page.wait_for_url("**/monitors/churn-monitor")
    # a signal that could not be computed says why, and there is nothing to chart
    studio.open("/ws/default/monitors/broken-monitor")
    expect(page.locator("#signals")).to_contain_text("Failed to compute")
    expect(page.locator("#signals")).to_contain_text("salary")
    expect(page.locator("#no-trend")).to_be_visible()
    expect(page.locator("#history tbody tr").first).to_contain_text("Failed to compute")
    assert_accessible(page)
    studio.screenshot("monitor-broken")
    # the browser logs the 404 and the 400 as console errors: those are expected
    with page.expect_console_message(lambda m: m.type == "error"):
        assert studio.open("/ws/default/monitors/plain-echo").status == 400
    expect(page.locator("main")).to_contain_text("is not a monitor")
    # the browser logs the 404 as a console error: that one is expected
    with page.expect_console_message(lambda m: m.type == "error"):
        assert studio.open("/ws/default/monitors/nope").status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    studio.errors.clear()


def test_a_monitor_shows_its_signals_trend_histograms_and_alerts(
        studio: Watched, monitored: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/monitors/churn-monitor")
    expect(page.get_by_role("heading", level=1)).to_have_text("Churn model drift")
    overview = page.locator("#overview")
    expect(overview).to_contain_text("mon-model:1")
    expect(overview).to_contain_text("every day at 03:00")
    expect(page.locator("#alert-webhooks")).to_contain_text("/ok (query hidden)")
    expect(page.locator("#alert-webhooks")).not_to_contain_text("s3cret")
    expect(page.locator("#alert-webhooks")).not_to_contain_text("user:pw")
    expect(page.locator("#alert-webhooks")).to_contain_text("/bad (user hidden)")
    expect(page.locator("#alert-actions")).to_contain_text("when drift breaches")
    signals = page.locator("#signals tbody tr")
    expect(signals).to_have_count(2)
    drift = page.locator("#signals tr", has=page.get_by_role("link", name="drift", exact=True))
    expect(drift).to_contain_text("Breached")
    expect(drift).to_contain_text("age, region")
    expect(drift).to_contain_text("0.2")       # its worst numerical metric's threshold
    quality = page.locator("#signals tr", has=page.get_by_role("link", name="quality"))
    expect(quality).to_contain_text("data_quality")
    # the trend of the worst metric: three runs, the threshold, drawn by plotly
    expect(page.locator("#trend-chart .main-svg").first).to_be_visible()
    expect(page.locator("#trend-chart .scatterlayer .trace")).to_have_count(3)
    expect(page.locator("#trend-values tbody tr")).to_have_count(3)
    expect(page.locator("#histogram-chart .main-svg").first).to_be_visible()
    expect(page.locator("#histogram-chart .barlayer .trace")).to_have_count(2)
    # the runs: the last one alerted (one webhook refused) and started the retraining job
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("1 of 2 delivered")
    expect(rows.first).to_contain_text("400")
    retrain = rows.first.get_by_role("link", name=monitored["retrain"], exact=True)
    expect(retrain).to_have_attribute("href", f"/ws/default/jobs/{monitored['retrain']}")
    expect(rows.first.get_by_role("link", name=monitored["latest"]["job_name"], exact=True)
           ).to_have_attribute("href", f"/ws/default/jobs/{monitored['latest']['job_name']}")
    expect(rows.last).to_contain_text("OK")
    assert_accessible(page)
    studio.screenshot("monitor-detail")

    # keyboard only: another feature, and the view is in the address
    page.get_by_label("Feature").focus()
    page.keyboard.press("Home")
    page.keyboard.type("region")
    page.keyboard.press("Tab")      # the run
    page.keyboard.press("Tab")      # Show
    expect(page.get_by_role("button", name="Show")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**feature=region**")
    expect(page.get_by_label("Feature")).to_have_value("region")
    expect(page.locator("figcaption").last).to_contain_text("region (categorical)")
    expect(page.locator("#histogram-chart .barlayer .trace")).to_have_count(2)
    expect(page.locator("#trend-chart .scatterlayer .trace")).to_have_count(3)
    assert_accessible(page)
    studio.screenshot("monitor-detail-region")

    # a shared address: the first run's histograms of age
    first = monitored["runs"][-1]["job_name"]
    studio.open(f"/ws/default/monitors/churn-monitor?run={first}&signal=drift&feature=age"
                "&metric=normalized_wasserstein_distance")
    expect(page.get_by_label("Run (histograms)")).to_have_value(first)
    expect(page.locator("figcaption").last).to_contain_text("2026-12-01 10:00:00 UTC")
    expect(page.locator("#trend-values tbody tr").first).to_contain_text(first)
    expect(page.locator("#histogram-chart .barlayer .trace")).to_have_count(2)
    studio.screenshot("monitor-detail-first-run")


def test_a_reader_sees_no_buttons(browser: Any, studio_server: ServerProc,
                                  monitored: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {studio_server.token}"}
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
        watched.open("/ws/default/monitors/churn-monitor")
        expect(page.locator("#signals")).to_contain_text("Breached")
        expect(page.locator("#trend-chart .main-svg").first).to_be_visible()
        for name in ("Disable", "Enable", "Trigger now"):
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        assert_accessible(page)
        watched.open("/ws/default/monitors")
        expect(page.locator("#monitors")).to_contain_text("churn-monitor")
    finally:
        context.close()
    assert not watched.errors, "\n".join(watched.errors)


def test_trigger_now_and_disable_from_the_monitor_page(
        studio: Watched, studio_server: ServerProc, monitored: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/monitors/churn-monitor")
    page.get_by_role("button", name="Disable").click()
    expect(page.locator("#state-badge")).to_have_text("Disabled")
    expect(page.get_by_role("button", name="Enable")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#state-badge")).to_have_text("Enabled")
    page.get_by_role("button", name="Trigger now").click()
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(4)
    job = rows.first.get_by_role("link").text_content() or ""
    assert job.startswith("churn-monitor-")
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as c:
        assert c.schedules.monitor_runs("churn-monitor", top=1)[0]["job_name"] == job
        _ended(c, job)
    studio.open("/ws/default/monitors/churn-monitor")
    expect(page.locator("#history tbody tr").first).to_contain_text("Breached")
