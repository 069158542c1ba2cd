"""Pipelines run for real: child jobs, outputs by URI, reuse, failures, cancel, restart."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.jobs import Job, JobStatus
from ember.errors import InvalidInputError, NotFoundError
from ember.specs.any_job import load_any_job_spec
from tests.conftest import ServerProc, wait_for
from tests.test_cli import ember

PREP = """
name: prep
environment: {image: python:3.11-slim}
code: ./src
inputs:
  raw: {type: uri_folder}
outputs:
  clean: {type: uri_folder}
command: python prep.py ${{inputs.raw}} ${{outputs.clean}}
"""
TRAIN = """
name: train
environment: {image: python:3.11-slim}
code: ./src
inputs:
  data: {type: uri_folder}
  epochs: {type: integer, default: 3, min: 1}
outputs:
  model: {type: uri_folder}
command: python train.py ${{inputs.data}} ${{inputs.epochs}} ${{outputs.model}}
"""
SCORE = """
name: score
environment: {image: python:3.11-slim}
code: ./src
inputs:
  model: {type: uri_folder}
  data: {type: uri_folder}
outputs:
  scores: {type: uri_folder}
command: python score.py ${{inputs.model}} ${{inputs.data}} ${{outputs.scores}}
"""
PIPELINE = """
type: pipeline
experiment_name: pipes
inputs:
  raw: {type: uri_folder, path: ./data}
  epochs: 4
outputs:
  final_model: {type: uri_folder}
  final_scores: {type: uri_folder}
jobs:
  prep_step:
    component: ./prep.yml
    inputs:
      raw: ${{parent.inputs.raw}}
  train_step:
    component: ./train.yml
    inputs:
      data: ${{parent.jobs.prep_step.outputs.clean}}
      epochs: ${{parent.inputs.epochs}}
    outputs:
      model: ${{parent.outputs.final_model}}
  score_step:
    component: ./score.yml
    inputs:
      model: ${{parent.jobs.train_step.outputs.model}}
      data: ${{parent.jobs.prep_step.outputs.clean}}
    outputs:
      scores: ${{parent.outputs.final_scores}}
"""
SCRIPTS = {
    "prep.py": """
        import pathlib, sys
        src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
        rows = (src / "rows.txt").read_text().split()
        (out / "clean.txt").write_text("\\n".join(r.upper() for r in rows))
        print("prep", len(rows))
    """,
    "train.py": """
        import pathlib, sys
        data, epochs, out = pathlib.Path(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
        rows = (data / "clean.txt").read_text().split()
        (out / "model.txt").write_text(f"epochs={epochs} rows={len(rows)}")
    """,
    "score.py": """
        import pathlib, sys
        model, data, out = (pathlib.Path(a) for a in sys.argv[1:4])
        text = (model / "model.txt").read_text()
        (out / "scores.txt").write_text(text + " scored=" + str(len((data / "clean.txt").read_text().split())))
    """,
}


def write_pipeline(root: Path, pipeline: str = PIPELINE) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    for name, body in SCRIPTS.items():
        (root / "src" / name).write_text(textwrap.dedent(body).lstrip())
    for name, body in (("prep.yml", PREP), ("train.yml", TRAIN), ("score.yml", SCORE)):
        (root / name).write_text(textwrap.dedent(body).lstrip())
    (root / "data").mkdir(exist_ok=True)
    if not (root / "data/rows.txt").exists():
        (root / "data/rows.txt").write_text("a b c")
    spec = root / "pipeline.yml"
    spec.write_text(textwrap.dedent(pipeline).lstrip())
    return spec


def run_to_end(c: MLClient, spec: Path, sets: list[str] | None = None,
               timeout: float = 120) -> tuple[Job, dict[str, Job]]:
    job = c.jobs.create_or_update(load_any_job_spec(spec, sets or []))
    final = wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL and j,
                     timeout=timeout, interval=0.1)
    children = {ch.step_name or "": ch for ch in c.jobs.list(parent_job_name=job.name)}
    return final, children


def read_output(server: ServerProc, c: MLClient, job: Job, output: str, file: str) -> str:
    files = c.jobs.download(job.name, server.home.parent / f"dl-{job.name}",
                            output_name=output)
    match = [f for f in files if f.name == file]
    assert match, files
    return match[0].read_text()


def check_lineage(server: ServerProc, ran: dict[str, Job], reused: dict[str, Job],
                  pipeline: Job) -> None:
    """A reused step's outputs trace back to the job that ran; a data asset registered from a
    pipeline output names the step that produced it and that step's inputs."""
    import json

    r = ember(server, "job", "show", "-n", reused["score_step"].name, "-o", "json")
    assert r.returncode == 0, r.stderr
    lineage = json.loads(r.stdout)["lineage"]
    assert lineage["outputs"]["scores"]["produced_by"] == ran["score_step"].name
    assert lineage["inputs"]["model"]["produced_by"] == ran["train_step"].name
    r = ember(server, "job", "show", "-n", pipeline.name, "-o", "json")
    shown = json.loads(r.stdout)["lineage"]["outputs"]["final_scores"]
    assert shown["produced_by"] == ran["score_step"].name     # the step that wrote it
    r = ember(server, "data", "create", "--name", "scores", "--version", "1", "--type",
              "uri_folder", "--path", pipeline.outputs["final_scores"].path or "")
    assert r.returncode == 0, r.stderr
    r = ember(server, "data", "show", "--name", "scores", "--version", "1", "-o", "json")
    produced = json.loads(r.stdout)["produced_by"]
    assert produced["job"] == ran["score_step"].name and produced["step_name"] == "score_step"
    assert produced["inputs"]["model"] == ran["train_step"].outputs["model"].path


def test_three_step_pipeline_runs_reuses_and_reruns_downstream(server: ServerProc,
                                                               tmp_path: Path) -> None:
    spec = write_pipeline(tmp_path)
    with MLClient(endpoint=server.url) as c:
        first, steps = run_to_end(c, spec)
        assert first.status == JobStatus.COMPLETED, first.error
        assert set(steps) == {"prep_step", "train_step", "score_step"}
        assert all(s.status == JobStatus.COMPLETED and s.reused_from is None
                   for s in steps.values())
        assert all(s.parent_job_name == first.name for s in steps.values())
        # Outputs pass by URI: the consumer's input is the producer's output, not a copy.
        assert steps["score_step"].inputs["model"].path == steps["train_step"].outputs["model"].path
        assert first.outputs["final_scores"].path == steps["score_step"].outputs["scores"].path
        assert read_output(server, c, first, "final_scores", "scores.txt") == \
            "epochs=4 rows=3 scored=3"

        again, steps2 = run_to_end(c, spec)
        assert again.status == JobStatus.COMPLETED
        assert {k: s.reused_from for k, s in steps2.items()} == \
            {k: s.name for k, s in steps.items()}
        assert all(s.properties.get("azureml.isreused") == "true" for s in steps2.values())
        assert again.outputs["final_scores"].path == first.outputs["final_scores"].path
        check_lineage(server, steps, steps2, again)

        # A new literal for train: prep is reused, train and score (downstream) run again.
        third, steps3 = run_to_end(c, spec, ["inputs.epochs=7"])
        assert third.status == JobStatus.COMPLETED, third.error
        assert steps3["prep_step"].reused_from == steps["prep_step"].name
        assert steps3["train_step"].reused_from is None
        assert steps3["score_step"].reused_from is None
        assert read_output(server, c, third, "final_scores", "scores.txt") == \
            "epochs=7 rows=3 scored=3"

        # Changed input data (same path, new content): nothing is reused.
        (tmp_path / "data/rows.txt").write_text("a b c d")
        fourth, steps4 = run_to_end(c, spec)
        assert fourth.status == JobStatus.COMPLETED
        assert all(s.reused_from is None for s in steps4.values())
        assert read_output(server, c, fourth, "final_scores", "scores.txt") == \
            "epochs=4 rows=4 scored=4"

        # force_rerun turns reuse off.
        fifth, steps5 = run_to_end(c, spec, ["settings.force_rerun=true"])
        assert fifth.status == JobStatus.COMPLETED
        assert all(s.reused_from is None for s in steps5.values())


BRANCHES = """
type: pipeline
settings:
  continue_on_step_failure: false
jobs:
  bad:
    command: python -c "import sys; print('about to fail'); sys.exit(3)"
    outputs:
      out:
  slow:
    command: sleep 30
  after_bad:
    command: echo ${{inputs.x}}
    inputs:
      x: ${{parent.jobs.bad.outputs.out}}
"""


def _write(tmp_path: Path, text: str, name: str = "p.yml") -> Path:
    spec = tmp_path / name
    spec.write_text(textwrap.dedent(text).lstrip())
    return spec


def test_failed_step_stops_the_pipeline_by_default(server: ServerProc, tmp_path: Path) -> None:
    spec = _write(tmp_path, BRANCHES)
    with MLClient(endpoint=server.url) as c:
        final, steps = run_to_end(c, spec)
        assert final.status == JobStatus.FAILED
        assert "step 'bad' Failed" in (final.error or "") and "after_bad" in (final.error or "")
        assert steps["bad"].status == JobStatus.FAILED
        assert steps["slow"].status == JobStatus.CANCELED     # a running sibling is cancelled
        reasons = [h.reason for h in steps["slow"].status_history]
        assert any("continue_on_step_failure is false" in r for r in reasons)
        assert "after_bad" not in steps                      # never started


def test_failed_step_spares_independent_branches_when_asked(server: ServerProc,
                                                            tmp_path: Path) -> None:
    spec = _write(tmp_path, BRANCHES)
    sets = ["settings.continue_on_step_failure=true", "jobs.slow.command=sleep 1"]
    with MLClient(endpoint=server.url) as c:
        final, steps = run_to_end(c, spec, sets)
        assert final.status == JobStatus.FAILED
        assert steps["bad"].status == JobStatus.FAILED
        assert steps["slow"].status == JobStatus.COMPLETED   # its branch ran to the end
        assert "after_bad" not in steps
        assert "not run: after_bad" in (final.error or "")


CHAIN = """
type: pipeline
jobs:
  first:
    command: sleep {seconds} && echo done > ${{{{outputs.out}}}}/done.txt
    outputs:
      out:
  second:
    command: cat ${{{{inputs.x}}}}/done.txt
    inputs:
      x: ${{{{parent.jobs.first.outputs.out}}}}
"""


def test_cancel_in_the_middle_cancels_running_and_pending_steps(server: ServerProc,
                                                                tmp_path: Path) -> None:
    spec = _write(tmp_path, CHAIN.format(seconds=30))
    with MLClient(endpoint=server.url) as c:
        job = c.jobs.create_or_update(load_any_job_spec(spec))
        wait_for(lambda: any(ch.status == JobStatus.RUNNING
                             for ch in c.jobs.list(parent_job_name=job.name)), timeout=60)
    r = ember(server, "job", "cancel", "-n", job.name, "-o", "json")
    assert r.returncode == 0, r.stderr
    with MLClient(endpoint=server.url) as c:
        assert c.jobs.get(job.name).status == JobStatus.CANCELED
        steps = {ch.step_name: ch for ch in c.jobs.list(parent_job_name=job.name)}
        assert steps["first"].status == JobStatus.CANCELED
        assert "second" not in steps


def test_pipeline_survives_a_server_restart_mid_run(ember_home: Path, tmp_path: Path) -> None:
    spec = _write(tmp_path, CHAIN.format(seconds=3))
    srv = ServerProc(ember_home).start()
    try:
        with MLClient(endpoint=srv.url) as c:
            job = c.jobs.create_or_update(load_any_job_spec(spec))
            wait_for(lambda: any(ch.status == JobStatus.RUNNING
                                 for ch in c.jobs.list(parent_job_name=job.name)), timeout=60)
        srv.kill()                      # no clean shutdown: the step's runner keeps going
        srv = ServerProc(ember_home).start()
        with MLClient(endpoint=srv.url) as c:
            final = wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL
                             and j, timeout=90, interval=0.2)
            assert final.status == JobStatus.COMPLETED, final.error
            steps = {ch.step_name: ch for ch in c.jobs.list(parent_job_name=job.name)}
            assert [s.status for s in steps.values()] == [JobStatus.COMPLETED] * 2
        r = ember(srv, "job", "show", "-n", job.name)
        assert r.returncode == 0, r.stderr
        assert "Steps:" in r.stdout and "first" in r.stdout and "Completed" in r.stdout
    finally:
        srv.stop()


def test_graph_and_reference_errors_submit_nothing(server: ServerProc, tmp_path: Path) -> None:
    spec = _write(tmp_path, """
        type: pipeline
        jobs:
          a:
            component: azureml:no_such_component:1
    """)
    r = ember(server, "job", "create", "-f", str(spec))
    assert r.returncode != 0
    assert "step 'a'" in r.stderr and "no_such_component" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # The server checks the graph itself too (a client that skipped the YAML checks).
    import httpx

    body = {"type": "pipeline", "name": "raw_bad", "jobs": {
        "a": {"name": "a", "kind": "command",
              "job": {"name": "a", "command": "echo ${{inputs.x}}",
                      "inputs": {"x": {"type": "uri_folder"}}},
              "inputs": {"x": {"step": "ghost", "step_output": "out"}}}}}
    resp = httpx.post(f"{server.api()}/jobs", json=body, headers=server.headers)
    assert resp.status_code == 400
    assert "jobs.a.inputs.x" in resp.json()["message"] and "ghost" in resp.json()["message"]
    with MLClient(endpoint=server.url) as c:
        assert c.jobs.list() == []


SUB_PIPELINE = """
type: pipeline
name: prep_and_train
inputs:
  raw: {type: uri_folder}
  epochs: {type: integer, default: 2}
outputs:
  model: {type: uri_folder}
jobs:
  prep_step:
    component: ./prep.yml
    inputs:
      raw: ${{parent.inputs.raw}}
  train_step:
    component: ./train.yml
    inputs:
      data: ${{parent.jobs.prep_step.outputs.clean}}
      epochs: ${{parent.inputs.epochs}}
    outputs:
      model: ${{parent.outputs.model}}
"""
OUTER = """
type: pipeline
inputs:
  raw: {type: uri_folder, path: ./data}
outputs:
  scores: {type: uri_folder}
jobs:
  inner:
    type: pipeline
    component: ./sub.yml
    inputs:
      raw: ${{parent.inputs.raw}}
      epochs: 9
  score_step:
    component: ./score.yml
    inputs:
      model: ${{parent.jobs.inner.outputs.model}}
      data: ${{parent.inputs.raw}}
    outputs:
      scores: ${{parent.outputs.scores}}
"""


def test_nested_pipeline_component_runs_as_a_child_pipeline(server: ServerProc,
                                                            tmp_path: Path) -> None:
    write_pipeline(tmp_path)
    (tmp_path / "sub.yml").write_text(textwrap.dedent(SUB_PIPELINE).lstrip())
    spec = _write(tmp_path, OUTER, "outer.yml")
    (tmp_path / "data/clean.txt").write_text("x y")   # score reads clean.txt from its data
    with MLClient(endpoint=server.url) as c:
        final, steps = run_to_end(c, spec)
        assert final.status == JobStatus.COMPLETED, final.error
        inner = steps["inner"]
        assert inner.type == "pipeline" and inner.parent_job_name == final.name
        inner_steps = {s.step_name: s for s in c.jobs.list(parent_job_name=inner.name)}
        assert set(inner_steps) == {"prep_step", "train_step"}
        assert inner.outputs["model"].path == inner_steps["train_step"].outputs["model"].path
        assert steps["score_step"].inputs["model"].path == inner.outputs["model"].path
        assert read_output(server, c, final, "scores", "scores.txt") == \
            "epochs=9 rows=3 scored=2"
        again, steps2 = run_to_end(c, spec)           # inner steps are reused one by one
        inner2 = {s.step_name: s for s in c.jobs.list(parent_job_name=steps2["inner"].name)}
        assert again.status == JobStatus.COMPLETED
        assert all(s.reused_from for s in inner2.values())
        assert steps2["score_step"].reused_from == steps["score_step"].name


SETUP_CLEANUP = """
type: pipeline
settings:
  on_init: setup
  on_finalize: cleanup
jobs:
  a:
    command: echo a >> {log} && echo x > ${{{{outputs.out}}}}/x.txt
    outputs:
      out:
  b:
    command: cat ${{{{inputs.x}}}}/x.txt && echo b >> {log}
    inputs:
      x: ${{{{parent.jobs.a.outputs.out}}}}
  setup:
    command: echo setup >> {log}
  cleanup:
    command: echo cleanup >> {log}
"""


def _setup_cleanup(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "order.txt"
    return _write(tmp_path, SETUP_CLEANUP.format(log=log)), log


def test_on_init_runs_first_and_on_finalize_last(server: ServerProc, tmp_path: Path) -> None:
    spec, log = _setup_cleanup(tmp_path)
    with MLClient(endpoint=server.url) as c:
        final, steps = run_to_end(c, spec)
        graph = {row["step"]: row for row in c.jobs.steps(final.name)}
        with pytest.raises(InvalidInputError, match="only pipeline jobs have steps"):
            c.jobs.steps(steps["a"].name)
    assert final.status == JobStatus.COMPLETED, final.error
    assert log.read_text().split() == ["setup", "a", "b", "cleanup"]
    assert set(steps) == {"setup", "a", "b", "cleanup"}
    assert {s: row["depends_on"] for s, row in graph.items()} == {
        "a": ["setup"], "b": ["setup", "a"], "setup": [], "cleanup": ["a", "b", "setup"]}
    assert all(row["status"] == "Completed" and row["job"] == steps[s].name
               for s, row in graph.items())


def test_failed_setup_runs_nothing_but_the_cleanup(server: ServerProc, tmp_path: Path) -> None:
    spec, log = _setup_cleanup(tmp_path)
    with MLClient(endpoint=server.url) as c:
        final, steps = run_to_end(c, spec, ["jobs.setup.command=echo setup >> "
                                            f"{log} && exit 3"])
    assert final.status == JobStatus.FAILED
    assert log.read_text().split() == ["setup", "cleanup"]
    assert "step 'setup' Failed" in (final.error or "")
    assert "not run: a, b" in (final.error or "")


def test_cleanup_runs_after_a_failed_step(server: ServerProc, tmp_path: Path) -> None:
    spec, log = _setup_cleanup(tmp_path)
    with MLClient(endpoint=server.url) as c:
        final, steps = run_to_end(c, spec, [f"jobs.a.command=echo a >> {log} && exit 3"])
    assert final.status == JobStatus.FAILED
    assert log.read_text().split() == ["setup", "a", "cleanup"]
    assert steps["cleanup"].status == JobStatus.COMPLETED and "b" not in steps


DATASTORE_PIPELINE = """
type: pipeline
settings:
  default_datastore: azureml:{store}
jobs:
  a:
    command: echo x > ${{{{outputs.out}}}}/x.txt
    outputs:
      out:
  b:
    command: cat ${{{{inputs.x}}}}/x.txt > ${{{{outputs.copy}}}}/y.txt
    inputs:
      x: ${{{{parent.jobs.a.outputs.out}}}}
    outputs:
      copy:
        path: azureml://datastores/${{{{default_datastore}}}}/paths/copies/${{{{name}}}}/
"""


def test_default_datastore_holds_step_outputs(server: ServerProc, tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    root.mkdir()
    spec = _write(tmp_path, DATASTORE_PIPELINE.format(store="scratch"))
    with MLClient(endpoint=server.url) as c:
        c.datastores.create_or_update("scratch", str(root))
        final, steps = run_to_end(c, spec)
    assert final.status == JobStatus.COMPLETED, final.error
    a, b = steps["a"], steps["b"]
    assert a.outputs["out"].path == f"azureml://datastores/scratch/paths/azureml/{a.name}/out/"
    assert (root / "azureml" / a.name / "out" / "x.txt").read_text() == "x\n"
    assert (root / "copies" / b.name / "y.txt").read_text() == "x\n"


def test_unknown_default_datastore_submits_nothing(server: ServerProc, tmp_path: Path) -> None:
    spec = _write(tmp_path, DATASTORE_PIPELINE.format(store="nowhere"))
    with MLClient(endpoint=server.url) as c:
        with pytest.raises(NotFoundError, match="settings.default_datastore: .*nowhere"):
            c.jobs.create_or_update(load_any_job_spec(spec, []))
        assert c.jobs.list() == []
