"""Pipelines and sweeps whose steps and trials run on a Ray compute: a step's output reaches
the next step through the server, trials run side by side up to the compute's room, and early
termination stops a trial's Ray job."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from ember import MLClient
from ember.client.compute import Compute
from ember.entities.jobs import JobStatus
from ember.specs.any_job import load_any_job_spec
from tests.conftest import WorkspaceServer, job_log, wait_for
from tests.ray.cluster import RayCluster
from tests.sweeps.test_sweep_runs import params, run_sweep, sweep_spec

pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture
def ray_client(server: WorkspaceServer, ray_cluster: RayCluster) -> Any:
    """Compute ``ray``: each job reserves half a CPU, so four run at once on two CPUs."""
    with MLClient(endpoint=server.url) as c:
        c.compute.begin_create_or_update(Compute(
            name="ray", type="ray", address=ray_cluster.address,
            resources={"CPU": 0.5})).result()
        yield c


def ray_status(cluster: RayCluster, workspace: str, job: str) -> str:
    return str(cluster.client().get_job_status(f"ember-{workspace}-{job}").value)


def test_a_pipelines_steps_run_on_ray(ray_client: MLClient, ray_cluster: RayCluster,
                                      server: WorkspaceServer, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/n.txt").write_text("7")
    spec = tmp_path / "pipeline.yml"
    spec.write_text(textwrap.dedent("""
        type: pipeline
        settings: {default_compute: azureml:ray}
        inputs:
          src: {type: uri_folder, path: ./data}
        jobs:
          produce:
            type: command
            inputs:
              src: ${{parent.inputs.src}}
            outputs:
              out: {type: uri_folder}
            command: echo $(( $(cat ${{inputs.src}}/n.txt) * 6 )) > ${{outputs.out}}/n.txt
          consume:
            type: command
            inputs:
              x: ${{parent.jobs.produce.outputs.out}}
            command: echo "got $(cat ${{inputs.x}}/n.txt)"
    """).lstrip())
    job = ray_client.jobs.create_or_update(load_any_job_spec(spec))
    final = wait_for(lambda: (j := ray_client.jobs.get(job.name)).status in JobStatus.TERMINAL
                     and j, timeout=180, interval=0.2)
    steps = {s.step_name: s for s in ray_client.jobs.list(parent_job_name=job.name)}
    assert final.status == JobStatus.COMPLETED, (final.error, {
        n: job_log(ray_client, s.name) for n, s in steps.items()})
    assert "got 42" in job_log(ray_client, steps["consume"].name)
    for step in steps.values():
        # the runner reports the end, then exits: Ray marks its job a moment later
        wait_for(lambda s=step: ray_status(ray_cluster, server.workspace, s.name)
                 == "SUCCEEDED", timeout=60)


POLICY = """
type: sweep
compute: azureml:ray
trial:
  code: ./src
  command: python trial.py ${{{{search_space.quality}}}} 3 3.0
  environment_variables: {{BARRIER_DIR: "{barrier}", BARRIER_N: "4", OMP_NUM_THREADS: "1"}}
search_space:
  quality: {{type: choice, values: [1, 5, 9, 10]}}
sampling_algorithm: grid
objective: {{primary_metric: acc, goal: maximize}}
early_termination: {{type: bandit, slack_factor: 0.2, evaluation_interval: 1, delay_evaluation: 1}}
limits: {{max_total_trials: 4, max_concurrent_trials: 4}}
"""


def test_a_sweeps_trials_run_on_ray_and_early_termination_stops_them(
        ray_client: MLClient, ray_cluster: RayCluster, server: WorkspaceServer,
        tmp_path: Path) -> None:
    (tmp_path / "barrier").mkdir()
    spec = sweep_spec(tmp_path, POLICY.format(barrier=tmp_path / "barrier"))
    final, trials = run_sweep(ray_client, spec, timeout=300)
    assert final.status == JobStatus.COMPLETED, final.error
    by_quality = {params(t)["quality"]: t for t in trials}
    for quality in (1, 5):
        assert by_quality[quality].status == JobStatus.CANCELED
        assert "early termination" in " ".join(
            h.reason for h in by_quality[quality].status_history)
        wait_for(lambda q=quality: ray_status(ray_cluster, server.workspace,
                                              by_quality[q].name) == "STOPPED", timeout=60)
    for quality in (9, 10):
        assert by_quality[quality].status == JobStatus.COMPLETED
        wait_for(lambda q=quality: ray_status(ray_cluster, server.workspace,
                                              by_quality[q].name) == "SUCCEEDED", timeout=60)
    assert final.properties["best_child_run_id"] == by_quality[10].name
