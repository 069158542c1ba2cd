"""Sweep jobs shaped the azure-ai-ml way after they are built (issue 10, item 7):
``set_limits``, ``set_resources``, and a policy, objective or sampling algorithm assigned
as an attribute, then ``ml_client.jobs.create_or_update(sweep_job)``."""

from __future__ import annotations

from typing import Any

import pytest

from ember import MLClient, command
from ember.entities.sweeps import SweepJob, SweepLimits
from ember.errors import InvalidInputError
from ember.sweep import (
    BanditPolicy,
    Choice,
    MedianStoppingPolicy,
    Objective,
    TruncationSelectionPolicy,
    Uniform,
)


def sweep() -> SweepJob:
    trial = command(command="python train.py --lr ${{inputs.lr}} --batch ${{inputs.batch}}",
                    inputs={"lr": Uniform(0.01, 0.1), "batch": Choice([16, 32])})
    return trial.sweep(primary_metric="accuracy", goal="Maximize", sampling_algorithm="random")


def test_set_limits_changes_only_what_it_is_given(app_client: MLClient) -> None:
    job = sweep()
    job.set_limits(max_total_trials=5, max_concurrent_trials=2, timeout=600, trial_timeout=60)
    assert job.limits == SweepLimits(max_total_trials=5, max_concurrent_trials=2, timeout=600,
                                     trial_timeout=60)
    job.set_limits(max_concurrent_trials=3)
    assert job.limits == SweepLimits(max_total_trials=5, max_concurrent_trials=3, timeout=600,
                                     trial_timeout=60)
    with app_client as c:
        made = c.jobs.create_or_update(job)
        assert made.definition is not None
        assert made.definition["limits"] == {"max_total_trials": 5, "max_concurrent_trials": 3,
                                             "timeout": 600, "trial_timeout": 60}
        job.set_limits(max_total_trials=0)
        with pytest.raises(InvalidInputError, match="max_total_trials"):
            c.jobs.create_or_update(job)


def test_set_resources_is_accepted_and_checked() -> None:
    job = sweep()
    job.set_resources(instance_type="Standard_NC6", instance_count=1, shm_size="2g")
    with pytest.raises(InvalidInputError, match="instance_count"):
        job.set_resources(instance_count=0)


@pytest.mark.parametrize(("policy", "expected"), [
    (MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5),
     {"type": "median_stopping", "evaluation_interval": 1, "delay_evaluation": 5}),
    (BanditPolicy(slack_factor=0.1, evaluation_interval=2, delay_evaluation=1),
     {"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 2, "delay_evaluation": 1}),
    (BanditPolicy(slack_amount=0.2),
     {"type": "bandit", "slack_amount": 0.2, "slack_factor": None}),
    (TruncationSelectionPolicy(truncation_percentage=20, evaluation_interval=1,
                               delay_evaluation=2),
     {"type": "truncation_selection", "truncation_percentage": 20, "delay_evaluation": 2}),
])
def test_policy_assigned_as_an_attribute_is_submitted(app_client: MLClient, policy: Any,
                                                      expected: dict[str, Any]) -> None:
    job = sweep()
    job.early_termination = policy
    with app_client as c:
        made = c.jobs.create_or_update(job)
        assert made.definition is not None
        sent = made.definition["early_termination"]
        assert {k: sent[k] for k in expected} == expected
        again = c.jobs.get(made.name).definition
        assert again is not None and again["early_termination"] == sent


def test_objective_and_sampling_assigned_as_attributes(app_client: MLClient) -> None:
    job = sweep()
    job.objective = Objective(goal="minimize", primary_metric="loss")
    job.sampling_algorithm = "bayesian"  # type: ignore[assignment]  # azure-ai-ml takes a str
    with app_client as c:
        made = c.jobs.create_or_update(job)
        assert made.definition is not None
        assert made.definition["objective"] == {"primary_metric": "loss", "goal": "minimize"}
        assert made.definition["sampling_algorithm"]["type"] == "bayesian"
