"""``GET /schedules/{name}/monitor-runs`` (``client.schedules.monitor_runs``) on the app in
process: a monitor on a model with data assets, triggered twice (no scheduler runs here, so its
jobs stay Queued and have written nothing yet), newest first, ``top``; an unknown schedule is a
404 and a schedule that is not a monitor a 400. The results of runs that ended are read on a
real server in ``tests/studio/test_monitors.py``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ember.client.convert import job_to_json
from ember.entities.data import DataAsset
from ember.entities.jobs import Job
from ember.entities.models import Model
from ember.entities.monitors import (
    MonitorDefinition,
    MonitoringSignal,
    MonitoringTarget,
    MonitorInputData,
)
from ember.entities.schedules import CronTrigger, JobSchedule, MonitorSchedule
from ember.errors import InvalidInputError, NotFoundError

LATER = "2099-01-01T00:00:00"
SECOND = dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC).timestamp()


def _assets(c: Any, tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("age\n" + "".join(f"{20 + i % 40}\n" for i in range(200)))
    (tmp_path / "prod.csv").write_text("age\n" + "".join(f"{60 + i % 40}\n" for i in range(200)))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.txt").write_text("age > 40\n")
    c.models.create_or_update(Model(name="m", path=str(tmp_path / "model")))
    for name in ("ref", "prod"):
        c.data.create_or_update(DataAsset(name=f"runs-{name}", version="1", type="uri_file",
                                          path=str(tmp_path / f"{name}.csv")))


def test_monitor_runs_newest_first_with_top_and_errors(app_client: Any, tmp_path: Path) -> None:
    c = app_client
    _assets(c, tmp_path)
    signal = MonitoringSignal(
        type="data_drift",
        production_data=MonitorInputData(path="azureml:runs-prod:1", type="uri_file"),
        reference_data=MonitorInputData(path="azureml:runs-ref:1", type="uri_file",
                                        data_context="training"))
    c.schedules.begin_create_or_update(MonitorSchedule(
        name="watch", trigger=CronTrigger(expression="0 3 * * *", start_time=LATER),
        create_monitor=MonitorDefinition(
            monitoring_target=MonitoringTarget(model_id="azureml:m:1"),
            monitoring_signals={"drift": signal}))).result()
    assert c.schedules.monitor_runs("watch") == []

    first = c.schedules.trigger("watch", schedule_time="2026-12-01T10:00:00Z")
    second = c.schedules.trigger("watch", schedule_time="2026-12-02T10:00:00Z")
    runs = c.schedules.monitor_runs("watch")
    assert [r["job_name"] for r in runs] == [second.name, first.name]
    assert runs[0] == {"job_name": second.name, "trigger_time": SECOND,
                       "status": "Queued", "missed": False, "error": None, "signals": None,
                       "alerts": None, "read_error": None}
    assert [r["job_name"] for r in c.schedules.monitor_runs("watch", top=1)] == [second.name]

    with pytest.raises(NotFoundError, match="nope"):
        c.schedules.monitor_runs("nope")
    c.schedules.begin_create_or_update(JobSchedule(
        name="plain", trigger=CronTrigger(expression="0 3 * * *", start_time=LATER),
        create_job=job_to_json(Job(name="", command="echo hi")))).result()
    with pytest.raises(InvalidInputError, match="schedule 'plain' is not a monitor"):
        c.schedules.monitor_runs("plain")
    with pytest.raises(InvalidInputError, match="top"):
        c.schedules.monitor_runs("watch", top=0)
