"""SweepJob entities: JSON round trip, defaults, and the shared rules."""

from __future__ import annotations

import json

from ember.entities.components import Component, ComponentInput
from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.entities.sweep_rules import sweep_problem
from ember.entities.sweeps import (
    DEFAULT_SWEEP_TIMEOUT,
    EarlyTermination,
    Objective,
    SamplingAlgorithm,
    SearchDistribution,
    SweepJob,
    SweepLimits,
    sweep_from_dict,
    sweep_to_dict,
)

D = SearchDistribution


def full_sweep() -> SweepJob:
    inputs = {"data": JobInput(type="uri_folder", path="azureml:iris:1", mode="download"),
              "epochs": JobInput(type="integer", value=3)}
    outputs = {"model": JobOutput(type="mlflow_model", mode="upload")}
    return SweepJob(
        name="s1", display_name="S", experiment_name="e", description="d",
        tags={"t": "1"}, properties={"p": "2"}, compute="local", inputs=inputs,
        outputs=outputs,
        trial=Job(name="", command="python t.py ${{search_space.c}} ${{inputs.epochs}}",
                  code="/abs/src", environment=Environment(image="python:3.11-slim"),
                  environment_variables={"A": "1"}, inputs=dict(inputs),
                  outputs=dict(outputs)),
        search_space={
            "c": D("choice", values=["a", 1, 2.5, False]), "r": D("randint", upper=3),
            "u": D("uniform", min_value=0.0, max_value=1.0),
            "qu": D("quniform", min_value=0, max_value=10, q=2),
            "lu": D("loguniform", min_value=-3.0, max_value=0.0),
            "qlu": D("qloguniform", min_value=0.0, max_value=2.0, q=0.5),
            "n": D("normal", mu=0.0, sigma=1.0), "ln": D("lognormal", mu=1.0, sigma=0.5),
            "qn": D("qnormal", mu=5.0, sigma=2.0, q=1),
            "qln": D("qlognormal", mu=1.0, sigma=0.2, q=0.25)},
        sampling_algorithm=SamplingAlgorithm("random", seed=5, rule="sobol"),
        objective=Objective("acc", "Maximize"),
        early_termination=EarlyTermination("truncation_selection", 2, 1,
                                           truncation_percentage=10,
                                           exclude_finished_jobs=True),
        limits=SweepLimits(50, 5, 3600.0, 60.0))


def test_round_trip_is_exact() -> None:
    sweep = full_sweep()
    body = sweep_to_dict(sweep)
    assert json.loads(json.dumps(body)) == body
    assert sweep_from_dict(json.loads(json.dumps(body))) == sweep
    assert body["search_space"]["qu"] == {"type": "quniform", "min_value": 0, "max_value": 10,
                                          "q": 2}
    assert sweep_problem(sweep) is None


def test_round_trip_with_a_component_and_a_reference() -> None:
    base = full_sweep()
    comp = Component(name="train", command="python t.py ${{inputs.c}}",
                     environment=Environment(image="python:3.11"),
                     inputs={"c": ComponentInput(type="string"),
                             "epochs": ComponentInput(type="integer", default=1),
                             "data": ComponentInput(type="uri_folder")})
    with_component = SweepJob(objective=base.objective, trial_component=comp,
                              search_space={"c": base.search_space["c"]},
                              inputs={"data": base.inputs["data"]})
    assert sweep_problem(with_component) is None
    assert sweep_from_dict(json.loads(json.dumps(sweep_to_dict(with_component)))) == \
        with_component
    by_ref = SweepJob(objective=base.objective, trial_component_ref="azureml:train:1",
                      search_space={"c": base.search_space["c"]})
    assert sweep_from_dict(sweep_to_dict(by_ref)) == by_ref


def test_defaults() -> None:
    limits = SweepLimits()
    assert limits.max_total_trials == 1000 and limits.effective_concurrency == 1000
    assert limits.effective_timeout == DEFAULT_SWEEP_TIMEOUT == 5_184_000
    assert SweepLimits(10, 3).effective_concurrency == 3
    assert Objective("m", " MINIMIZE ").goal == "minimize"
    minimal = sweep_from_dict({"objective": {"primary_metric": "m", "goal": "maximize"},
                               "trial_component_ref": "azureml:x:1",
                               "search_space": {"a": {"type": "randint", "upper": 2}}})
    assert minimal.sampling_algorithm == SamplingAlgorithm()
    assert minimal.limits == SweepLimits() and minimal.type == "sweep"


def test_exactly_one_trial_form() -> None:
    sweep = full_sweep()
    sweep.trial_component_ref = "azureml:x:1"
    problem = sweep_problem(sweep)
    assert problem is not None and problem.path == "trial"
    sweep.trial = sweep.trial_component_ref = None
    problem = sweep_problem(sweep)
    assert problem is not None and problem.path == "trial"
