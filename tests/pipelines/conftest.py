"""Helpers for pipeline spec tests: real YAML files (and the components they use) in tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

PREP = """
name: prep
command: python prep.py --raw ${{inputs.raw}} --out ${{outputs.clean}}
environment: azureml:py311:1
code: ./src
inputs:
  raw: {type: uri_folder}
outputs:
  clean: {type: uri_folder}
"""

TRAIN = """
name: train
command: >-
  python train.py --data ${{inputs.data}} --epochs ${{inputs.epochs}}
  $[[--lr ${{inputs.lr}}]] --model ${{outputs.model}}
environment: azureml:py311:1
code: ./src
inputs:
  data: {type: uri_folder}
  epochs: {type: integer, default: 3, min: 1, max: 50}
  lr: {type: number, optional: true}
outputs:
  model: {type: uri_folder}
  metrics_file: {type: uri_file}
"""

SCORE = """
name: score
command: python score.py --model ${{inputs.model}} --data ${{inputs.data}} --out ${{outputs.scores}}
environment: azureml:py311:1
code: ./src
inputs:
  model: {type: uri_folder}
  data: {type: uri_folder}
  threshold: {type: number, default: 0.5}
outputs:
  scores: {type: uri_file}
"""

PIPELINE = """
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: three-steps
experiment_name: pipes
settings:
  default_compute: azureml:cpu-cluster
inputs:
  raw_data:
    type: uri_folder
    path: ./data
  epochs: 5
outputs:
  final_scores:
    type: uri_file
    mode: upload
jobs:
  prep:
    component: ./components/prep.yml
    inputs:
      raw: ${{parent.inputs.raw_data}}
  train:
    type: command
    component: ./components/train.yml
    compute: azureml:gpu-cluster
    inputs:
      data: ${{parent.jobs.prep.outputs.clean}}
      epochs: ${{parent.inputs.epochs}}
      lr: 0.01
  score:
    component: ./components/score.yml
    inputs:
      model: ${{parent.jobs.train.outputs.model}}
      data: ${{parent.jobs.prep.outputs.clean}}
    outputs:
      scores: ${{parent.outputs.final_scores}}
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write("pipeline.yml", yaml_text)`` → the path; dedents, creates parent folders."""

    def _write(name: str, text: str = "") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def project(tmp_path: Path, write: Callable[..., Path]) -> Path:
    """A folder with data/, components/src/ and the three component files; returns tmp_path."""
    (tmp_path / "data").mkdir()
    (tmp_path / "components" / "src").mkdir(parents=True)
    write("components/prep.yml", PREP)
    write("components/train.yml", TRAIN)
    write("components/score.yml", SCORE)
    return tmp_path
