"""Pipelines run for real: child jobs, outputs by URI, reuse, failures, cancel, restart."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ember.client.mlclient import MLClient
from ember.entities.jobs import Job, JobStatus
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
