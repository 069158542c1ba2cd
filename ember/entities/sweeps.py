"""Sweep jobs (reference 1.3): one trial command run many times over a search space.

The entities carry what a sweep *is*; :func:`sweep_problem` and its parts hold the rules a
valid sweep obeys, as pure functions shared by the YAML loader (:mod:`ember.specs.sweeps`,
which adds file and line) and the SDK (:mod:`ember.client.sweeps`). A rule answers with a
:class:`SweepProblem` whose ``path`` is the dotted YAML key it is about
(``search_space.lr.upper``), or None.

The trial comes in one of three forms, exactly one of them set on a :class:`SweepJob`:

- ``trial``: an inline command trial held as a :class:`~ember.entities.jobs.Job` (command,
  code, environment, environment variables); its inputs/outputs are the sweep's;
- ``trial_component``: a command component (``trial: ./component.yml`` or an inline component
  mapping); the sweep's inputs and hyperparameters bind to its inputs by name;
- ``trial_component_ref``: ``azureml:name:version`` / ``@latest``, resolved by the server.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.components import Component
from ember.entities.environments import Environment
from ember.entities.jobs import LITERAL_TYPES, Job, JobInput, JobOutput, StatusChange

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
_HYPERPARAMETER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    type: str = "sweep"

    @property
    def trial_command(self) -> str | None:
        """The trial's command template; None for a component known only by reference."""
        if self.trial is not None:
            return self.trial.command
        return self.trial_component.command if self.trial_component is not None else None


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
        trial=None if d.get("trial") is None else _job_from(d["trial"]),
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
    )


def _known(cls: Any, d: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}


def _inputs_from(d: dict[str, Any] | None) -> dict[str, JobInput]:
    return {k: JobInput(**_known(JobInput, v)) for k, v in (d or {}).items()}


def _outputs_from(d: dict[str, Any] | None) -> dict[str, JobOutput]:
    return {k: JobOutput(**_known(JobOutput, v)) for k, v in (d or {}).items()}


def _job_from(d: dict[str, Any]) -> Job:
    data = _known(Job, d)
    env = data.get("environment")
    if isinstance(env, dict):
        data["environment"] = Environment(**_known(Environment, env))
    data["inputs"] = _inputs_from(data.get("inputs"))
    data["outputs"] = _outputs_from(data.get("outputs"))
    data["status_history"] = [StatusChange(**s) for s in data.get("status_history") or []]
    return Job(**data)


# ---- Rules ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepProblem:
    """Why a sweep is invalid: ``path`` is the dotted YAML key (``search_space.lr.upper``)."""

    path: str
    message: str
    hint: str | None = None


def sweep_problem(sweep: SweepJob) -> SweepProblem | None:
    """The first rule ``sweep`` breaks (search space, sampling, objective, early termination,
    limits, trial), or None. The trial command's ``${{...}}`` references are checked by
    :func:`ember.specs.sweeps.check_sweep`, which calls this first."""
    if not sweep.search_space:
        return SweepProblem("search_space", "must define at least one hyperparameter",
                            hint="e.g. search_space: {lr: {type: uniform, min_value: 0.01, "
                                 "max_value: 0.1}}")
    for name, dist in sweep.search_space.items():
        problem = distribution_problem(name, dist)
        if problem:
            return problem
    return (sampling_problem(sweep.sampling_algorithm, sweep.search_space)
            or objective_problem(sweep.objective)
            or (early_termination_problem(sweep.early_termination)
                if sweep.early_termination is not None else None)
            or limits_problem(sweep.limits)
            or trial_problem(sweep))


def distribution_problem(name: str, dist: SearchDistribution) -> SweepProblem | None:
    """Fields and values of one hyperparameter's distribution."""
    base = f"search_space.{name}"
    if not isinstance(name, str) or not _HYPERPARAMETER.match(name):
        return SweepProblem(base, "is not a valid hyperparameter name: use letters, digits "
                                  "and '_', not starting with a digit")
    if dist.kind not in DISTRIBUTION_FIELDS:
        return SweepProblem(f"{base}.type", f"'{dist.kind}' is not a distribution",
                            hint=_did_you_mean(str(dist.kind), DISTRIBUTION_KINDS))
    wanted = DISTRIBUTION_FIELDS[dist.kind]
    for key in _ALL_FIELDS:
        value = getattr(dist, key)
        if key not in wanted and value is not None:
            return SweepProblem(f"{base}.{key}", f"is not a field of a {dist.kind} "
                                f"distribution", hint=f"{dist.kind} takes {', '.join(wanted)}")
        if key in wanted and value is None:
            return SweepProblem(f"{base}.{key}", f"is required for a {dist.kind} distribution")
    if dist.kind == "choice":
        return _choice_problem(f"{base}.values", dist.values)
    if dist.kind == "randint":
        if not _is_int(dist.upper) or dist.upper is None or dist.upper < 1:
            return SweepProblem(f"{base}.upper", f"must be a positive integer, not "
                                f"{_show(dist.upper)}", hint="randint values are 0..upper-1")
        return None
    for key in ("min_value", "max_value", "mu"):
        if key in wanted and not _is_number(getattr(dist, key)):
            return SweepProblem(f"{base}.{key}", f"must be a number, not "
                                f"{_show(getattr(dist, key))}")
    for key in ("sigma", "q"):
        value = getattr(dist, key)
        if key in wanted and (not _is_number(value) or value <= 0):
            return SweepProblem(f"{base}.{key}", f"must be a positive number, not "
                                f"{_show(value)}")
    low, high = dist.min_value, dist.max_value
    if low is not None and high is not None and not low < high:
        return SweepProblem(f"{base}.max_value", f"must be greater than min_value "
                            f"({dist.min_value}), not {dist.max_value}")
    return None


def _choice_problem(path: str, values: Any) -> SweepProblem | None:
    if not isinstance(values, list) or not values:
        return SweepProblem(path, f"must be a non-empty list, not {_show(values)}",
                            hint="e.g. values: [16, 32, 64]")
    seen: list[Any] = []
    for index, value in enumerate(values):
        if not isinstance(value, (str, int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):
            return SweepProblem(path, f"item {index} must be a string, number or boolean, "
                                f"not {_show(value)}")
        # 1, 1.0 and True are equal to Python and to Optuna: they would be one grid point.
        if any(value == old for old in seen):
            return SweepProblem(path, f"item {index} ({value!r}) repeats an earlier value")
        seen.append(value)
    return None


def sampling_problem(algorithm: SamplingAlgorithm,
                     search_space: dict[str, SearchDistribution]) -> SweepProblem | None:
    """The algorithm's fields, and that it supports every distribution in the search space."""
    if algorithm.type not in SAMPLING_TYPES:
        return SweepProblem("sampling_algorithm.type", f"'{algorithm.type}' is not one of: "
                            f"{', '.join(SAMPLING_TYPES)}",
                            hint=_did_you_mean(str(algorithm.type), SAMPLING_TYPES))
    if algorithm.rule not in SAMPLING_RULES:
        return SweepProblem("sampling_algorithm.rule", f"'{algorithm.rule}' is not one of: "
                            f"{', '.join(SAMPLING_RULES)}")
    if algorithm.rule != "random" and algorithm.type != "random":
        return SweepProblem("sampling_algorithm.rule", f"rule '{algorithm.rule}' is only for "
                            f"random sampling, not {algorithm.type}")
    seed = algorithm.seed
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        return SweepProblem("sampling_algorithm.seed", f"must be an integer from 0 to "
                            f"{MAX_SEED}, not {_show(seed)}")
    allowed = SUPPORTED_KINDS[algorithm.type]
    for name, dist in search_space.items():
        if dist.kind not in allowed:
            return SweepProblem(
                f"search_space.{name}.type",
                f"{algorithm.type} sampling supports only {', '.join(allowed)} distributions; "
                f"hyperparameter '{name}' is {dist.kind}",
                hint="use a choice distribution" if algorithm.type == "grid"
                else "use choice, uniform or quniform, or random sampling")
    return None


def objective_problem(objective: Objective) -> SweepProblem | None:
    metric = objective.primary_metric
    if not isinstance(metric, str) or not metric.strip():
        return SweepProblem("objective.primary_metric", "must be a non-empty metric name",
                            hint="the name the trial logs with mlflow.log_metric")
    if objective.goal not in GOALS:
        return SweepProblem("objective.goal", f"'{objective.goal}' is not one of: "
                            "maximize, minimize")
    return None


def early_termination_problem(policy: EarlyTermination) -> SweepProblem | None:
    """Reference 1.3: bandit needs exactly one of slack_factor/slack_amount; truncation
    selection a truncation_percentage from 1 to 99; intervals >= 1, delays >= 0."""
    base = "early_termination"
    if policy.type not in EARLY_TERMINATION_FIELDS:
        return SweepProblem(f"{base}.type", f"'{policy.type}' is not one of: "
                            f"{', '.join(EARLY_TERMINATION_FIELDS)}",
                            hint=_did_you_mean(str(policy.type), EARLY_TERMINATION_FIELDS))
    if not _is_int(policy.evaluation_interval) or policy.evaluation_interval < 1:
        return SweepProblem(f"{base}.evaluation_interval", f"must be an integer >= 1, not "
                            f"{_show(policy.evaluation_interval)}")
    if not _is_int(policy.delay_evaluation) or policy.delay_evaluation < 0:
        return SweepProblem(f"{base}.delay_evaluation", f"must be an integer >= 0, not "
                            f"{_show(policy.delay_evaluation)}")
    wanted = EARLY_TERMINATION_FIELDS[policy.type]
    for key in ("slack_factor", "slack_amount", "truncation_percentage"):
        if key not in wanted and getattr(policy, key) is not None:
            return SweepProblem(f"{base}.{key}", f"is not a setting of a {policy.type} policy")
    if policy.exclude_finished_jobs and policy.type != "truncation_selection":
        return SweepProblem(f"{base}.exclude_finished_jobs",
                            "is only for truncation_selection")
    if policy.type == "bandit":
        given = [k for k in ("slack_factor", "slack_amount") if getattr(policy, k) is not None]
        if not given:
            return SweepProblem(base, "a bandit policy needs slack_factor or slack_amount",
                                hint="e.g. slack_factor: 0.1")
        if len(given) == 2:
            return SweepProblem(f"{base}.slack_amount", "give slack_factor or slack_amount, "
                                                        "not both")
        value = getattr(policy, given[0])
        if not _is_number(value) or value <= 0:
            return SweepProblem(f"{base}.{given[0]}", f"must be a positive number, not "
                                f"{_show(value)}")
    if policy.type == "truncation_selection":
        pct = policy.truncation_percentage
        if pct is None:
            return SweepProblem(f"{base}.truncation_percentage",
                                "is required for truncation_selection")
        if not _is_int(pct) or not 1 <= pct <= 99:
            return SweepProblem(f"{base}.truncation_percentage", f"must be an integer from 1 "
                                f"to 99, not {_show(pct)}")
    return None


def limits_problem(limits: SweepLimits) -> SweepProblem | None:
    total = limits.max_total_trials
    if not _is_int(total) or total < 1:
        return SweepProblem("limits.max_total_trials", f"must be a positive integer, not "
                            f"{_show(total)}")
    concurrent = limits.max_concurrent_trials
    if concurrent is not None:
        if not _is_int(concurrent) or concurrent < 1:
            return SweepProblem("limits.max_concurrent_trials", f"must be a positive "
                                f"integer, not {_show(concurrent)}")
        if concurrent > total:
            return SweepProblem("limits.max_concurrent_trials", f"{concurrent} is more than "
                                f"max_total_trials ({total})")
    for key in ("timeout", "trial_timeout"):
        value = getattr(limits, key)
        if value is not None and (not _is_number(value) or value <= 0):
            return SweepProblem(f"limits.{key}", f"must be a positive number of seconds, not "
                                f"{_show(value)}")
    return None


def trial_problem(sweep: SweepJob) -> SweepProblem | None:
    """Exactly one trial form; a component trial's ports match the sweep's bindings."""
    forms = [sweep.trial, sweep.trial_component, sweep.trial_component_ref]
    if sum(f is not None for f in forms) != 1:
        return SweepProblem("trial", "is required (exactly one of an inline command trial, a "
                                     "component, or a component reference)")
    comp = sweep.trial_component
    if comp is None:
        return None
    declared = f"inputs of component '{comp.name}'"
    for name in sweep.search_space:
        port = comp.inputs.get(name)
        if port is None:
            return SweepProblem(f"search_space.{name}", f"hyperparameter '{name}' is not an "
                                f"input of trial component '{comp.name}'",
                                hint=_did_you_mean(name, comp.inputs, declared))
        if port.type not in LITERAL_TYPES:
            return SweepProblem(f"search_space.{name}", f"component input '{name}' is a "
                                f"{port.type} input; hyperparameters bind literal inputs")
    for name in sweep.inputs:
        if name not in comp.inputs:
            return SweepProblem(f"inputs.{name}", f"is not an input of trial component "
                                f"'{comp.name}'", hint=_did_you_mean(name, comp.inputs,
                                                                     declared))
        if name in sweep.search_space:
            return SweepProblem(f"inputs.{name}", "is also a hyperparameter in search_space; "
                                                  "bind it in one place")
    for name in sweep.outputs:
        if name not in comp.outputs:
            return SweepProblem(f"outputs.{name}", f"is not an output of trial component "
                                f"'{comp.name}'", hint=_did_you_mean(
                                    name, comp.outputs, f"outputs of component '{comp.name}'"))
    for name, port in comp.inputs.items():
        bound = name in sweep.inputs or name in sweep.search_space
        if not bound and not port.optional and port.default is None:
            return SweepProblem("inputs", f"trial component input '{name}' is required: set "
                                          "it under inputs or search_space")
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _show(value: Any) -> str:
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    return type(value).__name__


def _did_you_mean(name: str, choices: Any, what: str = "") -> str | None:
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(name, options, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    if what:
        return f"{what}: {', '.join(sorted(options))}" if options else f"no {what}"
    return f"expected one of: {', '.join(options)}" if options else None
