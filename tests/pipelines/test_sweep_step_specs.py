"""``type: sweep`` steps in pipeline YAML: loaded as a sweep, checked with file:line:key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ember.entities.sweeps import sweep_from_dict
from ember.errors import SpecError
from ember.specs.pipelines import load_pipeline_spec

COMPONENT = """
name: tune_trial
environment: {image: python:3.11-slim}
command: python t.py ${{inputs.data}} ${{inputs.quality}} ${{outputs.model}}
inputs:
  data: {type: uri_folder}
  quality: {type: number}
outputs:
  model: {type: uri_folder}
"""
PIPELINE = """
type: pipeline
inputs:
  raw: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/raw/}
jobs:
  tune:
    type: sweep
    trial: ./tune.yml
    inputs:
      data: ${{parent.inputs.raw}}
    search_space:
      quality: {type: choice, values: [1, 2]}
    sampling_algorithm: grid
    objective: {primary_metric: acc, goal: maximize}
    limits: {max_total_trials: 2}
  after:
    command: ls ${{inputs.m}}
    inputs:
      m: ${{parent.jobs.tune.outputs.model}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "tune.yml").write_text(textwrap.dedent(COMPONENT).lstrip())
    spec = tmp_path / "p.yml"
    spec.write_text(textwrap.dedent(text).lstrip())
    return spec


def test_sweep_step_loads_with_its_trial_and_bindings(tmp_path: Path) -> None:
    pipeline = load_pipeline_spec(_write(tmp_path, PIPELINE))
    step = pipeline.jobs["tune"]
    assert step.kind == "sweep" and step.inputs["data"].parent_input == "raw"
    assert step.component is not None and set(step.component.inputs) == {"data"}
    sweep = sweep_from_dict(step.sweep or {})
    assert sweep.trial_component is not None and sweep.trial_component.name == "tune_trial"
    assert sweep.sampling_algorithm.type == "grid" and sweep.inputs == {}
    assert pipeline.jobs["after"].upstream() == ["tune"]


def test_sweep_step_errors_name_the_step_key_and_line(tmp_path: Path) -> None:
    bad = PIPELINE.replace("{type: choice, values: [1, 2]}",
                           "{type: uniform, min_value: 0, max_value: 1}")
    with pytest.raises(SpecError) as err:
        load_pipeline_spec(_write(tmp_path, bad))
    text = str(err.value)
    assert "jobs.tune.search_space.quality.type" in text and "p.yml:11" in text
    unknown = PIPELINE.replace("    limits: {max_total_trials: 2}",
                               "    limits: {max_total_trials: 2}\n    sampling: grid")
    with pytest.raises(SpecError) as err:
        load_pipeline_spec(_write(tmp_path, unknown))
    assert "sampling" in str(err.value) and "jobs.tune" in str(err.value)
