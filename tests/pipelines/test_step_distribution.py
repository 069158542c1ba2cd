"""``distribution`` and ``resources`` of a command component, and of a pipeline step, reach the
child job (the step's value wins), through YAML, registration, the SDK and sweep trials; what a
step cannot carry is said in its log."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ember.client.builders import command
from ember.client.dsl import load_component, pipeline
from ember.client.mlclient import MLClient
from ember.client.sweeps import Choice, sweep_job
from ember.engine.sweeps import trial_template
from ember.entities.components import Component
from ember.entities.jobs import Job, JobStatus
from ember.entities.pipelines import PipelineStep
from ember.entities.sweeps import sweep_from_dict, sweep_to_dict
from ember.errors import SpecError
from ember.specs.components import load_component_spec
from ember.specs.pipelines import load_pipeline_spec
from ember.specs.sweeps import load_sweep_spec
from tests.conftest import ServerProc, job_log, wait_ended
from tests.test_cli import create_job, ember

# One marker per process: rank<RANK>-of-<WORLD_SIZE>; rank 0 logs `acc` when given one.
CHECK = """
import os, pathlib, sys
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rank, world = os.environ["RANK"], os.environ["WORLD_SIZE"]
(out / f"rank{rank}-of-{world}").write_text(os.environ["LOCAL_RANK"])
if len(sys.argv) > 3 and rank == "0":
    import mlflow
    mlflow.log_metric("acc", float(sys.argv[3]))
"""
COMPONENT = """
name: dist_train
version: "1"
environment: {image: python:3.11-slim}
code: ./src
inputs:
  acc: {type: number, optional: true}
outputs:
  out: {type: uri_folder}
command: python check.py ${{outputs.out}} $[[--acc ${{inputs.acc}}]]
distribution:
  type: pytorch
  process_count_per_instance: 2
resources:
  shm_size: 2g
"""
PIPELINE = """
type: pipeline
experiment_name: dist
jobs:
  train:
    component: {component}
"""


def _write(root: Path, pipeline_text: str = "", component: str = COMPONENT) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src/check.py").write_text(textwrap.dedent(CHECK).lstrip())
    (root / "train.yml").write_text(textwrap.dedent(component).lstrip())
    spec = root / "pipeline.yml"
    spec.write_text(textwrap.dedent(pipeline_text).lstrip())
    return spec





def _child(c: MLClient, parent: str, step: str) -> Job:
    children = {ch.step_name: ch for ch in c.jobs.list(parent_job_name=parent)}
    return children[step]


def _markers(server: ServerProc, job: Job, into: Path) -> list[str]:
    r = ember(server, "job", "download", "-n", job.name, "--output-name", "out",
              "-p", str(into))
    assert r.returncode == 0, r.stderr
    return sorted(p.name for p in into.rglob("rank*"))


def _run_step(server: ServerProc, c: MLClient, spec: Path, tmp: Path) -> tuple[Job, list[str]]:
    name = create_job(server, spec)
    final = wait_ended(c, name, timeout=150)
    child = _child(c, name, "train")
    assert final.status == JobStatus.COMPLETED, (final.error, job_log(c, child.name))
    return child, _markers(server, child, tmp / f"dl-{child.name}")


def test_component_distribution_runs_the_step_as_two_processes_and_the_step_value_wins(
        server: ServerProc, tmp_path: Path) -> None:
    spec = _write(tmp_path, PIPELINE.format(component="./train.yml"))
    with MLClient(endpoint=server.url) as c:
        child, markers = _run_step(server, c, spec, tmp_path)
        assert markers == ["rank0-of-2", "rank1-of-2"]
        assert child.distribution == {"type": "pytorch", "process_count_per_instance": 2}
        assert child.resources == {"shm_size": "2g"}
        log = job_log(c, child.name)
        assert "distribution pytorch: 2 process(es)" in log
        assert "resources shm_size: not applicable on local compute" in log

        # The step's resources add to the component's: 2 instances x 2 processes; the
        # different run settings make a different step (not reused from the first run).
        spec.write_text(spec.read_text() + "    resources: {instance_count: 2}\n")
        child, markers = _run_step(server, c, spec, tmp_path)
        assert child.reused_from is None
        assert markers == [f"rank{r}-of-4" for r in range(4)]
        assert child.resources == {"shm_size": "2g", "instance_count": 2}

        # The step's distribution replaces the component's.
        spec.write_text(spec.read_text().replace(
            "resources: {instance_count: 2}",
            "distribution: {type: pytorch, process_count_per_instance: 3}"))
        child, markers = _run_step(server, c, spec, tmp_path)
        assert markers == [f"rank{r}-of-3" for r in range(3)]


def test_registered_component_keeps_distribution_and_runs_distributed(
        server: ServerProc, tmp_path: Path) -> None:
    spec = _write(tmp_path, PIPELINE.format(component="azureml:dist_train:1"))
    r = ember(server, "component", "create", "-f", str(tmp_path / "train.yml"), "-o", "json")
    assert r.returncode == 0, r.stderr
    r = ember(server, "component", "show", "-n", "dist_train", "-v", "1", "-o", "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["distribution"] == {"type": "pytorch", "process_count_per_instance": 2}
    assert shown["resources"] == {"shm_size": "2g"}
    with MLClient(endpoint=server.url) as c:
        got = c.components.get("dist_train", "1")
        assert got.distribution == {"type": "pytorch", "process_count_per_instance": 2}
        _, markers = _run_step(server, c, spec, tmp_path)
        assert markers == ["rank0-of-2", "rank1-of-2"]


def test_sweep_trials_of_a_distributed_component_run_distributed(
        server: ServerProc, tmp_path: Path) -> None:
    spec = _write(tmp_path, """
        type: sweep
        experiment_name: dist
        trial: ./train.yml
        search_space:
          acc: {type: choice, values: [0.5]}
        objective: {primary_metric: acc, goal: maximize}
        limits: {max_total_trials: 1}
        """)
    name = create_job(server, spec)
    with MLClient(endpoint=server.url) as c:
        final = wait_ended(c, name, timeout=150)
        trials = c.jobs.list(parent_job_name=name)
        assert len(trials) == 1
        assert final.status == JobStatus.COMPLETED, (final.error, job_log(c, trials[0].name))
        assert trials[0].distribution == {"type": "pytorch", "process_count_per_instance": 2}
        markers = _markers(server, trials[0], tmp_path / "dl")
        assert markers == ["rank0-of-2", "rank1-of-2"]


def test_a_nested_pipeline_step_says_its_run_settings_are_ignored(
        server: ServerProc, tmp_path: Path) -> None:
    spec = _write(tmp_path, """
        type: pipeline
        experiment_name: dist
        jobs:
          outer:
            type: pipeline
            component: ./inner.yml
            resources: {instance_count: 2}
        """)
    (tmp_path / "inner.yml").write_text(textwrap.dedent("""
        type: pipeline
        name: inner
        jobs:
          train:
            component: ./train.yml
        """).lstrip())
    name = create_job(server, spec)
    with MLClient(endpoint=server.url) as c:
        final = wait_ended(c, name, timeout=150)
        nested = _child(c, name, "outer")
        assert final.status == JobStatus.COMPLETED, final.error
        assert "resources on step 'outer' (a pipeline component) ignored" in \
            job_log(c, nested.name)
        inner = _child(c, nested.name, "train")
        assert _markers(server, inner, tmp_path / "dl") == ["rank0-of-2", "rank1-of-2"]


# ---- loading, without running ---------------------------------------------------------------

def test_specs_keep_component_and_step_run_settings(tmp_path: Path) -> None:
    spec = _write(tmp_path, """
        type: pipeline
        jobs:
          train:
            component: ./train.yml
            resources: {instance_count: 2}
          inline:
            command: echo hi
            distribution: {type: mpi, process_count_per_instance: 3}
        """)
    comp = load_component_spec(tmp_path / "train.yml")
    assert comp.distribution == {"type": "pytorch", "process_count_per_instance": 2}
    assert comp.resources == {"shm_size": "2g"}
    loaded = load_pipeline_spec(spec)
    step = loaded.jobs["train"]
    assert step.resources == {"instance_count": 2} and step.distribution is None
    assert step.component is not None and step.component.distribution == comp.distribution
    inline = loaded.jobs["inline"]
    assert inline.job is not None
    assert inline.job.distribution == {"type": "mpi", "process_count_per_instance": 3}
    again = Component.from_dict(comp.to_dict())
    assert again.distribution == comp.distribution and again.resources == comp.resources


def test_dsl_nodes_carry_component_and_node_run_settings(tmp_path: Path) -> None:
    _write(tmp_path, "type: pipeline\n")
    train = load_component(tmp_path / "train.yml")

    @pipeline()
    def flow() -> None:
        node = train()
        node.resources = {"instance_count": 2}

    job = flow()
    step: PipelineStep = job.jobs["dist_train"]
    assert step.resources == {"instance_count": 2}
    assert step.component is not None
    assert step.component.distribution == {"type": "pytorch", "process_count_per_instance": 2}
    standalone = train()
    assert standalone.distribution == {"type": "pytorch", "process_count_per_instance": 2}
    assert standalone.resources == {"shm_size": "2g"}
    with pytest.raises(SpecError, match="process_count_per_instance"):
        node_settings_typo = {"type": "pytorch", "process_count": 2}

        @pipeline()
        def bad() -> None:
            train().distribution = node_settings_typo

        bad()


def test_command_builder_and_inline_sweep_trial_keep_run_settings(tmp_path: Path) -> None:
    job = command(command="echo hi", distribution={"type": "mpi", "process_count_per_instance": 2},
                  instance_count=2)
    assert job.distribution == {"type": "mpi", "process_count_per_instance": 2}
    assert job.resources == {"instance_count": 2}
    comp = job.as_component()
    assert comp.distribution == job.distribution and comp.resources == job.resources
    spec = tmp_path / "sweep.yml"
    spec.write_text(textwrap.dedent("""
        type: sweep
        trial:
          command: echo ${{search_space.lr}}
          distribution: {type: pytorch, process_count_per_instance: 2}
          resources: {instance_count: 2}
        search_space:
          lr: {type: choice, values: [0.1]}
        objective: {primary_metric: acc, goal: maximize}
        """).lstrip())
    trial = load_sweep_spec(spec).trial
    assert trial is not None
    assert trial.distribution == {"type": "pytorch", "process_count_per_instance": 2}
    assert trial.resources == {"instance_count": 2}


def test_sdk_sweep_keeps_the_command_run_settings_and_set_resources(tmp_path: Path) -> None:
    job = command(command="echo ${{inputs.lr}}", inputs={"lr": Choice([0.1, 0.2])},
                  distribution={"type": "pytorch", "process_count_per_instance": 2},
                  instance_type="Standard_NC6")
    sweep = job.sweep(primary_metric="acc", goal="maximize")
    sweep.set_resources(instance_count=2)
    sweep = sweep_from_dict(sweep_to_dict(sweep))    # as the server receives it
    trial = trial_template(sweep)
    assert trial.distribution == {"type": "pytorch", "process_count_per_instance": 2}
    assert trial.resources == {"instance_type": "Standard_NC6", "instance_count": 2}
    _write(tmp_path, "type: pipeline\n")
    component = load_component(tmp_path / "train.yml").component
    of_component = trial_template(sweep_job(component, primary_metric="acc", goal="maximize",
                                            search_space={"acc": Choice([0.5])}))
    assert of_component.distribution == {"type": "pytorch", "process_count_per_instance": 2}
    assert of_component.resources == {"shm_size": "2g"}
