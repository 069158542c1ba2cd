"""TrackingService as the job engine uses it, and MLflow's input rules, on real SQLite."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.artifacts.store import ArtifactStore
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from ember.store.sql.store import SqlStore
from ember.entities.tracking import RUN_NAME_TAG, Metric, RunStatus
from ember.tracking.service import TrackingService


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TrackingService]:
    sql = SqlStore(f"sqlite:///{tmp_path / 'ember.db'}")
    for name in ("default", "team"):
        sql.workspaces.create(Workspace(name=name, creation_time=time.time()))
    yield TrackingService(sql.tracking, ArtifactStore(str(tmp_path / "artifacts")))
    sql.close()


def test_job_engine_calls(service: TrackingService) -> None:
    exp = service.ensure_experiment("team", "nightly")
    assert service.ensure_experiment("team", "nightly") == exp
    service.create_job_run("team", run_id="calm_otter_7x2k", experiment_id=exp,
                           run_name="train", start_time_ms=1234,
                           tags={"ember.job_type": "command"})
    run = service.get_run("team", "calm_otter_7x2k")
    assert run.info.status == RunStatus.SCHEDULED and run.info.start_time == 1234
    assert run.tags == {"ember.job_type": "command", RUN_NAME_TAG: "train"}
    with pytest.raises(AlreadyExistsError):
        service.create_job_run("team", run_id="calm_otter_7x2k", experiment_id=exp,
                               run_name="again", start_time_ms=1, tags={})
    service.set_run_status("calm_otter_7x2k", RunStatus.RUNNING)
    service.set_run_status("calm_otter_7x2k", RunStatus.FINISHED, end_time_ms=5678)
    info = service.get_run("team", "calm_otter_7x2k").info
    assert (info.status, info.end_time) == (RunStatus.FINISHED, 5678)
    with pytest.raises(InvalidInputError):
        service.set_run_status("calm_otter_7x2k", "Completed")
    assert service.run_artifact_prefix("team", "calm_otter_7x2k") == \
        f"workspaces/team/mlartifacts/{exp}/calm_otter_7x2k/artifacts"
    with pytest.raises(NotFoundError):
        service.run_artifact_prefix("default", "calm_otter_7x2k")


def test_experiment_zero_is_each_workspace_default(service: TrackingService) -> None:
    a = service.create_run("default", experiment_id="0").info.experiment_id
    b = service.create_run("team", experiment_id="0").info.experiment_id
    assert a != b
    assert service.get_experiment("team", "0").name == "Default"
    with pytest.raises(InvalidInputError):
        service.get_experiment("team", "abc")


def test_runs_get_hex_ids_and_names(service: TrackingService) -> None:
    run = service.create_run("default", experiment_id="0", tags=[(RUN_NAME_TAG, "tagged")])
    assert len(run.info.run_id) == 32 and int(run.info.run_id, 16) >= 0
    assert run.info.run_name == "tagged"
    assert run.info.artifact_uri.endswith(f"/{run.info.run_id}/artifacts")
    assert service.create_run("default", experiment_id="0").info.run_name


def test_batch_limits_keys_and_truncation(service: TrackingService) -> None:
    rid = service.create_run("default", experiment_id="0").info.run_id
    with pytest.raises(InvalidInputError, match="at most 1000 metrics"):
        service.log_batch("default", rid, [Metric("m", 1.0, 1, i) for i in range(1001)])
    with pytest.raises(InvalidInputError, match="at most 100 params"):
        service.log_batch("default", rid, params=[(f"p{i}", "v") for i in range(101)])
    with pytest.raises(InvalidInputError, match="at most 1000"):
        service.log_batch("default", rid, [Metric("m", 1.0, 1, i) for i in range(950)],
                          params=[(f"p{i}", "v") for i in range(51)])
    for bad in ("../up", "a" * 251, "semi;colon", "/abs", ""):
        with pytest.raises(InvalidInputError):
            service.log_batch("default", rid, [Metric(bad, 1.0, 1, 0)])
    with pytest.raises(InvalidInputError, match="Duplicate parameter keys"):
        service.log_batch("default", rid, params=[("p", "1"), ("p", "1")])
    service.log_batch("default", rid, [Metric("nan", math.nan, 1, 0)],
                      params=[("long", "x" * 7000)], tags=[("t", "y" * 9000)])
    run = service.get_run("default", rid)
    assert len(run.params["long"]) == 6000 and len(run.tags["t"]) == 8000
    assert math.isnan(run.metrics[0].value)


def test_bulk_interval_keeps_first_and_last_steps(service: TrackingService) -> None:
    rid = service.create_run("default", experiment_id="0").info.run_id
    service.log_batch("default", rid, [Metric("x", float(s), 1, s) for s in range(1000)])
    points = service.get_metric_history_bulk_interval("default", [rid], "x", max_results=10)
    steps = [p[1][0] for p in points]
    assert len(steps) == 10 and steps[0] == 0 and steps[-1] == 999
