"""A model monitor on a real server: a deployment collects its traffic; traffic drawn from the
reference distribution breaches nothing; shifted traffic breaches drift, the run is marked
Failed with Azure's tag, an alert webhook reaches a receiver on loopback, an email reaches an
SMTP server on loopback, and the retraining job the alert names is started."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from aiosmtpd.controller import Controller

from ember.client.mlclient import MLClient
from ember.entities.data import DataAsset
from ember.entities.models import Model
from ember.entities.online_endpoints import OnlineEndpoint
from ember.errors import InvalidInputError, NotFoundError
from tests.conftest import ServerProc, wait_for
from tests.test_cli import ember

SCORE = """
import json

def init():
    pass

def run(raw):
    split = json.loads(raw)["input_data"]
    age = split["columns"].index("age")
    return [int(row[age] > 40) for row in split["data"]]
"""


class Hooks:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        handler = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                handler.got.append({"body": json.loads(body), "headers": dict(self.headers),
                                    "path": self.path})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts?token=s3cret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Mailbox, int]
        ) -> Iterator[ServerProc]:
    mp = pytest.MonkeyPatch()
    mp.setenv("EMBER_SMTP_HOST", "127.0.0.1")
    mp.setenv("EMBER_SMTP_PORT", str(smtp[1]))
    mp.setenv("EMBER_SMTP_FROM", "monitor@ember.test")
    home = tmp_path_factory.mktemp("monitor-home")
    server = ServerProc(home).start()
    mp.undo()
    mp.setenv("EMBER_HOME", str(home))
    yield server
    server.stop()
    mp.undo()


def reference(path: Path, rng: np.random.Generator, n: int = 2000) -> dict[str, np.ndarray]:
    age = rng.uniform(20, 60, n)
    age[0], age[1] = 20.0, 60.0
    region = rng.choice(["north", "south", "east", "west"], n)
    label = (age > 40).astype(int)
    path.write_text("age,region,label\n" + "".join(
        f"{a},{r},{y}\n" for a, r, y in zip(age, region, label)))
    return {"age": age, "region": region}


def send(srv: ServerProc, uri: str, key: str, rows: list[list[Any]]) -> None:
    with httpx.Client(timeout=30) as http:
        for row in rows:
            r = http.post(uri, json={"input_data": {"columns": ["age", "region"],
                                                     "data": [row]}},
                          headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text


def collected(srv: ServerProc) -> int:
    base = srv.home / "artifacts/workspaces/default/datastores/workspaceblobstore/" \
        "modelDataCollector/fraud/blue/response"
    return sum(len(f.read_text().splitlines()) for f in base.rglob("*.jsonl"))


def deploy(srv: ServerProc, tmp_path: Path, endpoint: str, deployment: str, score: str,
           collections: tuple[str, str]) -> None:
    """A scoring-script deployment of ``score`` collecting ``collections``, and the test's
    reference CSV registered as ``<endpoint>-reference:1``."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.txt").write_text("age > 40\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(score)
    (tmp_path / "dep.yml").write_text(
        f"name: {deployment}\nendpoint_name: {endpoint}\nmodel: azureml:{endpoint}-model:1\n"
        "code_configuration: {code: ./src, scoring_script: score.py}\ninstance_count: 1\n"
        "data_collector:\n  sampling_rate: 1.0\n  collections:\n"
        + "".join(f"    {c}: {{enabled: 'True'}}\n" for c in collections))
    with MLClient(endpoint=srv.url, workspace="default") as c:
        c.models.create_or_update(Model(name=f"{endpoint}-model",
                                        path=str(tmp_path / "model")))
        c.data.create_or_update(DataAsset(name=f"{endpoint}-reference", version="1",
                                          path=str(tmp_path / "reference.csv"),
                                          type="uri_file"))
        c.online_endpoints.create_or_update(OnlineEndpoint(name=endpoint))
    made = ember(srv, "online-deployment", "create", "-f", str(tmp_path / "dep.yml"),
                 "--all-traffic")
    assert made.returncode == 0, made.stderr


def test_monitor_detects_drift_alerts_and_starts_retraining(
        srv: ServerProc, smtp: tuple[Mailbox, int], tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    ref = reference(tmp_path / "reference.csv", rng)
    (tmp_path / "retrain.yml").write_text("command: echo retraining on fresh data\n"
                                          "experiment_name: retrain\n")
    hooks = Hooks()
    (tmp_path / "monitor.yml").write_text(f"""\
name: fraud-monitor
trigger: {{type: recurrence, frequency: day, interval: 1, schedule: {{hours: 3, minutes: 0}},
          start_time: "2099-01-01T00:00:00"}}
create_monitor:
  monitoring_target:
    ml_task: classification
    endpoint_deployment_id: azureml:fraud:blue
  monitoring_signals:
    drift:
      type: data_drift
      production_data:
        data_window: {{lookback_window_size: PT1H}}
      reference_data:
        input_data: {{path: "azureml:fraud-reference:1", type: uri_file}}
        data_column_names: {{target_column: label}}
      metric_thresholds:
        numerical: {{normalized_wasserstein_distance: 0.2}}
        categorical: {{jensen_shannon_distance: 0.1}}
    quality:
      type: data_quality
      production_data:
        data_window: {{lookback_window_size: PT1H}}
      reference_data:
        input_data: {{path: "azureml:fraud-reference:1", type: uri_file}}
        data_column_names: {{target_column: label}}
      alert_enabled: false
  alert_notification:
    emails: [oncall@example.com]
    webhooks: ["{hooks.url}"]
    actions:
      - action: create_job
        create_job: ./retrain.yml
        signals: [drift]
""")
    deploy(srv, tmp_path, "fraud", "blue", SCORE, ("request", "response"))
    created = ember(srv, "schedule", "create", "-f", str(tmp_path / "monitor.yml"),
                    "-o", "json")
    assert created.returncode == 0, created.stderr
    shown = json.loads(created.stdout)["create_monitor"]
    assert shown["monitoring_target"]["endpoint_deployment_id"] == "azureml:fraud:blue"
    # the webhook's token never leaves the server; sent back masked, it is kept
    assert shown["alert_notification"]["webhooks"] == [
        hooks.url.replace("token=s3cret", "token=******")]
    assert "s3cret" not in created.stdout
    with MLClient(endpoint=srv.url, workspace="default") as c:
        fetched = c.schedules.get("fraud-monitor")
        fetched.description = "watches fraud/blue"
        c.schedules.begin_create_or_update(fetched)
        assert fetched.create_monitor is not None
        fetched.create_monitor.alert_notification.webhooks = [
            "http://127.0.0.1:9/elsewhere?token=******"]
        with pytest.raises(InvalidInputError, match="does not have"):
            c.schedules.begin_create_or_update(fetched)

    with MLClient(endpoint=srv.url, workspace="default") as c:
        endpoint = c.online_endpoints.get("fraud")
        key = c.online_endpoints.get_keys("fraud").primary_key
        # 1. traffic drawn from the reference distribution: nothing breaches
        pick = rng.choice(len(ref["age"]), 300, replace=False)
        send(srv, endpoint.scoring_uri, key,
             [[float(ref["age"][i]), str(ref["region"][i])] for i in pick])
        wait_for(lambda: collected(srv) == 300, timeout=30)
        first_at = time.time() + 1
        wait_for(lambda: time.time() > first_at)
        calm = c.schedules.trigger("fraud-monitor", schedule_time=_at(first_at))
        calm = wait_ended(c, calm.name)
        assert calm.status == "Completed", calm.error
        assert calm.properties["ember.monitor"] == "fraud-monitor"
        # the schedule's maker submits its jobs
        maker = json.loads(created.stdout)["created_by"]
        assert maker and calm.submitter == maker
        result = json.loads(_output(srv, calm.name))
        assert result["breached"] == []
        assert result["signals"]["drift"]["rows"] == {"production": 300, "reference": 2000}
        logged = {m["key"]: m["value"][-1] for m in c.jobs.metrics(calm.name)}
        assert logged["drift.age.normalized_wasserstein_distance"] == pytest.approx(
            next(m["value"] for m in result["signals"]["drift"]["metrics"]
                 if m["feature"] == "age" and m["metric"] == "normalized_wasserstein_distance"))

        # 2. shifted traffic: drift breaches, the run fails with Azure's tag, alerts go out
        send(srv, endpoint.scoring_uri, key,
             [[float(a), str(r)] for a, r in zip(rng.uniform(55, 95, 300),
                                                  rng.choice(["north"], 300))])
        wait_for(lambda: collected(srv) == 600, timeout=30)
        second_at = time.time() + 1
        wait_for(lambda: time.time() > second_at)
        drifted = wait_ended(c, c.schedules.trigger("fraud-monitor",
                                                    schedule_time=_at(second_at)).name)
        assert drifted.status == "Failed"
        tags = _run_tags(srv, drifted.name)
        assert "violating metric thresholds: drift" in tags[
            "azureml_modelmonitor_threshold_breached"]
        assert "azureml_modelmonitor_threshold_breached" not in _run_tags(srv, calm.name)
        result = json.loads(_output(srv, drifted.name))
        assert result["breached"] == ["drift"]     # quality breached too, alert disabled
        assert result["signals"]["quality"]["breached"] is True
        assert result["signals"]["drift"]["rows"]["production"] == 600

        hook = wait_for(lambda: hooks.got, timeout=60)[0]
        assert hook["path"] == "/alerts?token=s3cret"
        assert hook["body"]["monitor"] == "fraud-monitor"
        assert hook["body"]["job"] == drifted.name
        assert hook["headers"]["Idempotency-Key"]
        breached = {m["feature"] for m in hook["body"]["signals"][0]["metrics"]}
        assert breached == {"age", "region"}
        mailbox = smtp[0]
        mail = wait_for(lambda: mailbox.messages, timeout=60)[0]
        assert mail.rcpt_tos == ["oncall@example.com"]
        assert "fraud-monitor" in email.message_from_bytes(mail.content)["Subject"]

        retrain = wait_for(lambda: [j for j in c.jobs.list()
                                    if j.properties.get("ember.monitorAlertOf")
                                    == drifted.name], timeout=60)[0]
        assert wait_ended(c, retrain.name).status == "Completed"
        assert retrain.submitter == maker
        alerts = wait_for(lambda: _output(srv, drifted.name, "alerts.json"), timeout=30)
        record = json.loads(alerts)
        assert record["jobs"] == [{"name": retrain.name, "error": None}]
        assert all(d["ok"] for d in record["deliveries"])
        assert "s3cret" not in alerts     # the webhook's query is never recorded
        # the calm run sent nothing
        assert len(hooks.got) == 1

        # A server that stopped before it sent a breached run's alerts sends them at
        # start-up, with the same Idempotency-Key; the retraining job is not started twice.
        alerts_file = srv.home / "artifacts/workspaces/default/datastores/" \
            f"workspaceblobstore/azureml/{drifted.name}/signals/alerts.json"
        alerts_file.unlink()
        srv.stop()
        srv.start()
        again = wait_for(lambda: len(hooks.got) == 2 and hooks.got[1], timeout=60)
        assert again["headers"]["Idempotency-Key"] == hook["headers"]["Idempotency-Key"]
        record = json.loads(wait_for(lambda: _output(srv, drifted.name, "alerts.json")))
        assert record["jobs"] == [{"name": retrain.name, "error": None}]
        assert len([j for j in c.jobs.list()
                    if j.properties.get("ember.monitorAlertOf") == drifted.name]) == 1

        # 3. Azure's out-of-box monitor (no signals listed): drift, prediction drift and
        # quality of the last window against the production data before it. A trigger five
        # minutes after the calm traffic ended: its window holds only the shifted traffic.
        from ember.entities.monitors import MonitorDefinition, MonitoringTarget
        from ember.entities.schedules import CronTrigger, MonitorSchedule, RecurrenceTrigger

        c.schedules.begin_create_or_update(MonitorSchedule(
            name="default-monitor", trigger=RecurrenceTrigger(
                frequency="minute", interval=5, start_time="2099-01-01T00:00:00"),
            create_monitor=MonitorDefinition(monitoring_target=MonitoringTarget(
                endpoint_deployment_id="azureml:fraud:blue"))))
        job = wait_ended(c, c.schedules.trigger("default-monitor",
                                                schedule_time=_at(first_at + 300)).name)
        result = json.loads(_output(srv, job.name))
        assert set(result["signals"]) == {"data-drift-signal", "prediction-drift-signal",
                                          "data-quality-signal"}
        assert result["signals"]["data-drift-signal"]["rows"] == {"production": 300,
                                                                  "reference": 300}
        assert result["breached"] == ["data-drift-signal", "prediction-drift-signal",
                                      "data-quality-signal"]
        assert job.status == "Failed"
        assert len(hooks.got) == 2    # that monitor notifies no one

        # 4. a monitor of a deployment that does not exist is refused at create, by the SDK
        with pytest.raises(NotFoundError, match="nope"):
            c.schedules.begin_create_or_update(MonitorSchedule(
                name="quiet-monitor", trigger=CronTrigger(expression="0 3 * * *"),
                create_monitor=MonitorDefinition(monitoring_target=MonitoringTarget(
                    endpoint_deployment_id="azureml:fraud:nope"))))


def _at(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


def wait_ended(c: MLClient, name: str) -> Any:
    from ember.entities.jobs import JobStatus

    return wait_for(lambda: (j := c.jobs.get(name)).status in JobStatus.TERMINAL and j,
                    timeout=180)


def _run_tags(srv: ServerProc, job: str) -> dict[str, str]:
    r = httpx.get(f"{srv.url}/workspaces/default/api/2.0/mlflow/runs/get",
                  params={"run_id": job}, headers=srv.headers)
    r.raise_for_status()
    return {t["key"]: t["value"] for t in r.json()["run"]["data"].get("tags", [])}


def _output(srv: ServerProc, job: str, file: str = "signals.json") -> str:
    path = srv.home / "artifacts/workspaces/default/datastores/workspaceblobstore/azureml" \
        / job / "signals" / file
    return path.read_text() if path.exists() else ""


STD_SIGNAL = """\
import argparse, csv, os, statistics

p = argparse.ArgumentParser()
p.add_argument("--production_data")
p.add_argument("--std_threshold", type=float)
p.add_argument("--signal_metrics")
a = p.parse_args()
ages = [float(r["age"]) for r in csv.DictReader(open(a.production_data))]
os.makedirs(a.signal_metrics, exist_ok=True)
with open(os.path.join(a.signal_metrics, "metrics.csv"), "w") as fh:
    fh.write("group,metric_name,metric_value,threshold_value\\n")
    fh.write(f"age,std_deviation,{statistics.pstdev(ages)},{a.std_threshold}\\n")
    fh.write(f"age,max_value,{max(ages)},70\\n")
"""


def test_a_custom_signal_runs_its_component_in_a_monitor_pipeline(
        srv: ServerProc, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    reference(tmp_path / "reference.csv", rng)
    shifted = rng.uniform(55, 95, 400)
    (tmp_path / "shifted.csv").write_text("age,region\n" + "".join(
        f"{a},north\n" for a in shifted))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "std.py").write_text(STD_SIGNAL)
    (tmp_path / "component.yml").write_text(
        "name: std_signal\nversion: '1'\ntype: command\ncode: ./src\n"
        "environment: {image: python:3.11-slim}\n"
        "command: python std.py --production_data ${{inputs.production_data}} "
        "--std_threshold ${{inputs.std_deviation_threshold}} "
        "--signal_metrics ${{outputs.signal_metrics}}\n"
        "inputs:\n  production_data: {type: uri_file}\n"
        "  std_deviation_threshold: {type: number}\n"
        "outputs:\n  signal_metrics: {type: uri_folder}\n")
    hooks = Hooks()
    (tmp_path / "monitor.yml").write_text(f"""\
name: custom-monitor
trigger: {{type: cron, expression: "0 3 * * *", start_time: "2099-01-01T00:00:00"}}
create_monitor:
  monitoring_target: {{ml_task: classification, model_id: "azureml:custom-model:1"}}
  monitoring_signals:
    spread:
      type: custom
      component_id: azureml:std_signal:1
      input_data:
        production_data:
          input_data: {{path: "azureml:custom-shifted:1", type: uri_file}}
          data_context: test
      inputs: {{std_deviation_threshold: 5}}
      metric_thresholds:
        - {{metric_name: std_deviation, threshold: 20}}
    drift:
      type: data_drift
      production_data:
        input_data: {{path: "azureml:custom-shifted:1", type: uri_file}}
      reference_data:
        input_data: {{path: "azureml:custom-reference:1", type: uri_file}}
        data_column_names: {{target_column: label}}
  alert_notification:
    webhooks: ["{hooks.url}"]
""")
    with MLClient(endpoint=srv.url, workspace="default") as c:
        for name, file in (("custom-reference", "reference.csv"),
                           ("custom-shifted", "shifted.csv")):
            c.data.create_or_update(DataAsset(name=name, version="1",
                                              path=str(tmp_path / file), type="uri_file"))
    assert ember(srv, "component", "create", "-f",
                 str(tmp_path / "component.yml")).returncode == 0
    made = ember(srv, "schedule", "create", "-f", str(tmp_path / "monitor.yml"), "-o", "json")
    assert made.returncode == 0, made.stderr
    shown = json.loads(made.stdout)["create_monitor"]["monitoring_signals"]["spread"]
    assert shown["component_id"] == "azureml:std_signal:1"
    with MLClient(endpoint=srv.url, workspace="default") as c:
        job = wait_ended(c, c.schedules.trigger("custom-monitor").name)
        assert job.type == "pipeline"
        assert job.status == "Failed"
        steps = {j.display_name: j for j in c.jobs.list(parent_job_name=job.name)}
        assert steps["spread"].status == "Completed"
        result = json.loads(_output(srv, job.name))
        assert result["breached"] == ["spread", "drift"]
        spread = {m["metric"]: m for m in result["signals"]["spread"]["metrics"]}
        assert spread["std_deviation"]["value"] == pytest.approx(float(np.std(shifted)))
        assert spread["std_deviation"]["threshold"] == 20      # the monitor's, not the row's
        assert spread["std_deviation"]["breached"] is False
        assert spread["max_value"]["threshold"] == 70 and spread["max_value"]["breached"]
        assert spread["max_value"]["feature"] == "age"
        hook = wait_for(lambda: hooks.got, timeout=60)[0]
        assert [s["name"] for s in hook["body"]["signals"]] == ["spread", "drift"]


COLLECTOR_SCORE = """
import json

import pandas as pd
from azureml.ai.monitoring import Collector


def init():
    global inputs, outputs
    inputs = Collector(name="model_inputs")
    outputs = Collector(name="model_outputs")


def run(raw):
    split = json.loads(raw)["input_data"]
    frame = pd.DataFrame(split["data"], columns=split["columns"])
    context = inputs.collect(frame)
    predictions = pd.DataFrame({"prediction": (frame["age"] > 40).astype(int)})
    outputs.collect(predictions, context)
    return predictions["prediction"].tolist()
"""


def test_a_scoring_script_logs_model_inputs_and_outputs_with_azures_collector(
        srv: ServerProc, tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    ref = reference(tmp_path / "reference.csv", rng)
    deploy(srv, tmp_path, "collect", "green", COLLECTOR_SCORE,
           ("model_inputs", "model_outputs"))
    base = srv.home / "artifacts/workspaces/default/datastores/workspaceblobstore/" \
        "modelDataCollector/collect/green"

    def lines(kind: str) -> list[dict[str, Any]]:
        return [json.loads(x) for f in sorted((base / kind).rglob("*.jsonl"))
                for x in f.read_text().splitlines()]

    with MLClient(endpoint=srv.url, workspace="default") as c:
        endpoint = c.online_endpoints.get("collect")
        key = c.online_endpoints.get_keys("collect").primary_key
        pick = rng.choice(len(ref["age"]), 120, replace=False)
        rows = [[float(ref["age"][i]), str(ref["region"][i])] for i in pick]
        with httpx.Client(timeout=30) as http:
            for i in range(0, 120, 40):   # three requests of 40 rows
                r = http.post(endpoint.scoring_uri,
                              json={"input_data": {"columns": ["age", "region"],
                                                   "data": rows[i:i + 40]}},
                              headers={"Authorization": f"Bearer {key}"})
                assert r.status_code == 200, r.text
        got_in, got_out = lines("model_inputs"), lines("model_outputs")
        assert len(got_in) == len(got_out) == 3   # written before run() returned
        assert [r["id"] for r in got_in] == [r["id"] for r in got_out]
        assert got_in[0]["data"][0] == {"age": rows[0][0], "region": rows[0][1]}
        assert c.data.get("collect-green-model_inputs").path.endswith("/collect/green/"
                                                                      "model_inputs")
        (tmp_path / "monitor.yml").write_text("""\
name: collect-monitor
trigger: {type: cron, expression: "0 3 * * *", start_time: "2099-01-01T00:00:00"}
create_monitor:
  monitoring_target: {ml_task: classification, endpoint_deployment_id: "azureml:collect:green"}
  monitoring_signals:
    drift:
      type: data_drift
      production_data: {data_window: {lookback_window_size: PT1H}}
      reference_data:
        input_data: {path: "azureml:collect-reference:1", type: uri_file}
        data_column_names: {target_column: label}
      metric_thresholds: {numerical: {normalized_wasserstein_distance: 0.3}}
    predictions:
      type: prediction_drift
      production_data: {data_window: {lookback_window_size: PT1H}}
      reference_data:
        input_data: {path: "azureml:collect-reference:1", type: uri_file}
        data_column_names: {target_column: label}
      metric_thresholds: {categorical: {jensen_shannon_distance: 0.3},
                          numerical: {normalized_wasserstein_distance: 0.3}}
""")
        created = ember(srv, "schedule", "create", "-f", str(tmp_path / "monitor.yml"))
        assert created.returncode == 0, created.stderr
        at = time.time() + 1
        wait_for(lambda: time.time() > at)
        job = wait_ended(c, c.schedules.trigger("collect-monitor", schedule_time=_at(at)).name)
        result = json.loads(_output(srv, job.name))
        assert result["signals"]["drift"]["rows"]["production"] == 120
        assert result["signals"]["predictions"]["rows"]["production"] == 120
        assert job.status == "Completed", (job.error, result["breached"])
