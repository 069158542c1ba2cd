"""Sweep YAML files (reference 1.3) that load, and the entities they become."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.entities.components import Component
from ember.entities.environments import Environment
from ember.entities.jobs import JobInput, JobOutput
from ember.entities.sweeps import (
    DEFAULT_SWEEP_TIMEOUT,
    EarlyTermination,
    SamplingAlgorithm,
    SearchDistribution,
    SweepLimits,
    sweep_from_dict,
    sweep_to_dict,
)
from ember.specs.sweeps import load_sweep_spec, sweep_spec_from_dict

# The shape of azureml-examples cli/jobs/single-step/.../sweep jobs.
FULL = """
    $schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
    type: sweep
    name: iris-sweep
    display_name: Iris sweep
    experiment_name: iris
    description: Tune the classifier.
    tags:
      team: ml
    compute: azureml:cpu-cluster
    inputs:
      iris:
        type: uri_file
        path: data/iris.csv
      epochs: 10
    outputs:
      model_output:
    trial:
      code: src
      command: >-
        python train.py --data ${{inputs.iris}} --epochs ${{inputs.epochs}}
        --lr ${{search_space.lr}} --batch ${{ search_space.batch }}
        --model ${{outputs.model_output}}
      environment: azureml:AzureML-sklearn-1.5@latest
      environment_variables:
        MODE: sweep
      resources:
        instance_count: 1
      distribution:
        type: pytorch
        process_count_per_instance: 1
    search_space:
      lr:
        type: loguniform
        min_value: -6
        max_value: -1
      batch:
        type: choice
        values: [16, 32, 64]
    sampling_algorithm: random
    objective:
      primary_metric: accuracy
      goal: Maximize
    early_termination:
      type: bandit
      slack_factor: 0.1
      evaluation_interval: 2
      delay_evaluation: 1
    limits:
      max_total_trials: 20
      max_concurrent_trials: 4
      timeout: 7200
      trial_timeout: 600
    identity:
      type: user_identity
    queue_settings:
      job_tier: Standard
"""

MINIMAL = """
    type: sweep
    trial:
      command: python train.py --lr ${{search_space.lr}}
    search_space:
      lr:
        type: uniform
        min_value: 0.01
        max_value: 0.1
    objective:
      primary_metric: loss
      goal: minimize
"""

COMPONENT = """
    $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
    name: train_model
    version: "1"
    command: python train.py --data ${{inputs.data}} --lr ${{inputs.lr}} --model ${{outputs.model}}
    environment:
      image: python:3.11-slim
    inputs:
      data:
        type: uri_folder
      lr:
        type: number
        default: 0.01
    outputs:
      model:
        type: mlflow_model
"""


@pytest.fixture
def files(write: Callable[[str, str], Path]) -> Callable[[str, str], Path]:
    """Write the sweep plus the data and code it names."""
    write("data/iris.csv", "a,b\n1,2\n")
    write("src/train.py", "print('hi')\n")
    return write


def test_full_sweep_lands_in_the_entity(files: Callable[[str, str], Path],
                                        tmp_path: Path) -> None:
    sweep = load_sweep_spec(files("sweep.yml", FULL))
    assert (sweep.name, sweep.display_name, sweep.experiment_name) == (
        "iris-sweep", "Iris sweep", "iris")
    assert sweep.type == "sweep" and sweep.tags == {"team": "ml"}
    assert sweep.compute == "azureml:cpu-cluster"
    assert sweep.inputs["iris"] == JobInput(type="uri_file",
                                            path=str((tmp_path / "data/iris.csv").resolve()),
                                            mode="ro_mount")
    assert sweep.inputs["epochs"] == JobInput(type="integer", value=10)
    assert sweep.outputs == {"model_output": JobOutput()}
    assert sweep.search_space == {
        "lr": SearchDistribution("loguniform", min_value=-6, max_value=-1),
        "batch": SearchDistribution("choice", values=[16, 32, 64]),
    }
    assert sweep.sampling_algorithm == SamplingAlgorithm("random")
    assert (sweep.objective.primary_metric, sweep.objective.goal) == ("accuracy", "maximize")
    assert sweep.early_termination == EarlyTermination(
        "bandit", evaluation_interval=2, delay_evaluation=1, slack_factor=0.1)
    assert sweep.limits == SweepLimits(20, 4, 7200.0, 600.0)
    assert sweep.limits.effective_concurrency == 4
    trial = sweep.trial
    assert trial is not None and sweep.trial_component is None
    assert trial.command.startswith("python train.py --data ${{inputs.iris}}")
    assert trial.code == str((tmp_path / "src").resolve())
    assert trial.environment == "azureml:AzureML-sklearn-1.5@latest"
    assert trial.environment_variables == {"MODE": "sweep"}
    assert trial.inputs == sweep.inputs and trial.outputs == sweep.outputs
    assert sweep.trial_command == trial.command


def test_minimal_sweep_takes_the_defaults(write: Callable[[str, str], Path]) -> None:
    sweep = load_sweep_spec(write("sweep.yml", MINIMAL))
    assert sweep.name == "" and sweep.compute is None
    assert sweep.sampling_algorithm == SamplingAlgorithm("random", None, "random")
    assert sweep.early_termination is None
    assert sweep.limits == SweepLimits()
    assert sweep.limits.max_total_trials == 1000
    assert sweep.limits.effective_concurrency == 1000
    assert sweep.limits.effective_timeout == DEFAULT_SWEEP_TIMEOUT
    assert sweep.trial is not None and sweep.trial.environment is None


def test_every_distribution_loads(write: Callable[[str, str], Path]) -> None:
    text = MINIMAL.replace("""
      lr:
        type: uniform
        min_value: 0.01
        max_value: 0.1""", """
      lr: {type: uniform, min_value: 0.01, max_value: 0.1}
      a: {type: choice, values: [relu, 2, 0.5, true]}
      b: {type: randint, upper: 5}
      c: {type: quniform, min_value: 1, max_value: 100, q: 5}
      d: {type: loguniform, min_value: -5, max_value: 0}
      e: {type: qloguniform, min_value: 0, max_value: 4, q: 2}
      f: {type: normal, mu: 0, sigma: 1.5}
      g: {type: lognormal, mu: 1, sigma: 0.5}
      h: {type: qnormal, mu: 10, sigma: 3, q: 1}
      i: {type: qlognormal, mu: 2, sigma: 0.3, q: 0.5}""")
    space = load_sweep_spec(write("sweep.yml", text)).search_space
    assert space["a"] == SearchDistribution("choice", values=["relu", 2, 0.5, True])
    assert space["b"] == SearchDistribution("randint", upper=5)
    assert space["c"] == SearchDistribution("quniform", min_value=1, max_value=100, q=5)
    assert isinstance(space["c"].q, int)          # kept as written
    assert space["d"] == SearchDistribution("loguniform", min_value=-5, max_value=0)
    assert space["e"] == SearchDistribution("qloguniform", min_value=0, max_value=4, q=2)
    assert space["f"] == SearchDistribution("normal", mu=0, sigma=1.5)
    assert space["g"] == SearchDistribution("lognormal", mu=1, sigma=0.5)
    assert space["h"] == SearchDistribution("qnormal", mu=10, sigma=3, q=1)
    assert space["i"] == SearchDistribution("qlognormal", mu=2, sigma=0.3, q=0.5)
    assert [d.kind for d in space.values()] == [
        "uniform", "choice", "randint", "quniform", "loguniform", "qloguniform", "normal",
        "lognormal", "qnormal", "qlognormal"]


@pytest.mark.parametrize(("text", "expected"), [
    ("sampling_algorithm: grid", SamplingAlgorithm("grid")),
    ("sampling_algorithm: Bayesian", SamplingAlgorithm("bayesian")),
    ("sampling_algorithm: RANDOM", SamplingAlgorithm("random")),
    ("sampling_algorithm: {type: random, seed: 42, rule: sobol}",
     SamplingAlgorithm("random", 42, "sobol")),
    ("sampling_algorithm: {type: random, rule: Random}", SamplingAlgorithm("random")),
    ("sampling_algorithm: {type: bayesian, seed: 7}", SamplingAlgorithm("bayesian", 7)),
    ("sampling_algorithm: {type: grid}", SamplingAlgorithm("grid")),
])
def test_sampling_forms(write: Callable[[str, str], Path], text: str,
                        expected: SamplingAlgorithm) -> None:
    choice_space = MINIMAL.replace("type: uniform\n        min_value: 0.01\n"
                                   "        max_value: 0.1", "type: choice\n"
                                   "        values: [0.01, 0.1]")
    sweep = load_sweep_spec(write("sweep.yml", choice_space + f"    {text}\n"))
    assert sweep.sampling_algorithm == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("{type: bandit, slack_amount: 0.2}", EarlyTermination("bandit", slack_amount=0.2)),
    ("{type: median_stopping, evaluation_interval: 3, delay_evaluation: 2}",
     EarlyTermination("median_stopping", evaluation_interval=3, delay_evaluation=2)),
    ("{type: truncation_selection, truncation_percentage: 20, exclude_finished_jobs: true}",
     EarlyTermination("truncation_selection", truncation_percentage=20,
                      exclude_finished_jobs=True)),
])
def test_early_termination_types(write: Callable[[str, str], Path], text: str,
                                 expected: EarlyTermination) -> None:
    sweep = load_sweep_spec(write("sweep.yml", MINIMAL + f"    early_termination: {text}\n"))
    assert sweep.early_termination == expected


def test_component_file_trial(write: Callable[[str, str], Path], tmp_path: Path) -> None:
    write("components/train.yml", COMPONENT)
    write("data/x.txt", "x")
    path = write("sweep.yml", """
        type: sweep
        trial: ./components/train.yml
        inputs:
          data:
            type: uri_folder
            path: ./data
        outputs:
          model:
            type: mlflow_model
        search_space:
          lr: {type: uniform, min_value: 0.001, max_value: 0.1}
        sampling_algorithm: {type: random, rule: sobol, seed: 1}
        objective: {primary_metric: val_loss, goal: minimize}
    """)
    sweep = load_sweep_spec(path)
    assert sweep.trial is None and sweep.trial_component_ref is None
    comp = sweep.trial_component
    assert isinstance(comp, Component)
    assert comp.name == "train_model" and set(comp.inputs) == {"data", "lr"}
    assert comp.environment == Environment(image="python:3.11-slim")
    assert sweep.trial_command == comp.command
    assert sweep.inputs["data"].path == str((tmp_path / "data").resolve())
    assert json.loads(json.dumps(sweep_to_dict(sweep))) == sweep_to_dict(sweep)
    assert sweep_from_dict(json.loads(json.dumps(sweep_to_dict(sweep)))) == sweep


def test_component_reference_trial(write: Callable[[str, str], Path]) -> None:
    text = MINIMAL.replace("trial:\n      command: python train.py --lr ${{search_space.lr}}",
                           "trial: azureml:train_model@latest")
    sweep = load_sweep_spec(write("sweep.yml", text))
    assert sweep.trial_component_ref == "azureml:train_model@latest"
    assert sweep.trial is None and sweep.trial_component is None
    assert sweep.trial_command is None


def test_inline_component_trial(write: Callable[[str, str], Path]) -> None:
    sweep = load_sweep_spec(write("sweep.yml", """
        type: sweep
        trial:
          type: command
          command: python train.py --lr ${{inputs.lr}}
          environment: {image: python:3.11-slim}
          inputs:
            lr: {type: number}
        search_space:
          lr: {type: choice, values: [0.1, 0.01]}
        sampling_algorithm: grid
        objective: {primary_metric: acc, goal: maximize}
    """))
    assert sweep.trial_component is not None
    assert sweep.trial_component.name == "trial"
    assert sweep.trial_component.inputs["lr"].type == "number"


def test_grid_smaller_than_max_total_trials_is_fine(write: Callable[[str, str], Path]) -> None:
    text = MINIMAL.replace("type: uniform\n        min_value: 0.01\n        max_value: 0.1",
                           "type: choice\n        values: [0.01, 0.1]")
    sweep = load_sweep_spec(write("sweep.yml", text + """
    sampling_algorithm: grid
    limits: {max_total_trials: 50}
"""))
    assert sweep.sampling_algorithm.type == "grid" and sweep.limits.max_total_trials == 50


def test_overrides_apply(write: Callable[[str, str], Path]) -> None:
    sweep = load_sweep_spec(write("sweep.yml", MINIMAL),
                            ["limits.max_total_trials=5", "search_space.lr.max_value=0.5"])
    assert sweep.limits.max_total_trials == 5
    assert sweep.search_space["lr"].max_value == 0.5


def test_sweep_from_plain_dict(tmp_path: Path) -> None:
    data = {
        "type": "sweep",
        "trial": {"command": "python t.py ${{search_space.n}}"},
        "search_space": {"n": {"type": "randint", "upper": 3}},
        "objective": {"primary_metric": "m", "goal": "MINIMIZE"},
    }
    sweep = sweep_spec_from_dict(data, "api", tmp_path)
    assert sweep.search_space["n"].upper == 3 and sweep.objective.goal == "minimize"


def test_round_trip_through_json(files: Callable[[str, str], Path]) -> None:
    sweep = load_sweep_spec(files("sweep.yml", FULL))
    body = json.loads(json.dumps(sweep_to_dict(sweep)))
    assert body["search_space"]["lr"] == {"type": "loguniform", "min_value": -6,
                                          "max_value": -1}
    assert body["objective"] == {"primary_metric": "accuracy", "goal": "maximize"}
    assert sweep_from_dict(body) == sweep
    # An inline environment survives too.
    inline = FULL.replace("environment: azureml:AzureML-sklearn-1.5@latest",
                          "environment: {image: python:3.11-slim}")
    sweep = load_sweep_spec(files("inline.yml", inline))
    assert isinstance(sweep.trial.environment, Environment)  # type: ignore[union-attr]
    assert sweep_from_dict(json.loads(json.dumps(sweep_to_dict(sweep)))) == sweep
