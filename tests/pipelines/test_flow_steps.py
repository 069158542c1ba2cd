"""A prompt flow as a pipeline step (``load_component("flow.dag.yaml")``, ``component:
./flow.dag.yaml``): data prep -> flow -> evaluation flow as one pipeline, run for real."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import httpx
import pytest

from ember.client.dsl import ArgumentError, load_component, pipeline
from ember.client.mlclient import MLClient
from ember.entities.jobs import Job
from ember.errors import SpecError
from ember.specs.any_job import load_any_job_spec
from tests.conftest import WorkspaceServer, job_log, wait_ended
from tests.test_cli import create_job

FLOWS = Path(__file__).parent / "flows"
# A literal mapping value with what a shell would take apart: a quote, $VAR, ${...}.
SUFFIX = " it's $HOME ${data.x}"

PREP = """
name: prep
environment: {image: python:3.11-slim}
code: ./src
outputs:
  out: {type: uri_folder}
command: python prep.py ${{outputs.out}}
"""
PREP_PY = """
import json, sys
from pathlib import Path
with open(Path(sys.argv[1]) / "lines.jsonl", "w") as fh:
    for text in ("a", "b", "c"):
        fh.write(json.dumps({"text": text}) + "\\n")
"""


def _prep(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "prep.py").write_text(textwrap.dedent(PREP_PY))
    (tmp_path / "prep.yml").write_text(PREP)
    return tmp_path / "prep.yml"


def _children(client: MLClient, name: str) -> dict[str, Job]:
    """The pipeline's step jobs by step name (``<pipeline>-<step>``)."""
    return {j.name.removeprefix(f"{name}-"): j
            for j in client.jobs.list(parent_job_name=name)}


def _output_rows(client: MLClient, job: str, output: str, tmp_path: Path) -> list[dict]:
    target = tmp_path / f"dl-{job}-{output}"
    client.jobs.download(job, target, output_name=output)
    files = sorted(p.name for p in (target / "named-outputs" / output).iterdir())
    assert files == ["output.jsonl"]
    text = (target / "named-outputs" / output / "output.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _mlflow_metrics(server: WorkspaceServer, run_id: str) -> dict[str, float]:
    resp = httpx.get(f"{server.tracking_uri}/api/2.0/mlflow/runs/get",
                     params={"run_id": run_id}, headers=server.headers, timeout=30)
    resp.raise_for_status()
    return {m["key"]: m["value"] for m in resp.json()["run"]["data"].get("metrics", [])}


def _check_run(server: WorkspaceServer, client: MLClient, name: str, tmp_path: Path,
               flow_step: str, eval_step: str) -> None:
    job = wait_ended(client, name, timeout=240)
    steps = _children(client, name)
    assert job.status == "Completed", (job.error, {s: job_log(client, j.name)[-2000:]
                                                   for s, j in steps.items()})
    rows = _output_rows(client, steps[flow_step].name, "flow_outputs", tmp_path)
    assert rows == [{"line_number": i, "output": t + SUFFIX}
                    for i, t in enumerate(("A", "B", "C"))]
    verdicts = _output_rows(client, steps[eval_step].name, "flow_outputs", tmp_path)
    assert [v["verdict"] for v in verdicts] == ["Correct", "Incorrect", "Incorrect"]
    metrics = _mlflow_metrics(server, steps[eval_step].name)
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["completed_lines"] == 3
    assert _mlflow_metrics(server, steps[flow_step].name)["shouted"] == 3


def test_flow_steps_in_a_dsl_pipeline(server: WorkspaceServer, tmp_path: Path) -> None:
    prep = load_component(_prep(tmp_path))
    shout = load_component(FLOWS / "shout" / "flow.dag.yaml")
    judge = load_component(FLOWS / "judge")   # the folder works too
    assert set(shout.component.inputs) == {"data", "run_outputs", "connections", "text",
                                           "suffix"}
    assert set(shout.component.outputs) == {"flow_outputs", "debug_info"}

    @pipeline(experiment_name="flow-steps")
    def prep_flow_eval() -> dict:
        data = prep()
        main = shout(data=data.outputs.out, text="${data.text}", suffix=SUFFIX)
        evaluation = judge(data=main.outputs.flow_outputs, prediction="${data.output}",
                           expected="A" + SUFFIX)
        # The same evaluation as promptflow's (--run): the base run's outputs by line number.
        by_run = judge(data=data.outputs.out, run_outputs=main.outputs.debug_info,
                       prediction="${run.outputs.output}", expected="A" + SUFFIX)
        by_run.name = "by_run"
        return {"verdicts": evaluation.outputs.flow_outputs}

    with MLClient() as client:
        created = client.jobs.create_or_update(prep_flow_eval())
        _check_run(server, client, created.name, tmp_path, "shout", "judge")
        step = _children(client, created.name)["by_run"].name
        verdicts = _output_rows(client, step, "flow_outputs", tmp_path)
        assert [v["verdict"] for v in verdicts] == ["Correct", "Incorrect", "Incorrect"]
        debug = tmp_path / "debug"
        client.jobs.download(_children(client, created.name)["shout"].name, debug,
                             output_name="debug_info")
        assert sorted(p.name for p in (debug / "named-outputs" / "debug_info").iterdir()) == [
            "details.jsonl", "metrics.json", "output.jsonl", "summary.json"]


def test_sdk_connections_and_literals_become_step_inputs(tmp_path: Path) -> None:
    shout = load_component(FLOWS / "shout")

    @pipeline
    def one() -> None:
        shout(data=tmp_path, text="${data.text}", suffix=3,
              connections={"shout": {"connection": "my_openai", "deployment_name": "gpt"}})

    step = one().jobs["shout"]
    assert step.inputs["suffix"].literal == "3"
    assert json.loads(step.inputs["connections"].literal) == {
        "shout": {"connection": "my_openai", "deployment_name": "gpt"}}
    flat = load_component(FLOWS / "shout")

    @pipeline
    def two() -> None:
        flat(data=tmp_path, **{"connections.shout.connection": "other"})

    step = two().jobs["shout"]
    assert json.loads(step.inputs["connections"].literal) == {"shout": {"connection": "other"}}


def test_a_run_yaml_is_a_flow_component_with_its_mapping_as_defaults(tmp_path: Path) -> None:
    shutil.copytree(FLOWS / "shout", tmp_path / "shout")
    run = tmp_path / "run.yml"
    run.write_text(textwrap.dedent("""
        $schema: https://azuremlschemas.azureedge.net/promptflow/latest/Run.schema.json
        flow: ./shout
        column_mapping:
          text: ${data.text}
        connections:
          shout: {connection: my_openai}
        environment_variables:
          GREETING: hi
    """))
    component = load_component(run).component
    assert component.name == "shout"
    assert component.inputs["text"].default == "${data.text}"
    assert component.inputs["suffix"].default is None
    assert json.loads(component.inputs["connections"].default) == {
        "shout": {"connection": "my_openai"}}
    run.write_text(run.read_text().replace("text: ${data.text}", "texte: ${data.text}"))
    with pytest.raises(SpecError, match="texte"):
        load_component(run)


PIPELINE = """
type: pipeline
experiment_name: flow-steps
jobs:
  prep:
    component: ./prep.yml
  main:
    type: parallel
    component: ./flows/shout/flow.dag.yaml
    inputs:
      data: ${{parent.jobs.prep.outputs.out}}
      text: "${data.text}"
      suffix: %s
  evaluation:
    type: parallel
    component: ./flows/judge
    inputs:
      data: ${{parent.jobs.main.outputs.flow_outputs}}
      prediction: "${data.output}"
      expected: %s
""" % (json.dumps(SUFFIX), json.dumps("A" + SUFFIX))


def test_flow_steps_in_a_yaml_pipeline(server: WorkspaceServer, tmp_path: Path) -> None:
    _prep(tmp_path)
    shutil.copytree(FLOWS, tmp_path / "flows")
    spec = tmp_path / "pipeline.yml"
    spec.write_text(PIPELINE)
    name = create_job(server.proc, spec)
    with MLClient() as client:
        _check_run(server, client, name, tmp_path, "main", "evaluation")


def test_yaml_flow_step_inputs_connections_and_literals(tmp_path: Path) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    spec = tmp_path / "pipeline.yml"
    spec.write_text(textwrap.dedent("""
        type: pipeline
        inputs:
          lines: {type: uri_file, path: ./flows/shout/flow.dag.yaml}
        jobs:
          main:
            type: parallel
            component: ./flows/shout
            inputs:
              data: ${{parent.inputs.lines}}
              text: "${data.text}"
              suffix: 3
              connections.shout.connection: my_openai
              connections.shout.deployment_name: gpt-4o
    """))
    job = load_any_job_spec(spec)
    step = job.jobs["main"]
    assert step.component is not None and step.component.name == "shout"
    assert step.inputs["text"].literal == "${data.text}"
    assert step.inputs["suffix"].literal == "3"
    assert json.loads(step.inputs["connections"].literal) == {
        "shout": {"connection": "my_openai", "deployment_name": "gpt-4o"}}


def test_unknown_flow_input_is_refused(tmp_path: Path) -> None:
    shout = load_component(FLOWS / "shout")

    @pipeline
    def bad() -> None:
        shout(data=str(tmp_path), texte="${data.text}")

    with pytest.raises(ArgumentError, match="has no input 'texte'.*text"):
        bad()

    shutil.copytree(FLOWS, tmp_path / "flows")
    spec = tmp_path / "pipeline.yml"
    spec.write_text(textwrap.dedent("""
        type: pipeline
        jobs:
          main:
            type: parallel
            component: ./flows/shout/flow.dag.yaml
            inputs:
              data: {type: uri_folder, path: ./flows}
              texte: "${data.text}"
    """))
    with pytest.raises(SpecError, match="texte"):
        load_any_job_spec(spec)


def test_a_flow_that_does_not_validate_names_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(FLOWS / "shout", folder)
    text = (folder / "flow.dag.yaml").read_text().replace("${shout.output}", "${nowhere.output}")
    (folder / "flow.dag.yaml").write_text(text)
    with pytest.raises(SpecError) as err:
        load_component(folder / "flow.dag.yaml")
    assert "flow.dag.yaml" in str(err.value) and "nowhere" in str(err.value)
    spec = tmp_path / "pipeline.yml"
    spec.write_text("type: pipeline\njobs:\n  main:\n    type: parallel\n"
                    "    component: ./broken\n    inputs:\n      data: {type: uri_folder, path: ./broken}\n")
    with pytest.raises(SpecError) as err:
        load_any_job_spec(spec)
    assert "flow.dag.yaml" in str(err.value) and "nowhere" in str(err.value)
