"""Sweeps run for real: trial processes log with mlflow, Optuna samples, policies stop trials."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.jobs import Job, JobStatus
from ember.specs.any_job import load_any_job_spec
from tests.conftest import ServerProc, wait_for
from tests.test_cli import ember

# Logs `quality` as the metric `steps` times, pausing between reports; writes its model.
TRIAL = """
import os, pathlib, sys, time
import mlflow
quality, steps, pause = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
out = pathlib.Path(sys.argv[4]) if len(sys.argv) > 4 else None
barrier = os.environ.get("BARRIER_DIR")
if barrier:   # start reporting together, so a loaded machine cannot skew the intervals
    pathlib.Path(barrier, os.environ["MLFLOW_RUN_ID"]).touch()
    deadline = time.time() + 120
    while len(os.listdir(barrier)) < int(os.environ["BARRIER_N"]) and time.time() < deadline:
        time.sleep(0.05)
for step in range(steps):
    mlflow.log_metric("acc", quality, step=step)
    time.sleep(pause)
if out is not None:
    (out / "model.txt").write_text(f"quality={quality}")
"""


def sweep_spec(tmp_path: Path, body: str) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src/trial.py").write_text(textwrap.dedent(TRIAL).lstrip())
    spec = tmp_path / "sweep.yml"
    spec.write_text(textwrap.dedent(body).lstrip())
    return spec


def run_sweep(c: MLClient, spec: Path, timeout: float = 180) -> tuple[Job, list[Job]]:
    job = c.jobs.create_or_update(load_any_job_spec(spec))
    final = wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL and j,
                     timeout=timeout, interval=0.2)
    trials = c.jobs.list(parent_job_name=job.name, max_results=1000)
    return final, trials


def params(trial: Job) -> dict[str, object]:
    return dict((trial.definition or {}).get("parameters") or {})


SAMPLED = """
type: sweep
experiment_name: sweeps
trial:
  code: ./src
  command: python trial.py ${{{{search_space.quality}}}} 1 0 ${{{{outputs.model}}}}
outputs:
  model:
search_space:
  quality: {space}
sampling_algorithm: {algorithm}
objective:
  primary_metric: acc
  goal: {goal}
limits:
  max_total_trials: {total}
  max_concurrent_trials: 3
"""


@pytest.mark.parametrize("algorithm, space, goal, total", [
    ("{type: random, seed: 7}", "{type: uniform, min_value: 0, max_value: 10}", "maximize", 5),
    ("{type: random, seed: 3, rule: sobol}", "{type: quniform, min_value: 0, max_value: 10, q: 1}",
     "minimize", 4),
    ("bayesian", "{type: uniform, min_value: 0, max_value: 10}", "Maximize", 4),
])
def test_sampled_sweep_records_the_best_trial(server: ServerProc, tmp_path: Path,
                                             algorithm: str, space: str, goal: str,
                                             total: int) -> None:
    spec = sweep_spec(tmp_path, SAMPLED.format(algorithm=algorithm, space=space, goal=goal,
                                               total=total))
    with MLClient(endpoint=server.url) as c:
        final, trials = run_sweep(c, spec)
        assert final.status == JobStatus.COMPLETED, final.error
        assert len(trials) == total
        assert all(t.status == JobStatus.COMPLETED for t in trials)
        values = {t.name: float(params(t)["quality"]) for t in trials}
        assert all(0 <= v <= 10 for v in values.values())
        pick = max if goal.lower() == "maximize" else min
        best = pick(values, key=lambda n: values[n])
        assert final.properties["best_child_run_id"] == best
        assert float(final.properties["best_objective"]) == values[best]
        # The sweep's output is the best trial's output.
        assert final.outputs["model"].path == \
            next(t for t in trials if t.name == best).outputs["model"].path
    r = ember(server, "job", "show", "-n", final.name, "-o", "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert {row["job"] for row in shown["trials"]} == set(values)
    assert all(float(row["objective"]) == values[row["job"]] for row in shown["trials"])


def test_grid_sweep_runs_every_combination_once(server: ServerProc, tmp_path: Path) -> None:
    spec = sweep_spec(tmp_path, """
        type: sweep
        trial:
          code: ./src
          command: python trial.py ${{search_space.quality}} 1 0 && echo ${{search_space.tag}}
        search_space:
          quality: {type: choice, values: [1, 2, 3]}
          tag: {type: choice, values: [a, b]}
        sampling_algorithm: grid
        objective: {primary_metric: acc, goal: maximize}
        limits: {max_total_trials: 20, max_concurrent_trials: 4}
    """)
    with MLClient(endpoint=server.url) as c:
        final, trials = run_sweep(c, spec)
    assert final.status == JobStatus.COMPLETED, final.error
    combos = sorted((params(t)["quality"], params(t)["tag"]) for t in trials)
    assert combos == [(q, t) for q in (1, 2, 3) for t in ("a", "b")]


POLICY = """
type: sweep
trial:
  code: ./src
  command: python trial.py ${{{{search_space.quality}}}} 3 3.0
  environment_variables: {{BARRIER_DIR: "{barrier}", BARRIER_N: "4"}}
search_space:
  quality: {{type: choice, values: [1, 5, 9, 10]}}
sampling_algorithm: grid
objective: {{primary_metric: acc, goal: maximize}}
early_termination: {policy}
limits: {{max_total_trials: 4, max_concurrent_trials: 4}}
"""


@pytest.mark.parametrize("policy", [
    "{type: bandit, slack_factor: 0.2, evaluation_interval: 1, delay_evaluation: 1}",
    "{type: median_stopping, evaluation_interval: 1, delay_evaluation: 1}",
    "{type: truncation_selection, truncation_percentage: 50, evaluation_interval: 2}",
])
def test_early_termination_stops_the_hopeless_trials(server: ServerProc, tmp_path: Path,
                                                     policy: str) -> None:
    (tmp_path / "barrier").mkdir()
    spec = sweep_spec(tmp_path, POLICY.format(policy=policy, barrier=tmp_path / "barrier"))
    with MLClient(endpoint=server.url) as c:
        final, trials = run_sweep(c, spec)
    assert final.status == JobStatus.COMPLETED, final.error
    by_quality = {params(t)["quality"]: t for t in trials}
    assert by_quality[1].status == JobStatus.CANCELED
    assert by_quality[5].status == JobStatus.CANCELED
    assert by_quality[9].status == JobStatus.COMPLETED
    assert by_quality[10].status == JobStatus.COMPLETED
    reasons = " ".join(h.reason for h in by_quality[1].status_history)
    assert "early termination" in reasons
    assert final.properties["best_child_run_id"] == by_quality[10].name


def test_sweep_limits_trial_timeout_and_cancel(server: ServerProc, tmp_path: Path) -> None:
    spec = sweep_spec(tmp_path, """
        type: sweep
        trial:
          code: ./src
          command: python trial.py ${{search_space.quality}} 100 0.2
        search_space:
          quality: {type: choice, values: [1, 2, 3, 4]}
        sampling_algorithm: grid
        objective: {primary_metric: acc, goal: maximize}
        limits: {max_total_trials: 4, max_concurrent_trials: 2, trial_timeout: 2}
    """)
    with MLClient(endpoint=server.url) as c:
        final, trials = run_sweep(c, spec)
        # Every trial outlives trial_timeout: each is cancelled, none completes.
        assert [t.status for t in trials] == [JobStatus.CANCELED] * 4
        assert final.status == JobStatus.FAILED
        assert "no trial completed" in (final.error or "")

        job = c.jobs.create_or_update(load_any_job_spec(spec, ["limits.trial_timeout=600"]))
        wait_for(lambda: len([t for t in c.jobs.list(parent_job_name=job.name)
                              if t.status == JobStatus.RUNNING]) == 2, timeout=60)
        c.jobs.begin_cancel(job.name)
        assert c.jobs.get(job.name).status == JobStatus.CANCELED
        trials = c.jobs.list(parent_job_name=job.name)
        assert len(trials) == 2      # max_concurrent_trials held; nothing started after cancel
        assert all(t.status == JobStatus.CANCELED for t in trials)


def test_sweep_survives_a_server_restart(ember_home: Path, tmp_path: Path) -> None:
    spec = sweep_spec(tmp_path, """
        type: sweep
        trial:
          code: ./src
          command: python trial.py ${{search_space.quality}} 3 0.5
        search_space:
          quality: {type: choice, values: [1, 2, 3, 4]}
        sampling_algorithm: grid
        objective: {primary_metric: acc, goal: maximize}
        limits: {max_total_trials: 4, max_concurrent_trials: 2}
    """)
    srv = ServerProc(ember_home).start()
    try:
        with MLClient(endpoint=srv.url) as c:
            job = c.jobs.create_or_update(load_any_job_spec(spec))
            wait_for(lambda: any(t.status == JobStatus.RUNNING
                                 for t in c.jobs.list(parent_job_name=job.name)), timeout=60)
        port = srv.port
        srv.kill()
        # Same port: the trials' mlflow clients keep their tracking URI and retry until the
        # server is back.
        srv = ServerProc(ember_home).start(port=port)
        with MLClient(endpoint=srv.url) as c:
            final = wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL
                             and j, timeout=120, interval=0.2)
            trials = c.jobs.list(parent_job_name=job.name)
        assert final.status == JobStatus.COMPLETED, final.error
        assert sorted(params(t)["quality"] for t in trials) == [1, 2, 3, 4]   # none repeated
        assert float(final.properties["best_objective"]) == 4.0
    finally:
        srv.stop()


TUNE_COMPONENT = """
name: tune_trial
environment: {image: python:3.11-slim}
code: ./src
inputs:
  data: {type: uri_folder}
  quality: {type: number}
outputs:
  model: {type: uri_folder}
command: >-
  python trial.py ${{inputs.quality}} 1 0 ${{outputs.model}} &&
  cp ${{inputs.data}}/rows.txt ${{outputs.model}}/
"""
SWEEP_PIPELINE = """
type: pipeline
inputs:
  raw: {type: uri_folder, path: ./data}
outputs:
  best_model: {type: uri_folder}
jobs:
  tune:
    type: sweep
    trial: ./tune.yml
    inputs:
      data: ${{parent.inputs.raw}}
    outputs:
      model: ${{parent.outputs.best_model}}
    search_space:
      quality: {type: choice, values: [3, 8, 5]}
    sampling_algorithm: grid
    objective: {primary_metric: acc, goal: maximize}
    limits: {max_total_trials: 3, max_concurrent_trials: 2}
  use_best:
    command: cat ${{inputs.model}}/model.txt ${{inputs.model}}/rows.txt
    inputs:
      model: ${{parent.jobs.tune.outputs.model}}
"""


def test_sweep_as_a_pipeline_step_hands_on_the_best_trial(server: ServerProc,
                                                          tmp_path: Path) -> None:
    sweep_spec(tmp_path, "type: sweep\n")   # writes src/trial.py
    (tmp_path / "tune.yml").write_text(textwrap.dedent(TUNE_COMPONENT).lstrip())
    (tmp_path / "data").mkdir()
    (tmp_path / "data/rows.txt").write_text("r1 r2")
    spec = tmp_path / "pipeline.yml"
    spec.write_text(textwrap.dedent(SWEEP_PIPELINE).lstrip())
    with MLClient(endpoint=server.url) as c:
        job = c.jobs.create_or_update(load_any_job_spec(spec))
        final = wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL
                         and j, timeout=180, interval=0.2)
        assert final.status == JobStatus.COMPLETED, final.error
        steps = {s.step_name: s for s in c.jobs.list(parent_job_name=job.name)}
        tune = steps["tune"]
        assert tune.type == "sweep" and tune.status == JobStatus.COMPLETED
        trials = c.jobs.list(parent_job_name=tune.name)
        assert len(trials) == 3
        best = next(t for t in trials if params(t)["quality"] == 8)
        assert tune.properties["best_child_run_id"] == best.name
        assert steps["use_best"].inputs["model"].path == best.outputs["model"].path
        assert final.outputs["best_model"].path == best.outputs["model"].path
        log = c.jobs._http.request("GET", c.jobs._http.ws(
            f"/jobs/{steps['use_best'].name}/logs")).text
        assert "quality=8" in log and "r1 r2" in log


def test_sweep_timeout_cancels_the_sweep_and_keeps_the_best_so_far(server: ServerProc,
                                                                    tmp_path: Path) -> None:
    # Trial quality 1 finishes at once; the others report forever, until the sweep's timeout.
    # The timeout leaves room for trial 1 (a Python start and an mlflow import) on a loaded
    # 2-core machine: at 6 s it sometimes had not finished.
    spec = sweep_spec(tmp_path, """
        type: sweep
        trial:
          code: ./src
          command: >-
            python trial.py ${{search_space.quality}}
            $([ ${{search_space.quality}} = 1 ] && echo 1 || echo 1000) 0.2
        search_space:
          quality: {type: choice, values: [1, 2, 3]}
        sampling_algorithm: grid
        objective: {primary_metric: acc, goal: maximize}
        limits: {max_total_trials: 3, max_concurrent_trials: 3, timeout: 15}
    """)
    with MLClient(endpoint=server.url) as c:
        final, trials = run_sweep(c, spec, timeout=90)
    assert final.status == JobStatus.CANCELED
    assert any("limits.timeout of 15 s" in h.reason for h in final.status_history)
    by_quality = {params(t)["quality"]: t for t in trials}
    assert by_quality[1].status == JobStatus.COMPLETED
    assert by_quality[2].status == by_quality[3].status == JobStatus.CANCELED
    assert final.properties["best_child_run_id"] == by_quality[1].name
