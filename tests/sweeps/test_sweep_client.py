"""The SDK surface: distributions, policies and sweep_job(), checked by the YAML rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.client.builders import CommandJob, Input, command
from ember.client.sweeps import (
    BanditPolicy,
    BayesianSamplingAlgorithm,
    Choice,
    GridSamplingAlgorithm,
    LogNormal,
    LogUniform,
    MedianStoppingPolicy,
    Normal,
    QLogNormal,
    QLogUniform,
    QNormal,
    QUniform,
    Randint,
    RandomSamplingAlgorithm,
    TruncationSelectionPolicy,
    Uniform,
    sweep_job,
)
from ember.entities.components import Component, ComponentInput, ComponentOutput
from ember.entities.jobs import JobInput
from ember.entities.sweeps import (
    EarlyTermination,
    SamplingAlgorithm,
    SearchDistribution,
    SweepLimits,
    sweep_from_dict,
    sweep_to_dict,
)
from ember.errors import InvalidInputError, SpecError
from ember.specs.sweeps import load_sweep_spec

CMD = ("python train.py --lr ${{inputs.lr}} --batch ${{ inputs.batch }} "
       "--epochs ${{inputs.epochs}}")


def trial() -> CommandJob:
    return command(command=CMD, environment="azureml:sklearn:1", name="tune",
                   experiment_name="exp", display_name="Tune", tags={"a": "b"}, timeout=300,
                   inputs={"lr": Uniform(0.01, 0.1), "batch": Choice([16, 32]),
                           "epochs": 5})


def test_distributions_become_entities() -> None:
    D = SearchDistribution
    assert Choice([1, "a"]).to_entity() == D("choice", values=[1, "a"])
    assert Randint(5).to_entity() == D("randint", upper=5)
    assert Uniform(0, 1).to_entity() == D("uniform", min_value=0, max_value=1)
    assert QUniform(0, 10, 2).to_entity() == D("quniform", min_value=0, max_value=10, q=2)
    assert LogUniform(-3, 0).to_entity() == D("loguniform", min_value=-3, max_value=0)
    assert QLogUniform(0, 3, 1).to_entity() == D("qloguniform", min_value=0, max_value=3, q=1)
    assert Normal(0, 1).to_entity() == D("normal", mu=0, sigma=1)
    assert LogNormal(0, 1).to_entity() == D("lognormal", mu=0, sigma=1)
    assert QNormal(0, 1, 1).to_entity() == D("qnormal", mu=0, sigma=1, q=1)
    assert QLogNormal(0, 1, 1).to_entity() == D("qlognormal", mu=0, sigma=1, q=1)


def test_policies_become_entities() -> None:
    assert BanditPolicy(slack_factor=0.1, evaluation_interval=2).to_entity() == \
        EarlyTermination("bandit", evaluation_interval=2, slack_factor=0.1)
    assert MedianStoppingPolicy(delay_evaluation=3).to_entity() == \
        EarlyTermination("median_stopping", delay_evaluation=3)
    assert TruncationSelectionPolicy(20, exclude_finished_jobs=True).to_entity() == \
        EarlyTermination("truncation_selection", truncation_percentage=20,
                         exclude_finished_jobs=True)


def test_search_space_from_trial_inputs() -> None:
    sweep = sweep_job(trial(), primary_metric="acc", goal="Maximize", max_total_trials=8,
                      max_concurrent_trials=2, early_termination_policy=BanditPolicy(0.2))
    assert sweep.search_space == {"lr": SearchDistribution("uniform", min_value=0.01,
                                                           max_value=0.1),
                                  "batch": SearchDistribution("choice", values=[16, 32])}
    assert sweep.inputs == {"epochs": JobInput(type="integer", value=5)}
    assert sweep.trial is not None
    assert sweep.trial.command == ("python train.py --lr ${{search_space.lr}} --batch "
                                   "${{search_space.batch}} --epochs ${{inputs.epochs}}")
    assert sweep.trial.inputs == sweep.inputs
    assert (sweep.name, sweep.display_name, sweep.experiment_name) == ("tune", "Tune", "exp")
    assert sweep.tags == {"a": "b"}
    assert sweep.objective.goal == "maximize"
    assert sweep.limits == SweepLimits(8, 2, None, 300)        # trial timeout from the job
    assert sweep.early_termination == EarlyTermination("bandit", slack_factor=0.2)
    assert sweep.compute == "local"
    assert sweep_from_dict(json.loads(json.dumps(sweep_to_dict(sweep)))) == sweep


def test_command_job_sweep_method() -> None:
    sweep = trial().sweep(primary_metric="acc", goal="minimize", seed=1)
    assert set(sweep.search_space) == {"lr", "batch"}
    assert sweep.sampling_algorithm == SamplingAlgorithm("random", seed=1)


def test_hyperparameter_given_twice_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="'lr' is given both as a trial input"):
        sweep_job(trial(), primary_metric="acc", goal="minimize",
                  search_space={"lr": Choice([0.1, 0.01])})


def test_explicit_search_space_replaces_a_literal_input() -> None:
    job = command(command="python t.py --lr ${{inputs.lr}}", inputs={"lr": 0.1})
    sweep = sweep_job(job, primary_metric="acc", goal="maximize", sampling_algorithm="Grid",
                      search_space={"lr": Choice([0.1, 0.01])}, seed=3)
    assert sweep.inputs == {} and sweep.search_space["lr"].values == [0.1, 0.01]
    assert sweep.trial is not None
    assert sweep.trial.command == "python t.py --lr ${{search_space.lr}}"
    assert sweep.sampling_algorithm == SamplingAlgorithm("grid", seed=3)


@pytest.mark.parametrize(("algorithm", "seed", "expected"), [
    (RandomSamplingAlgorithm(seed=1, rule="sobol"), None,
     SamplingAlgorithm("random", 1, "sobol")),
    (RandomSamplingAlgorithm(seed=1), 9, SamplingAlgorithm("random", 9)),
    (BayesianSamplingAlgorithm(), None, SamplingAlgorithm("bayesian")),
    (GridSamplingAlgorithm(), None, SamplingAlgorithm("grid")),
    ("bayesian", 5, SamplingAlgorithm("bayesian", 5)),
])
def test_sampling_algorithm_forms(algorithm: str | SamplingAlgorithm, seed: int | None,
                                  expected: SamplingAlgorithm) -> None:
    job = command(command="python t.py ${{inputs.b}}", inputs={"b": Choice([1, 2])})
    sweep = sweep_job(job, primary_metric="m", goal="minimize", sampling_algorithm=algorithm,
                      seed=seed)
    assert sweep.sampling_algorithm == expected


@pytest.mark.parametrize(("kwargs", "key", "reason"), [
    ({"sampling_algorithm": "grid"}, "search_space.lr.type",
     "grid sampling supports only choice distributions; hyperparameter 'lr' is uniform"),
    ({"early_termination_policy": BanditPolicy(slack_factor=0.1, slack_amount=0.2)},
     "early_termination.slack_amount", "not both"),
    ({"early_termination_policy": BanditPolicy()}, "early_termination",
     "needs slack_factor or slack_amount"),
    ({"early_termination_policy": TruncationSelectionPolicy(100)},
     "early_termination.truncation_percentage", "from 1 to 99"),
    ({"max_total_trials": 2, "max_concurrent_trials": 3}, "limits.max_concurrent_trials",
     "3 is more than max_total_trials (2)"),
    ({"goal": "up"}, "objective.goal", "'up' is not one of"),
    ({"primary_metric": ""}, "objective.primary_metric", "must be a non-empty metric name"),
    ({"search_space": {"n": Randint(0)}}, "search_space.n.upper", "must be a positive integer"),
    ({"search_space": {"s": Normal(0, -1)}}, "search_space.s.sigma", "must be a positive"),
    ({"seed": -3}, "sampling_algorithm.seed", "must be an integer from 0"),
    ({"timeout": 0}, "limits.timeout", "must be a positive number of seconds"),
])
def test_sdk_sweeps_obey_the_yaml_rules(kwargs: dict[str, object], key: str,
                                        reason: str) -> None:
    job = command(command="python t.py ${{inputs.lr}}", inputs={"lr": Uniform(0.01, 0.1)})
    args: dict[str, object] = {"primary_metric": "acc", "goal": "maximize", **kwargs}
    with pytest.raises(SpecError) as info:
        sweep_job(job, **args)  # type: ignore[arg-type]
    assert info.value.key == key and reason in str(info.value), str(info.value)
    assert str(info.value).startswith(f"{key}: ")


def test_unknown_search_space_reference_in_the_command() -> None:
    job = command(command="python t.py ${{search_space.lrr}}", inputs={"lr": Uniform(0, 1)})
    with pytest.raises(SpecError, match="undeclared hyperparameter 'lrr'") as info:
        sweep_job(job, primary_metric="acc", goal="maximize")
    assert info.value.key == "trial.command" and info.value.hint == "did you mean 'lr'?"


def test_a_sweep_needs_a_hyperparameter() -> None:
    with pytest.raises(SpecError, match="search_space: must define at least one"):
        sweep_job(command(command="python t.py"), primary_metric="acc", goal="maximize")


def test_bad_input_value() -> None:
    with pytest.raises(InvalidInputError, match="input 'x' must be a literal"):
        sweep_job(command(command="python t.py"), primary_metric="acc", goal="maximize",
                  inputs={"x": [1, 2]}, search_space={"lr": Uniform(0, 1)})


COMPONENT = Component(
    name="train", command="python t.py --data ${{inputs.data}} --lr ${{inputs.lr}} "
                          "--model ${{outputs.model}}",
    environment="azureml:env:1",
    inputs={"data": ComponentInput(type="uri_folder"),
            "lr": ComponentInput(type="number", default=0.1)},
    outputs={"model": ComponentOutput(type="mlflow_model")})


def test_component_trial() -> None:
    sweep = sweep_job(COMPONENT, primary_metric="loss", goal="minimize",
                      inputs={"data": Input(type="uri_folder", path="azureml:iris:1"),
                              "lr": LogUniform(-5, -1)}, compute="azureml:gpu")
    assert sweep.trial is None and sweep.trial_component is COMPONENT
    assert sweep.search_space == {"lr": SearchDistribution("loguniform", min_value=-5,
                                                           max_value=-1)}
    assert sweep.inputs == {"data": JobInput(type="uri_folder", path="azureml:iris:1")}
    assert sweep.compute == "azureml:gpu" and sweep.limits.trial_timeout is None
    assert sweep_from_dict(json.loads(json.dumps(sweep_to_dict(sweep)))) == sweep


@pytest.mark.parametrize(("kwargs", "key", "reason"), [
    ({"search_space": {"rate": Uniform(0, 1)}, "inputs": {"data": Input(path="azureml:d:1")}},
     "search_space.rate", "hyperparameter 'rate' is not an input of trial component 'train'"),
    ({"search_space": {"data": Choice(["a", "b"])}}, "search_space.data",
     "hyperparameters bind literal inputs"),
    ({"search_space": {"lr": Uniform(0, 1)}}, "inputs",
     "trial component input 'data' is required"),
])
def test_component_trial_bindings(kwargs: dict[str, object], key: str, reason: str) -> None:
    with pytest.raises(SpecError) as info:
        sweep_job(COMPONENT, primary_metric="loss", goal="minimize",
                  **kwargs)  # type: ignore[arg-type]
    assert info.value.key == key and reason in str(info.value), str(info.value)


def test_sdk_and_yaml_agree(write: Callable[[str, str], Path]) -> None:
    path = write("sweep.yml", """
        type: sweep
        trial:
          command: python t.py --lr ${{search_space.lr}} --units ${{search_space.units}}
          environment: azureml:sklearn:1
        search_space:
          lr: {type: loguniform, min_value: -6, max_value: -1}
          units: {type: quniform, min_value: 16, max_value: 256, q: 16}
        sampling_algorithm: {type: random, seed: 3, rule: sobol}
        objective: {primary_metric: val_acc, goal: maximize}
        early_termination: {type: median_stopping, evaluation_interval: 2, delay_evaluation: 3}
        limits: {max_total_trials: 30, max_concurrent_trials: 5, timeout: 3600}
    """)
    from_yaml = load_sweep_spec(path)
    job = command(command="python t.py --lr ${{inputs.lr}} --units ${{inputs.units}}",
                  environment="azureml:sklearn:1",
                  inputs={"lr": LogUniform(-6, -1), "units": QUniform(16, 256, 16)})
    from_sdk = sweep_job(job, primary_metric="val_acc", goal="maximize",
                         sampling_algorithm=RandomSamplingAlgorithm(seed=3, rule="sobol"),
                         early_termination_policy=MedianStoppingPolicy(2, 3),
                         max_total_trials=30, max_concurrent_trials=5, timeout=3600)
    for attr in ("search_space", "sampling_algorithm", "objective", "early_termination",
                 "limits"):
        assert getattr(from_sdk, attr) == getattr(from_yaml, attr), attr
    assert from_sdk.trial is not None and from_yaml.trial is not None
    assert from_sdk.trial.command == from_yaml.trial.command
