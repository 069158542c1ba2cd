"""The job page (``/ws/<ws>/jobs/<name>`` and its tabs) against a server filled once for the
module: the pipeline example (run twice: the second run reuses its steps), a small sweep of
the sweep example, a job that writes files and metrics, one that prints, waits for the test,
then prints more, and one that waits to be cancelled."""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ember.client.builders import command
from ember.specs.any_job import load_any_job_spec
from ember.client.mlclient import MLClient
from ember.entities.jobs import JobOutput
from tests.conftest import ServerProc, wait_ended, wait_for
from tests.studio.conftest import Watched, assert_accessible, open_context

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def _png(width: int = 64, height: int = 40) -> bytes:
    """A small RGB gradient as a PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (4 * x, 6 * y, 160))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = _png()
FILES_SCRIPT = """
import argparse, json, math, time
from pathlib import Path
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
import mlflow

p = argparse.ArgumentParser()
p.add_argument("--out")
a = p.parse_args()
out = Path(a.out)
(out / "notes.txt").write_text("first line of notes\\nsecond line\\n")
rows = "".join(f"{i},{1 / (i + 1):.4f}\\n" for i in range(80))
(out / "table.csv").write_text("epoch,loss\\n" + rows)
(out / "config.json").write_text(json.dumps({"lr": 0.01, "layers": [4, 8]}))
(out / "big.log").write_text(("line of a big log\\n") * 20000)
(out / "plot.png").write_bytes(bytes.fromhex("%s"))
run = mlflow.active_run() or mlflow.start_run()
client, now = MlflowClient(), int(time.time() * 1000)
for start in range(0, 3000, 1000):
    client.log_batch(run.info.run_id, metrics=[
        Metric("loss", 5.0 / (s + 1) + (3.0 if s == 1234 else 0.0), now + s, s)
        for s in range(start, start + 1000)] + [
        Metric("accuracy", 1 - 1.0 / (s + 2), now + s, s) for s in range(start, start + 1000)])
print("files written")
"""

WAITING_SCRIPT = """
import sys, time
from pathlib import Path
import mlflow
mlflow.log_metric("progress", 1.0, step=0)
print("before the release", flush=True)
release = Path(sys.argv[1])
while not release.exists():
    time.sleep(0.05)
mlflow.log_metric("progress", 2.0, step=1)
print("after the release", flush=True)
"""

VICTIM_SCRIPT = "import signal\nprint('waiting to be cancelled', flush=True)\nsignal.pause()\n"


def _user_token(server: ServerProc, role: str) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    httpx.post(f"{server.url}/api/v1/users", headers=server.headers,
               json={"name": name, "password": PASSWORD}, timeout=30).raise_for_status()
    httpx.post(f"{server.api()}/roles", headers=server.headers,
               json={"user": name, "role": role}, timeout=30).raise_for_status()
    made = httpx.post(f"{server.url}/api/v1/tokens", json={"name": "studio"},
                      auth=httpx.BasicAuth(name, PASSWORD), timeout=30)
    made.raise_for_status()
    return str(made.json()["token"])


class Data:
    def __init__(self, **jobs: str) -> None:
        self.__dict__.update(jobs)

    pipeline: str
    rerun: str
    sweep: str
    files: str
    waiting: str
    victim: str
    release: Path


@pytest.fixture(scope="module")
def data(studio_server: ServerProc, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Data]:
    tmp = tmp_path_factory.mktemp("job-page")
    tag = uuid.uuid4().hex[:6]
    src = tmp / "src"
    src.mkdir()
    (src / "files.py").write_text(FILES_SCRIPT % PNG.hex())
    (src / "waiting.py").write_text(WAITING_SCRIPT)
    (src / "victim.py").write_text(VICTIM_SCRIPT)
    release = tmp / "release"
    sweep_spec = tmp / "sweep.yml"
    sweep_spec.write_text((REPO / "examples/sweep/sweep.yml").read_text()
                          .replace("../pipeline/src", str(REPO / "examples/pipeline/src"))
                          .replace("./data", str(REPO / "examples/sweep/data"))
                          .replace("--epochs 400", "--epochs 60")
                          .replace("--seconds-per-report 0.5", "")
                          .replace("max_total_trials: 12", "max_total_trials: 3")
                          .replace("max_concurrent_trials: 4", "max_concurrent_trials: 3"))
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as client:
        def submit(job: Any) -> str:
            return str(client.jobs.create_or_update(job).name)
        waiting = submit(command(command=f"python waiting.py {release}", code=src,
                                 name=f"tail_{tag}", display_name="log tail"))
        victim = submit(command(command="python victim.py", code=src, name=f"victim_{tag}",
                                display_name="cancel me"))
        files = submit(command(command="python files.py --out ${{outputs.out}}", code=src,
                               outputs={"out": JobOutput()}, name=f"files_{tag}",
                               display_name="files and metrics", tags={"team": "studio"}))
        pipeline = submit(load_any_job_spec(REPO / "examples/pipeline/pipeline.yml",
                                   [f"name=pipe_{tag}", "inputs.epochs=60"]))
        sweep = submit(load_any_job_spec(sweep_spec, [f"name=sweep_{tag}"]))
        for name in (files, pipeline, sweep):
            assert wait_ended(client, name, timeout=180).status == "Completed", name
        rerun = submit(load_any_job_spec(REPO / "examples/pipeline/pipeline.yml",
                                [f"name=pipe2_{tag}", "inputs.epochs=60"]))
        assert wait_ended(client, rerun, timeout=120).status == "Completed"
        wait_for(lambda: client.jobs.get(waiting).status == "Running"
                 and client.jobs.get(victim).status == "Running", timeout=120)
        yield Data(pipeline=pipeline, rerun=rerun, sweep=sweep, files=files, waiting=waiting,
                   victim=victim, release=release)
        release.touch()
        for name in (waiting, victim):
            if client.jobs.get(name).status not in ("Completed", "Failed", "Canceled"):
                client.jobs.begin_cancel(name)


def _page(studio: Watched, path: str) -> Any:
    response = studio.open(path)
    assert response.status == 200, path
    return studio.page


def test_overview_shows_status_inputs_outputs_command_and_tags(
        studio: Watched, data: Data) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.files}")
    assert page.inner_text("h1") == "files and metrics"
    assert page.inner_text("#job-status") == "Completed"
    assert "Completed" in page.inner_text(".timeline")
    assert "python files.py" in page.inner_text("pre")
    assert "team" in page.inner_text("main")
    assert_accessible(page)
    studio.screenshot("job-overview")


def test_a_reused_step_names_its_source_and_lineage_links_to_the_producer(
        studio: Watched, data: Data) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.rerun}-train")
    source = page.locator(".reuse a")
    assert source.inner_text() == f"{data.pipeline}-train"
    studio.screenshot("job-overview-reused-step")
    # the data input was produced by the prep step, itself reused: a link to the job that ran
    page.get_by_role("link", name=f"produced by {data.pipeline}-prep").click()
    page.wait_for_url(f"**/ws/default/jobs/{data.pipeline}-prep")


def test_pipeline_graph_marks_reuse_and_a_click_opens_the_step(
        studio: Watched, data: Data) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.rerun}/graph")
    steps = page.locator("svg.step-graph a.step-link")
    assert steps.count() == 3
    assert page.locator("svg.step-graph .step-reused").count() == 3
    # prep→train, prep→score, train→score
    assert page.locator("svg.step-graph path.edge").count() == 3
    assert page.locator("svg.gantt rect.bar").count() == 3
    assert_accessible(page)
    studio.screenshot("job-graph-reused")
    # a step is a link the keyboard reaches too
    page.locator('svg.step-graph a[data-step="score"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ws/default/jobs/{data.rerun}-score")
    first = _page(studio, f"/ws/default/jobs/{data.pipeline}/graph")
    assert first.locator("svg.step-graph .step-reused").count() == 0
    studio.screenshot("job-graph")
    first.locator('svg.step-graph a[data-step="train"]').click()
    first.wait_for_url(f"**/ws/default/jobs/{data.pipeline}-train")
    assert first.inner_text(".crumbs").endswith(data.pipeline)


def test_children_tab_lists_the_steps_and_the_trials(studio: Watched, data: Data) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.sweep}/children")
    assert page.locator("table.grid tbody tr").count() == 3
    assert_accessible(page)
    page = _page(studio, f"/ws/default/jobs/{data.pipeline}/children")
    assert page.locator("table.grid tbody tr").count() == 3
    page.get_by_role("link", name=f"{data.pipeline}-score").click()
    page.wait_for_url(f"**/ws/default/jobs/{data.pipeline}-score")
    # a job without metrics says so on its Metrics tab
    assert "logged no metrics" in _page(studio, f"/ws/default/jobs/{data.pipeline}/metrics"
                                        ).inner_text("main")


def test_sweep_trials_table_chart_and_best_trial(studio: Watched, data: Data) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.sweep}/trials")
    rows = page.locator("#trials-table tbody tr")
    assert rows.count() == 3
    best = page.locator("#trials-table tbody tr.best")
    assert best.count() == 1 and "best" in best.inner_text()
    assert page.locator("#best-trial").inner_text().startswith("Best trial:")
    assert page.locator("svg.parcoords polyline.trial").count() == 3
    assert page.locator("svg.parcoords polyline.best").count() == 1
    assert_accessible(page)
    studio.screenshot("job-trials")


def test_metrics_are_downsampled_on_the_server_keeping_the_shape(
        studio_server: ServerProc, data: Data) -> None:
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as client:
        series = {s["key"]: s for s in client.jobs.metrics(data.files, max_points=100)}
    full = httpx.get(f"{studio_server.url}/workspaces/default/api/2.0/mlflow/metrics/get-history",
                     params={"run_id": data.files, "metric_key": "loss"},
                     headers=studio_server.headers, timeout=30).json()["metrics"]
    values = np.array([m["value"] for m in full])
    loss = series["loss"]
    assert sorted(series) == ["accuracy", "loss"] and loss["total"] == 3000
    assert len(loss["value"]) <= 100 and loss["step"][0] == 0 and loss["step"][-1] == 2999
    assert 1234 in loss["step"]          # the spike is kept
    buckets = 49
    edges = 1 + (np.arange(buckets + 1) * 2998) // buckets
    direct = [0]
    for a, b in zip(edges[:-1], edges[1:]):
        direct.extend(sorted({a + int(np.argmin(values[a:b])), a + int(np.argmax(values[a:b]))}))
    direct.append(2999)
    assert loss["step"] == direct and loss["value"] == [float(values[i]) for i in direct]


def test_metrics_tab_smoothing_log_scale_and_combined_chart(
        studio: Watched, data: Data) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.files}/metrics")
    page.wait_for_function(
        "() => document.querySelectorAll('#charts .js-plotly-plot').length === 2")
    assert "3,000 points" in page.inner_text("#sampling-note")
    assert_accessible(page)
    studio.screenshot("job-metrics")
    traces = "(id) => document.getElementById(id).data.length"
    assert page.evaluate(traces, "chart-1") == 1
    page.locator("#smoothing").fill("0.9")
    page.wait_for_function("() => document.getElementById('chart-1').data.length === 2")
    page.check("#log-y")
    page.wait_for_function("() => document.getElementById('chart-1').layout.yaxis.type === 'log'")
    page.select_option("#x-axis", "relative")
    page.check('input[name="combine"][value="loss"]')
    page.check('input[name="combine"][value="accuracy"]')
    page.wait_for_selector("#chart-combined")
    names = page.evaluate("document.getElementById('chart-combined').data"
                          ".filter(t => t.showlegend !== false).map(t => t.name)")
    assert sorted(names) == ["accuracy", "loss"]
    assert "smooth=0.9" in page.url and "log=1" in page.url and "x=relative" in page.url
    studio.screenshot("job-metrics-combined")
    # the address keeps the view: open it again
    page.reload()
    page.wait_for_selector("#chart-combined")
    assert page.is_checked("#log-y") and page.input_value("#x-axis") == "relative"


def test_file_viewers_and_download(studio: Watched, data: Data) -> None:
    base = f"/ws/default/jobs/{data.files}/outputs?output=out"
    page = _page(studio, base)
    assert page.locator(".file-list tbody tr").count() == 5
    page.get_by_role("link", name="notes.txt").click()
    page.wait_for_selector('#viewer[data-kind="text"]')
    assert "second line" in page.inner_text("#viewer pre")
    page.get_by_role("link", name="table.csv").click()
    page.wait_for_selector('#viewer[data-kind="csv"]')
    assert page.locator("#viewer table.csv tbody tr").count() == 50
    assert page.locator("#viewer th").first.inner_text() == "epoch"
    studio.screenshot("job-outputs-csv")
    page.get_by_role("link", name="config.json").click()
    page.wait_for_selector('#viewer[data-kind="json"]')
    assert '"layers": [\n    4,' in page.inner_text("#viewer pre")
    page.get_by_role("link", name="big.log").click()
    page.wait_for_selector("#truncated")
    page.get_by_role("link", name="plot.png").click()
    page.wait_for_selector('#viewer[data-kind="image"]')
    page.wait_for_function("() => document.querySelector('#viewer img').naturalWidth === 64")
    assert_accessible(page)
    studio.screenshot("job-outputs")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download plot.png").click()
    assert Path(download.value.path()).read_bytes() == PNG


def test_the_log_tail_and_the_charts_follow_a_running_job_to_its_end(
        studio: Watched, data: Data) -> None:
    charts = Watched(studio.page.context.new_page(), studio.base)
    _page(charts, f"/ws/default/jobs/{data.waiting}/metrics")
    points = "() => document.getElementById('chart-0').data[0].y.length"
    charts.page.wait_for_function(f"() => ({points})() === 1")
    page = _page(studio, f"/ws/default/jobs/{data.waiting}/outputs")
    page.wait_for_function(
        "() => document.getElementById('log').textContent.includes('before the release')")
    assert "after the release" not in page.inner_text("#log")
    data.release.touch()
    page.wait_for_function(
        "() => document.getElementById('log').textContent.includes('after the release')",
        timeout=60_000)
    page.wait_for_selector('#log[data-done="true"]', timeout=60_000)
    assert "Completed" in page.inner_text("#log-state")
    charts.page.wait_for_selector('#charts[data-followed="done"]', timeout=60_000)
    assert charts.page.evaluate(points) == 2
    assert "progress: 2 points" in charts.page.inner_text("#sampling-note")
    assert not charts.errors, charts.errors


def test_a_reader_sees_no_cancel_and_the_api_refuses_theirs(
        browser: Any, studio_server: ServerProc, data: Data) -> None:
    token = _user_token(studio_server, "Reader")
    context = open_context(browser, studio_server, token=token)
    watched = Watched(context.new_page(), studio_server.url)
    try:
        page = _page(watched, f"/ws/default/jobs/{data.victim}")
        assert page.inner_text("#job-status") == "Running"
        assert page.locator("#cancel-job").count() == 0
        answer = page.evaluate(
            "(name) => fetch(Ember.ws('/jobs/' + name + '/cancel'), {method: 'POST', headers: "
            "{'X-CSRF-Token': Ember.csrf()}}).then(r => r.status)", data.victim)
        assert answer == 403
        watched.errors.clear()   # the browser logs the refused request
    finally:
        context.close()


def test_cancel_a_running_job_from_the_page(studio: Watched, data: Data,
                                            studio_server: ServerProc) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.victim}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_selector("#cancel-job", state="detached")
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as client:
        assert wait_ended(client, data.victim).status == "Canceled"
    page.reload()
    assert page.inner_text("#job-status") == "Canceled"
    assert page.locator("#cancel-job").count() == 0


def test_tabs_by_keyboard_alone(studio: Watched, data: Data) -> None:
    page = _page(studio, f"/ws/default/jobs/{data.sweep}")
    tabs = page.locator("nav.tabs a")
    assert [t.strip() for t in tabs.all_inner_texts()] == [
        "Overview", "Metrics", "Outputs + logs", "Trials", "Child jobs"]
    page.locator("nav.tabs a").first.focus()
    for _ in range(3):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Trials"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ws/default/jobs/{data.sweep}/trials")
    assert page.locator('nav.tabs a[aria-current="page"]').inner_text() == "Trials"


def test_a_tab_a_job_does_not_have_is_a_404_page(studio: Watched, data: Data) -> None:
    response = studio.open(f"/ws/default/jobs/{data.files}/graph")
    assert response.status == 404
    studio.errors.clear()   # the browser logs the 404 of the page itself
    assert "no graph tab" in studio.page.inner_text("main")


def test_file_route_max_bytes_gives_the_head_of_a_file(studio_server: ServerProc,
                                                       data: Data) -> None:
    url = f"{studio_server.api()}/jobs/{data.files}/files/big.log"
    head = httpx.get(url, params={"output": "out", "max_bytes": 100},
                     headers=studio_server.headers, timeout=30)
    assert head.content == (b"line of a big log\n" * 6)[:100]
    whole = httpx.get(url, params={"output": "out"}, headers=studio_server.headers, timeout=30)
    assert len(whole.content) == 18 * 20000
    bad = httpx.get(url, params={"output": "out", "max_bytes": 0},
                    headers=studio_server.headers, timeout=30)
    assert bad.status_code == 400
    assert json.loads(bad.text)["message"]


def test_metrics_route_refuses_too_few_points_and_names_a_missing_job(
        studio_server: ServerProc, data: Data) -> None:
    few = httpx.get(f"{studio_server.api()}/jobs/{data.files}/metrics",
                    params={"max_points": 3}, headers=studio_server.headers, timeout=30)
    assert few.status_code == 400 and "max_points" in few.json()["message"]
    missing = httpx.get(f"{studio_server.api()}/jobs/no_such_job/metrics",
                        headers=studio_server.headers, timeout=30)
    assert missing.status_code == 404
    one = httpx.get(f"{studio_server.api()}/jobs/{data.files}/metrics",
                    params={"key": "accuracy"}, headers=studio_server.headers, timeout=30)
    assert [m["key"] for m in one.json()["metrics"]] == ["accuracy"]
