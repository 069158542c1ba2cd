"""Sweep jobs (reference 1.3): one trial command run many times over a search space.

This module holds what a sweep *is*: the entities, the vocabulary their fields take
(distributions, sampling types and rules, early-termination policies, defaults) and the JSON
form the server stores (:func:`sweep_to_dict`, :func:`sweep_from_dict`). The rules a valid
sweep obeys are in :mod:`ember.entities.sweep_rules`.

The trial comes in one of three forms, exactly one of them set on a :class:`SweepJob`:

- ``trial``: an inline command trial held as a :class:`~ember.entities.jobs.Job` (command,
  code, environment, environment variables); its inputs/outputs are the sweep's;
- ``trial_component``: a command component (``trial: ./component.yml`` or an inline component
  mapping); the sweep's inputs and hyperparameters bind to its inputs by name;
- ``trial_component_ref``: ``azureml:name:version`` / ``@latest``, resolved by the server.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.components import Component
from ember.entities.jobs import Job, JobInput, JobOutput, job_from_plain
from ember.errors import InvalidInputError

# Reference 1.3: each distribution and the fields it takes (all required).
DISTRIBUTION_FIELDS: dict[str, tuple[str, ...]] = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "loguniform": ("min_value", "max_value"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "qlognormal": ("mu", "sigma", "q"),
}
DISTRIBUTION_KINDS = tuple(DISTRIBUTION_FIELDS)
_ALL_FIELDS = ("values", "upper", "min_value", "max_value", "q", "mu", "sigma")
SAMPLING_TYPES = ("random", "grid", "bayesian")
SAMPLING_RULES = ("random", "sobol")
# Reference 1.3: "Grid supports only choice; bayesian only choice, uniform, quniform."
SUPPORTED_KINDS: dict[str, tuple[str, ...]] = {
    "random": DISTRIBUTION_KINDS,
    "grid": ("choice",),
    "bayesian": ("choice", "uniform", "quniform"),
}
GOALS = ("maximize", "minimize")
EARLY_TERMINATION_FIELDS: dict[str, tuple[str, ...]] = {
    "bandit": ("slack_factor", "slack_amount", "evaluation_interval", "delay_evaluation"),
    "median_stopping": ("evaluation_interval", "delay_evaluation"),
    "truncation_selection": ("truncation_percentage", "evaluation_interval",
                             "delay_evaluation", "exclude_finished_jobs"),
}
DEFAULT_MAX_TOTAL_TRIALS = 1000
DEFAULT_SWEEP_TIMEOUT = 5_184_000.0   # seconds (60 days), the reference's default
MAX_SEED = 2**32 - 1                  # numpy's seed range, which Optuna's samplers use


@dataclass
class SearchDistribution:
    """One hyperparameter's distribution; only the fields of ``kind`` are set.

    ``randint.upper`` is exclusive; ``loguniform``/``qloguniform`` bounds are exponents
    (values lie in [e^min_value, e^max_value]); q-variants round to multiples of ``q``.
    """

    kind: str
    values: list[Any] | None = None
    upper: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The YAML shape: ``{"type": kind, <its fields>}``."""
        out: dict[str, Any] = {"type": self.kind}
        for name in _ALL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if name == "values" else value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchDistribution:
        values = d.get("values")
        return cls(kind=d["type"], values=None if values is None else list(values),
                   **{k: d.get(k) for k in _ALL_FIELDS if k != "values"})


@dataclass
class SamplingAlgorithm:
    """``type`` random|grid|bayesian; ``rule`` random|sobol applies to random sampling only."""

    type: str = "random"
    seed: int | None = None
    rule: str = "random"


@dataclass
class Objective:
    """The metric the sweep optimises; ``goal`` is stored as "maximize" or "minimize"."""

    primary_metric: str
    goal: str

    def __post_init__(self) -> None:
        # The SDK accepts "Maximize"; one spelling downstream.
        if isinstance(self.goal, str):
            self.goal = self.goal.strip().lower()


@dataclass
class EarlyTermination:
    """A policy: ``type`` bandit | median_stopping | truncation_selection."""

    type: str
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    slack_factor: float | None = None
    slack_amount: float | None = None
    truncation_percentage: int | None = None
    exclude_finished_jobs: bool = False


@dataclass
class SweepLimits:
    """``timeout`` None means :data:`DEFAULT_SWEEP_TIMEOUT`; concurrency None means all."""

    max_total_trials: int = DEFAULT_MAX_TOTAL_TRIALS
    max_concurrent_trials: int | None = None
    timeout: float | None = None
    trial_timeout: float | None = None

    @property
    def effective_concurrency(self) -> int:
        """How many trials may run at once (the reference's default: max_total_trials)."""
        return self.max_concurrent_trials or self.max_total_trials

    @property
    def effective_timeout(self) -> float:
        return DEFAULT_SWEEP_TIMEOUT if self.timeout is None else self.timeout


@dataclass(kw_only=True)
class SweepJob:
    """A sweep definition (see the module docstring for the three trial forms)."""

    name: str = ""
    display_name: str = ""
    experiment_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    compute: str | None = None
    inputs: dict[str, JobInput] = field(default_factory=dict)
    outputs: dict[str, JobOutput] = field(default_factory=dict)
    trial: Job | None = None
    trial_component: Component | None = None
    trial_component_ref: str | None = None
    search_space: dict[str, SearchDistribution] = field(default_factory=dict)
    sampling_algorithm: SamplingAlgorithm = field(default_factory=SamplingAlgorithm)
    objective: Objective
    early_termination: EarlyTermination | None = None
    limits: SweepLimits = field(default_factory=SweepLimits)
    # The SDK's ``set_resources`` (plain data, as the YAML's ``resources``): every trial's
    # resources, over the trial's own.
    resources: dict[str, Any] | None = None
    type: str = "sweep"

    @property
    def trial_command(self) -> str | None:
        """The trial's command template; None for a component known only by reference."""
        if self.trial is not None:
            return self.trial.command
        return self.trial_component.command if self.trial_component is not None else None

    def set_limits(self, *, max_total_trials: int | None = None,
                   max_concurrent_trials: int | None = None, timeout: float | None = None,
                   trial_timeout: float | None = None) -> None:
        """azure-ai-ml's ``SweepJob.set_limits``: sets the limits given, keeps the others.
        Values are checked when the sweep is submitted (the YAML loader's rules)."""
        given = {"max_total_trials": max_total_trials,
                 "max_concurrent_trials": max_concurrent_trials, "timeout": timeout,
                 "trial_timeout": trial_timeout}
        for key, value in given.items():
            if value is not None:
                setattr(self.limits, key, value)

    def set_resources(self, *, instance_type: str | None = None,
                      instance_count: int | None = None, locations: list[str] | None = None,
                      properties: dict[str, Any] | None = None, docker_args: str | None = None,
                      shm_size: str | None = None) -> None:
        """azure-ai-ml's ``SweepJob.set_resources``: checked as the YAML's ``resources`` is
        (``instance_count`` a positive integer) and kept for every trial, over the trial's
        own resources (with the trial's ``distribution``, ``instance_count`` starts that many
        instances' processes; what local compute cannot honour is said in each trial's log)."""
        if instance_count is not None and (isinstance(instance_count, bool) or
                                           not isinstance(instance_count, int) or
                                           instance_count < 1):
            raise InvalidInputError(f"resources.instance_count must be a positive integer, "
                                    f"not {instance_count!r}")
        if locations is not None and not isinstance(locations, list):
            raise InvalidInputError("resources.locations must be a list of region names")
        given = {"instance_type": instance_type, "instance_count": instance_count,
                 "locations": locations, "properties": properties, "docker_args": docker_args,
                 "shm_size": shm_size}
        self.resources = {**(self.resources or {}),
                          **{k: v for k, v in given.items() if v is not None}} or None


# ---- JSON form (the server stores the definition as JSON) ---------------------------------

def sweep_to_dict(sweep: SweepJob) -> dict[str, Any]:
    """Plain JSON-able data; :func:`sweep_from_dict` rebuilds an equal SweepJob."""
    return {
        "type": sweep.type, "name": sweep.name, "display_name": sweep.display_name,
        "experiment_name": sweep.experiment_name, "description": sweep.description,
        "tags": dict(sweep.tags), "properties": dict(sweep.properties),
        "compute": sweep.compute,
        "inputs": {k: asdict(v) for k, v in sweep.inputs.items()},
        "outputs": {k: asdict(v) for k, v in sweep.outputs.items()},
        "trial": None if sweep.trial is None else asdict(sweep.trial),
        "trial_component": (None if sweep.trial_component is None
                            else sweep.trial_component.to_dict()),
        "trial_component_ref": sweep.trial_component_ref,
        "search_space": {k: v.to_dict() for k, v in sweep.search_space.items()},
        "sampling_algorithm": asdict(sweep.sampling_algorithm),
        "objective": asdict(sweep.objective),
        "early_termination": (None if sweep.early_termination is None
                              else asdict(sweep.early_termination)),
        "limits": asdict(sweep.limits),
        "resources": sweep.resources,
    }


def sweep_from_dict(d: dict[str, Any]) -> SweepJob:
    """The inverse of :func:`sweep_to_dict` (unknown keys ignored)."""
    early = d.get("early_termination")
    component = d.get("trial_component")
    return SweepJob(
        type=d.get("type", "sweep"), name=d.get("name", ""),
        display_name=d.get("display_name", ""), experiment_name=d.get("experiment_name", ""),
        description=d.get("description", ""), tags=dict(d.get("tags") or {}),
        properties=dict(d.get("properties") or {}), compute=d.get("compute"),
        inputs=_inputs_from(d.get("inputs")), outputs=_outputs_from(d.get("outputs")),
        trial=None if d.get("trial") is None else job_from_plain(d["trial"]),
        trial_component=None if component is None else Component.from_dict(component),
        trial_component_ref=d.get("trial_component_ref"),
        search_space={k: SearchDistribution.from_dict(v)
                      for k, v in (d.get("search_space") or {}).items()},
        sampling_algorithm=SamplingAlgorithm(**_known(SamplingAlgorithm,
                                                      d.get("sampling_algorithm"))),
        objective=Objective(**_known(Objective, d["objective"])),
        early_termination=None if early is None else EarlyTermination(
            **_known(EarlyTermination, early)),
        limits=SweepLimits(**_known(SweepLimits, d.get("limits"))),
        resources=d.get("resources"),
    )


def _known(cls: Any, d: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}


def _inputs_from(d: dict[str, Any] | None) -> dict[str, JobInput]:
    return {k: JobInput(**_known(JobInput, v)) for k, v in (d or {}).items()}


def _outputs_from(d: dict[str, Any] | None) -> dict[str, JobOutput]:
    return {k: JobOutput(**_known(JobOutput, v)) for k, v in (d or {}).items()}
