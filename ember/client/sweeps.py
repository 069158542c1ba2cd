"""Sweep jobs in Python, the azure-ai-ml way (``azure.ai.ml.sweep``).

::

    from ember.client.builders import command
    from ember.client.sweeps import BanditPolicy, Choice, Uniform, sweep_job

    trial = command(command="python train.py --lr ${{inputs.lr}} --batch ${{inputs.batch}}",
                    code="./src", inputs={"lr": Uniform(0.001, 0.1), "batch": Choice([16, 32])})
    sweep = sweep_job(trial, primary_metric="accuracy", goal="Maximize",
                      max_total_trials=20, early_termination_policy=BanditPolicy(0.1))

Where the search space comes from: every trial input whose value is a distribution becomes a
hyperparameter (as ``command(..., inputs={"lr": Uniform(...)})`` then ``.sweep()`` does in
azure-ai-ml; ``command()`` keeps those in ``CommandJob.search_space_inputs``), plus the
``search_space`` argument. A name in both is an error. A hyperparameter
is removed from the sweep's inputs (one with a plain value is replaced: search-space values map
onto same-named inputs) and, for a command trial, ``${{inputs.<name>}}`` in the command becomes
``${{search_space.<name>}}``. A component trial keeps its command: hyperparameters and
``inputs`` bind to its inputs by name.

The result is checked with the YAML loader's rules (:func:`ember.specs.sweeps.check_sweep`);
problems raise :class:`~ember.errors.SpecError` naming the YAML key, e.g.
``search_space.lr.max_value``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from ember.entities.components import Component
from ember.entities.jobs import Job, JobInput
from ember.entities.sweeps import (
    DEFAULT_MAX_TOTAL_TRIALS,
    EarlyTermination,
    Objective,
    SamplingAlgorithm,
    SearchDistribution,
    SweepJob,
    SweepLimits,
)
from ember.errors import InvalidInputError
from ember.specs.sweeps import check_sweep

# azure-ai-ml's name for the limits (``SweepJobLimits``); the entity's fields, by keyword.
SweepJobLimits = SweepLimits

__all__ = [
    "BanditPolicy",
    "BayesianSamplingAlgorithm",
    "Choice",
    "Distribution",
    "GridSamplingAlgorithm",
    "LogNormal",
    "LogUniform",
    "MedianStoppingPolicy",
    "Normal",
    "Objective",
    "QLogNormal",
    "QLogUniform",
    "QNormal",
    "QUniform",
    "Randint",
    "RandomSamplingAlgorithm",
    "SamplingAlgorithm",
    "SweepJob",
    "SweepJobLimits",
    "TruncationSelectionPolicy",
    "Uniform",
    "sweep_job",
]


class Distribution:
    """Base of the search-space distributions."""

    def to_entity(self) -> SearchDistribution:
        raise NotImplementedError


@dataclass
class Choice(Distribution):
    values: list[Any]

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("choice", values=list(self.values))


@dataclass
class Randint(Distribution):
    """Integers 0..upper-1."""

    upper: int

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("randint", upper=self.upper)


@dataclass
class Uniform(Distribution):
    min_value: float
    max_value: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("uniform", min_value=self.min_value, max_value=self.max_value)


@dataclass
class QUniform(Distribution):
    min_value: float
    max_value: float
    q: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("quniform", min_value=self.min_value,
                                  max_value=self.max_value, q=self.q)


@dataclass
class LogUniform(Distribution):
    """Values e^x for x uniform in [min_value, max_value] (the bounds are exponents)."""

    min_value: float
    max_value: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("loguniform", min_value=self.min_value,
                                  max_value=self.max_value)


@dataclass
class QLogUniform(Distribution):
    min_value: float
    max_value: float
    q: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("qloguniform", min_value=self.min_value,
                                  max_value=self.max_value, q=self.q)


@dataclass
class Normal(Distribution):
    mu: float
    sigma: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("normal", mu=self.mu, sigma=self.sigma)


@dataclass
class LogNormal(Distribution):
    mu: float
    sigma: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("lognormal", mu=self.mu, sigma=self.sigma)


@dataclass
class QNormal(Distribution):
    mu: float
    sigma: float
    q: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("qnormal", mu=self.mu, sigma=self.sigma, q=self.q)


@dataclass
class QLogNormal(Distribution):
    mu: float
    sigma: float
    q: float

    def to_entity(self) -> SearchDistribution:
        return SearchDistribution("qlognormal", mu=self.mu, sigma=self.sigma, q=self.q)


# The policies are EarlyTermination entities themselves (with azure-ai-ml's constructors), so
# one assigned as an attribute (``sweep_job.early_termination = MedianStoppingPolicy(...)``)
# serialises like one given to sweep_job(): with its ``type``. ``to_entity()`` gives the plain
# EarlyTermination.

class _Policy(EarlyTermination):
    def to_entity(self) -> EarlyTermination:
        return EarlyTermination(**asdict(self))


@dataclass(init=False)
class BanditPolicy(_Policy):
    """Stops trials whose metric is not within ``slack_factor`` (a ratio) or ``slack_amount``
    (an absolute distance) of the best trial's."""

    def __init__(self, slack_factor: float | None = None, slack_amount: float | None = None,
                 evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        super().__init__("bandit", evaluation_interval=evaluation_interval,
                         delay_evaluation=delay_evaluation, slack_factor=slack_factor,
                         slack_amount=slack_amount)


@dataclass(init=False)
class MedianStoppingPolicy(_Policy):
    """Stops trials whose best metric is worse than the median of the running averages."""

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        super().__init__("median_stopping", evaluation_interval=evaluation_interval,
                         delay_evaluation=delay_evaluation)


@dataclass(init=False)
class TruncationSelectionPolicy(_Policy):
    """Stops the worst ``truncation_percentage`` percent of the trials at each evaluation."""

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1,
                 delay_evaluation: int = 0, exclude_finished_jobs: bool = False) -> None:
        super().__init__("truncation_selection", evaluation_interval=evaluation_interval,
                         delay_evaluation=delay_evaluation,
                         truncation_percentage=truncation_percentage,
                         exclude_finished_jobs=exclude_finished_jobs)


Policy = BanditPolicy | MedianStoppingPolicy | TruncationSelectionPolicy


def RandomSamplingAlgorithm(seed: int | None = None,  # noqa: N802
                            rule: str = "random") -> SamplingAlgorithm:
    """Random sampling; ``rule="sobol"`` draws from a scrambled Sobol sequence."""
    return SamplingAlgorithm("random", seed=seed, rule=rule)


def GridSamplingAlgorithm() -> SamplingAlgorithm:  # noqa: N802
    return SamplingAlgorithm("grid")


def BayesianSamplingAlgorithm() -> SamplingAlgorithm:  # noqa: N802
    return SamplingAlgorithm("bayesian")


def sweep_job(trial: Job | Component, *, primary_metric: str, goal: str,
              sampling_algorithm: str | SamplingAlgorithm = "random",
              search_space: Mapping[str, Distribution | SearchDistribution] | None = None,
              inputs: Mapping[str, Any] | None = None, compute: str | None = None,
              max_concurrent_trials: int | None = None, max_total_trials: int | None = None,
              timeout: float | None = None, trial_timeout: float | None = None,
              early_termination_policy: Policy | EarlyTermination | None = None,
              seed: int | None = None) -> SweepJob:
    """A sweep over ``trial`` (a ``command()`` job or a command component).

    ``inputs`` adds or replaces trial inputs (for a component: binds its inputs); values may be
    literals, ``Input(...)`` or distributions. ``trial_timeout`` defaults to the command job's
    ``timeout``; metadata (name, display name, experiment, tags...) comes from a Job trial.
    Raises SpecError (an InvalidInputError) when the sweep breaks a rule of the YAML schema.
    """
    # CommandJob (from command()) keeps distribution inputs apart in search_space_inputs.
    given: dict[str, Any] = dict(getattr(trial, "search_space_inputs", None) or {})
    given.update(trial.inputs if isinstance(trial, Job) else {})
    given.update(inputs or {})
    from_inputs = {n: v for n, v in given.items() if _distribution_of(v) is not None}
    explicit = dict(search_space or {})
    both = sorted(set(from_inputs) & set(explicit))
    if both:
        raise InvalidInputError(f"hyperparameter '{both[0]}' is given both as a trial input "
                                "and in search_space")
    space = {n: _entity(v) for n, v in {**from_inputs, **explicit}.items()}
    sweep_inputs = {n: _job_input(n, v) for n, v in given.items() if n not in space}
    sweep = SweepJob(
        compute=compute or (trial.compute if isinstance(trial, Job) else None),
        inputs=sweep_inputs,
        search_space=space,
        sampling_algorithm=_algorithm(sampling_algorithm, seed),
        objective=Objective(primary_metric=primary_metric, goal=goal),
        early_termination=(early_termination_policy.to_entity()
                           if isinstance(early_termination_policy, Policy)
                           else early_termination_policy),
        limits=SweepLimits(
            max_total_trials=(DEFAULT_MAX_TOTAL_TRIALS if max_total_trials is None
                              else max_total_trials),
            max_concurrent_trials=max_concurrent_trials, timeout=timeout,
            trial_timeout=(trial_timeout if trial_timeout is not None or not
                           isinstance(trial, Job) else trial.timeout)),
    )
    if isinstance(trial, Component):
        sweep.trial_component = trial
    else:
        _from_job(sweep, trial, space)
    check_sweep(sweep)
    return sweep


def _from_job(sweep: SweepJob, job: Job, space: Mapping[str, SearchDistribution]) -> None:
    sweep.name, sweep.display_name = job.name, job.display_name
    sweep.experiment_name, sweep.description = job.experiment_name, job.description
    sweep.tags, sweep.properties = dict(job.tags), dict(job.properties)
    sweep.outputs = dict(job.outputs)
    command = job.command
    for name in space:
        command = re.sub(r"\$\{\{\s*inputs\." + re.escape(name) + r"\s*\}\}",
                         "${{search_space." + name + "}}", command)
    sweep.trial = Job(name="", command=command, code=job.code, environment=job.environment,
                      environment_variables=dict(job.environment_variables),
                      compute=sweep.compute or "local", experiment_name=job.experiment_name,
                      inputs=dict(sweep.inputs), outputs=dict(sweep.outputs),
                      distribution=copy.deepcopy(job.distribution),
                      resources=copy.deepcopy(job.resources))


def _distribution_of(value: Any) -> Distribution | SearchDistribution | None:
    if isinstance(value, JobInput):
        value = value.value
    return value if isinstance(value, (Distribution, SearchDistribution)) else None


def _entity(value: Any) -> SearchDistribution:
    dist = _distribution_of(value)
    if dist is None:
        raise InvalidInputError(f"search_space values must be distributions such as "
                                f"Uniform(0.01, 0.1), not {type(value).__name__}")
    return dist if isinstance(dist, SearchDistribution) else dist.to_entity()


def _job_input(name: str, value: Any) -> JobInput:
    if isinstance(value, JobInput):
        return value
    if not isinstance(value, (str, int, float, bool)):
        raise InvalidInputError(f"input '{name}' must be a literal, an Input(...) or a "
                                f"distribution such as Uniform(0.01, 0.1), not "
                                f"{type(value).__name__}")
    kind = ("boolean" if isinstance(value, bool) else "integer" if isinstance(value, int)
            else "number" if isinstance(value, float) else "string")
    return JobInput(type=kind, value=value)


def _algorithm(value: str | SamplingAlgorithm, seed: int | None) -> SamplingAlgorithm:
    if isinstance(value, SamplingAlgorithm):
        return value if seed is None else replace(value, seed=seed)
    if not isinstance(value, str):
        raise InvalidInputError("sampling_algorithm must be 'random', 'grid', 'bayesian' or "
                                "a SamplingAlgorithm")
    return SamplingAlgorithm(value.strip().lower(), seed=seed)
