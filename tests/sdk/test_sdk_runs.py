"""The README's SDK code, run for real: @dsl.pipeline + load_component, command().sweep(),
and a pipeline step referencing a registered component."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from ember import Input, MLClient, Output, command, dsl, load_component
from ember.entities.jobs import Job, JobStatus
from ember.specs.any_job import load_any_job_spec
from ember.specs.components import load_component_spec
from ember.sweep import BanditPolicy, LogUniform
from tests.conftest import ServerProc, wait_for

REPO = Path(__file__).resolve().parents[2]


def finish(c: MLClient, job: Job, timeout: float = 180) -> Job:
    return wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL and j,
                    timeout=timeout, interval=0.2)


def test_dsl_pipeline_of_example_components_runs(server: ServerProc) -> None:
    ex = REPO / "examples/pipeline"
    prep, train = load_component(ex / "prep.yml"), load_component(ex / "train.yml")

    @dsl.pipeline(default_compute="local", experiment_name="sdk-pipeline")
    def line_pipeline(raw, epochs: int = 300):  # type: ignore[no-untyped-def]
        cleaned = prep(raw=raw)
        trained = train(data=cleaned.outputs.clean, epochs=epochs)
        return {"model": trained.outputs.model}

    with MLClient(endpoint=server.url) as c:
        job = c.jobs.create_or_update(line_pipeline(
            raw=Input(type="uri_file", path=str(ex / "data/points.csv")), epochs=120))
        final = finish(c, job)
        assert final.status == JobStatus.COMPLETED, final.error
        steps = {s.step_name: s for s in c.jobs.list(parent_job_name=job.name)}
        assert set(steps) == {"prep_points", "train_line"}
        assert steps["train_line"].inputs["epochs"].value == 120
        files = c.jobs.download(job.name, server.home.parent / "dl", output_name="model")
        assert [f.name for f in files] == ["model.json"]


def test_command_sweep_with_bandit_from_the_sdk(server: ServerProc) -> None:
    ex = REPO / "examples/sweep"
    trial = command(command="python train.py --data ${{inputs.data}} --epochs 60 "
                            "--learning-rate ${{inputs.lr}} --out ${{outputs.model}}",
                    code=str(REPO / "examples/pipeline/src"),
                    inputs={"data": Input(type="uri_folder", path=str(ex / "data")),
                            "lr": LogUniform(min_value=-6, max_value=-2)},
                    outputs={"model": Output(type="uri_folder")})
    sweep = trial.sweep(primary_metric="loss", goal="minimize", sampling_algorithm="random",
                        max_total_trials=4, max_concurrent_trials=2, seed=5,
                        early_termination_policy=BanditPolicy(slack_factor=0.5,
                                                              delay_evaluation=2))
    with MLClient(endpoint=server.url) as c:
        job = c.jobs.create_or_update(sweep)
        final = finish(c, job)
        assert final.status == JobStatus.COMPLETED, final.error
        trials = c.jobs.list(parent_job_name=job.name)
        assert len(trials) == 4
        lrs = [float((t.definition or {})["parameters"]["lr"]) for t in trials]
        assert all(2.4e-3 < lr < 0.136 for lr in lrs)     # e^-6 .. e^-2
        assert final.properties["best_child_run_id"] in {t.name for t in trials}


def test_pipeline_step_uses_a_registered_component(server: ServerProc, tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples/pipeline", tmp_path / "p")
    with MLClient(endpoint=server.url) as c:
        c.components.create_or_update(load_component_spec(tmp_path / "p/prep.yml"))
        spec = tmp_path / "p/registered.yml"
        spec.write_text(textwrap.dedent("""
            type: pipeline
            inputs:
              raw: {type: uri_file, path: ./data/points.csv}
            jobs:
              prep:
                component: azureml:prep_points@latest
                inputs:
                  raw: ${{parent.inputs.raw}}
              train:
                component: ./train.yml
                inputs:
                  data: ${{parent.jobs.prep.outputs.clean}}
                  epochs: 50
        """).lstrip())
        job = c.jobs.create_or_update(load_any_job_spec(spec))
        final = finish(c, job)
        assert final.status == JobStatus.COMPLETED, final.error
        steps = {s.step_name: s for s in c.jobs.list(parent_job_name=job.name)}
        assert steps["prep"].component == "prep_points:1"


def test_command_nodes_as_pipeline_steps(server: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/n.txt").write_text("7")
    produce = command(command="cat ${{inputs.src}}/n.txt > ${{outputs.out}}/n.txt",
                      inputs={"src": Input(type="uri_folder", path=str(tmp_path / "data"))},
                      outputs={"out": Output(type="uri_folder")}, display_name="produce")
    consume = command(command="echo got $(cat ${{inputs.x}}/n.txt) times ${{inputs.k}}",
                      inputs={"x": Input(type="uri_folder"), "k": 2}, display_name="consume")

    @dsl.pipeline(experiment_name="sdk-commands")
    def two_commands(k: int = 3):  # type: ignore[no-untyped-def]
        made = produce()
        consume(x=made.outputs.out, k=k)

    assert consume(k=4).inputs["k"].value == 4           # outside a pipeline: a rebound copy
    with MLClient(endpoint=server.url) as c:
        job = c.jobs.create_or_update(two_commands(k=5))
        final = finish(c, job)
        assert final.status == JobStatus.COMPLETED, final.error
        steps = {s.step_name: s for s in c.jobs.list(parent_job_name=job.name)}
        assert set(steps) == {"produce", "consume"}
        log = c.jobs._http.request("GET", c.jobs._http.ws(
            f"/jobs/{steps['consume'].name}/logs")).text
        assert "got 7 times 5" in log
