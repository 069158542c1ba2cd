"""The rules a valid sweep obeys (reference 1.3): :func:`sweep_problem` and its parts.

They are pure functions over the entities of :mod:`ember.entities.sweeps`, shared by the YAML
loader (:mod:`ember.specs.sweeps`, which adds file and line) and the SDK
(:mod:`ember.client.sweeps`). A rule answers with a :class:`SweepProblem` whose ``path`` is the
dotted YAML key it is about (``search_space.lr.upper``), or None.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

from ember.entities.jobs import LITERAL_TYPES
from ember.entities.sweeps import (
    _ALL_FIELDS,
    DISTRIBUTION_FIELDS,
    DISTRIBUTION_KINDS,
    EARLY_TERMINATION_FIELDS,
    GOALS,
    MAX_SEED,
    SAMPLING_RULES,
    SAMPLING_TYPES,
    SUPPORTED_KINDS,
    EarlyTermination,
    Objective,
    SamplingAlgorithm,
    SearchDistribution,
    SweepJob,
    SweepLimits,
)

_HYPERPARAMETER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
