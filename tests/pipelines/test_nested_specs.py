"""Nested pipeline components (``type: pipeline`` steps) in pipeline YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ember.entities.pipelines import pipeline_from_plain
from ember.errors import SpecError
from ember.specs.pipelines import load_pipeline_spec

SUB = """
type: pipeline
name: sub_flow
inputs:
  n: {type: integer, default: 2}
  data: {type: uri_folder}
outputs:
  out: {type: uri_folder}
jobs:
  work:
    command: ls ${{inputs.d}} && echo ${{inputs.n}} > ${{outputs.o}}/n.txt
    inputs:
      d: ${{parent.inputs.data}}
      n: ${{parent.inputs.n}}
    outputs:
      o: ${{parent.outputs.out}}
"""
OUTER = """
type: pipeline
inputs:
  raw: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/raw/}
jobs:
  nested:
    type: pipeline
    component: ./sub.yml
    inputs:
      data: ${{parent.inputs.raw}}
  after:
    command: cat ${{inputs.x}}/n.txt
    inputs:
      x: ${{parent.jobs.nested.outputs.out}}
"""


def _files(tmp_path: Path, sub: str = SUB, outer: str = OUTER) -> Path:
    (tmp_path / "sub.yml").write_text(textwrap.dedent(sub).lstrip())
    spec = tmp_path / "outer.yml"
    spec.write_text(textwrap.dedent(outer).lstrip())
    return spec


def test_nested_pipeline_loads_its_interface_and_body(tmp_path: Path) -> None:
    pipeline = load_pipeline_spec(_files(tmp_path))
    step = pipeline.jobs["nested"]
    assert step.kind == "pipeline" and step.component is not None
    assert set(step.component.inputs) == {"n", "data"} and step.component.inputs["n"].default == 2
    body = pipeline_from_plain(step.pipeline or {})
    assert list(body.jobs) == ["work"] and body.inputs["n"].value == 2
    assert pipeline.jobs["after"].upstream() == ["nested"]


def test_nested_pipeline_port_errors_name_the_step(tmp_path: Path) -> None:
    bad = OUTER.replace("      data: ${{parent.inputs.raw}}", "      dta: ${{parent.inputs.raw}}")
    with pytest.raises(SpecError) as err:
        load_pipeline_spec(_files(tmp_path, outer=bad))
    assert "jobs.nested.inputs.dta" in str(err.value) and "did you mean 'data'" in str(err.value)
    unbound = OUTER.replace("      data: ${{parent.inputs.raw}}\n", "")
    unbound = unbound.replace("    inputs:\n  after", "  after")
    with pytest.raises(SpecError) as err:
        load_pipeline_spec(_files(tmp_path, outer=unbound))
    assert "required input 'data'" in str(err.value)


def test_errors_inside_the_nested_file_name_that_file(tmp_path: Path) -> None:
    bad_sub = SUB.replace("${{parent.inputs.n}}", "${{parent.inputs.m}}")
    with pytest.raises(SpecError) as err:
        load_pipeline_spec(_files(tmp_path, sub=bad_sub))
    assert "sub.yml" in str(err.value) and "parent.inputs.m" in str(err.value)
