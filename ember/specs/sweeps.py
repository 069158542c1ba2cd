"""Sweep job YAML (reference 1.3) → :class:`~ember.entities.sweeps.SweepJob`.

The loader checks shapes and types here (unknown keys with did-you-mean hints, every error a
SpecError naming file, line and key) and the value rules with the shared rule functions of
:mod:`ember.entities.sweep_rules`, so the SDK (:func:`check_sweep`) enforces the same ones.

How the spec lands in the entity, and decisions where the reference is silent:

- ``type: sweep`` is required; ``compute`` is kept as written, None when absent.
- ``trial``:

  - a mapping of command-job fields (``command`` required; ``code``, ``environment``,
    ``environment_variables``, ``distribution``, ``resources``) → ``SweepJob.trial``, a Job
    whose inputs/outputs are the sweep's. ``environment`` is optional as for command jobs
    (the reference lists it as required in Azure; omitting it runs in the server's Python);
    ``distribution``/``resources`` are kept on it as plain data (each trial starts with them);
  - a mapping that also uses component-only keys (``name``, ``version``, ``inputs``,
    ``outputs``, ``type``, ``is_deterministic``...) → an inline component (named ``trial``
    when it has no name) in ``trial_component``;
  - ``./component.yml`` (relative to the sweep file; ``file:`` prefix allowed) → the loaded
    component; ``azureml:name:version`` / ``@latest`` / registry URI → ``trial_component_ref``.

- The inline trial's command may use ``${{inputs.x}}``/``${{outputs.y}}`` (the sweep's) and
  ``${{search_space.h}}`` (declared hyperparameters). A component trial's command uses its own
  inputs; the sweep's inputs and hyperparameters bind to them by name.
- ``search_space`` needs at least one hyperparameter. Numbers are kept as written (an integer
  ``q`` gives integer values). ``choice.values`` are distinct strings, numbers or booleans.
- ``sampling_algorithm``: ``random`` (default), ``grid``, ``bayesian`` (any case) or a mapping
  ``{type, seed, rule}``; ``rule`` only with random, ``seed`` an integer 0..2**32-1.
- ``objective.goal`` is required, case-insensitive, stored in lowercase.
- ``identity`` and ``queue_settings`` are validated but not kept.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from ruamel.yaml.comments import CommentedMap

from ember.entities.components import Component
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.entities.sweep_rules import (
    SweepProblem,
    distribution_problem,
    early_termination_problem,
    limits_problem,
    objective_problem,
    sampling_problem,
    sweep_problem,
    trial_problem,
)
from ember.entities.sweeps import (
    DISTRIBUTION_FIELDS,
    DISTRIBUTION_KINDS,
    EARLY_TERMINATION_FIELDS,
    SAMPLING_RULES,
    SAMPLING_TYPES,
    EarlyTermination,
    Objective,
    SamplingAlgorithm,
    SearchDistribution,
    SweepJob,
    SweepLimits,
)
from ember.errors import InvalidInputError, SpecError
from ember.specs._job_io import parse_inputs, parse_outputs
from ember.specs._job_settings import (
    _distribution,
    _resources,
    check_settings,
    plain_section,
)
from ember.specs._schema import Ctx, Section, load_spec, plain
from ember.specs.components import COMPONENT_KEYS, _component, load_component_spec
from ember.specs.expressions import validate_command
from ember.specs.jobs import _JOB_NAME
from ember.specs.jobs import _environment as _job_environment
from ember.specs.pipelines import _compute
from ember.specs.references import is_uri, parse_asset_reference
from ember.specs.yamlio import type_name

SWEEP_JOB_KEYS = ("$schema", "type", "name", "display_name", "experiment_name", "description",
                  "tags", "properties", "compute", "inputs", "outputs", "trial", "search_space",
                  "sampling_algorithm", "objective", "early_termination", "limits", "identity",
                  "queue_settings")
TRIAL_KEYS = ("command", "code", "environment", "environment_variables", "distribution",
              "resources")
SAMPLING_KEYS = ("type", "seed", "rule")
OBJECTIVE_KEYS = ("primary_metric", "goal")
LIMITS_KEYS = ("max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout")
_TRIAL_HINT = ("a mapping with 'command' (and code, environment), a component file "
               "./component.yml, or azureml:<component>:<version>")


def load_sweep_spec(path: Path, overrides: list[str] | None = None) -> SweepJob:
    """Load a ``type: sweep`` job YAML, apply ``--set`` overrides, validate, return it.

    A trial component file loads relative to the sweep file. Raises SpecError naming the file,
    line and key of the first problem (and the override when one set the offending value).
    """
    data, ctx = load_spec(path, overrides)
    return _sweep(Section(ctx, data))


def sweep_spec_from_dict(data: Mapping[str, Any], source: str, base_dir: Path, *,
                         overridden: dict[str, str] | None = None) -> SweepJob:
    """Validate a loaded sweep mapping (see :func:`~ember.specs.jobs.job_from_dict`)."""
    return _sweep(Section(Ctx(source, Path(base_dir).resolve(), overridden or {}), data))


def check_sweep(sweep: SweepJob, source: str | None = None) -> None:
    """Validate a SweepJob built in Python by the rules the YAML loader applies.

    Raises SpecError whose ``key`` is the YAML key the problem is about (``source``, when
    given, is named as its file).
    """
    problem = sweep_problem(sweep)
    if problem is not None:
        raise SpecError(f"{problem.path}: {problem.message}", file=source, key=problem.path,
                        hint=problem.hint)
    if sweep.trial is not None:
        validate_command(sweep.trial.command, sweep.inputs, sweep.outputs, source, None,
                         search_space=list(sweep.search_space), key="trial.command")
    elif sweep.trial_component is not None:
        comp = sweep.trial_component
        validate_command(comp.command, comp.inputs, comp.outputs, source, None,
                         key="trial.command")


def _sweep(top: Section) -> SweepJob:
    kind = top.get_str("type", required=True)
    if kind != "sweep":
        top.fail("type", f"expected 'type: sweep', not '{kind}'",
                 hint="command jobs load with load_job_spec, pipelines with "
                      "load_pipeline_spec")
    top.check_keys(SWEEP_JOB_KEYS)
    name = top.get_str("name") or ""
    if name and not _JOB_NAME.match(name):
        top.fail("name", f"'{name}' is not a valid job name: letters, digits, '-' and '_', "
                         "starting with a letter or digit")
    check_settings(top)   # identity, queue_settings
    inputs = parse_inputs(top)
    outputs = parse_outputs(top)
    search_space = _search_space(top)
    compute = _compute(top, "compute")
    experiment_name = top.get_str("experiment_name") or ""
    sweep = SweepJob(
        name=name,
        display_name=top.get_str("display_name", nonempty=False) or "",
        experiment_name=experiment_name,
        description=top.get_str("description", nonempty=False) or "",
        tags=top.get_str_map("tags"),
        properties=top.get_str_map("properties"),
        compute=compute,
        inputs=inputs,
        outputs=outputs,
        search_space=search_space,
        sampling_algorithm=_sampling(top, search_space),
        objective=_objective(top),
        early_termination=_early_termination(top),
        limits=_limits(top),
    )
    _trial(top, sweep)
    _check(top, trial_problem(sweep))
    return sweep


def _check(top: Section, problem: SweepProblem | None) -> None:
    if problem is not None:
        _fail_at(top, problem)


def _fail_at(top: Section, problem: SweepProblem) -> NoReturn:
    """Raise ``problem`` at the line of its dotted key (or the deepest mapping above it)."""
    parts = problem.path.split(".")
    sec = top
    for index, part in enumerate(parts[:-1]):
        value = sec.data.get(part)
        if not isinstance(value, Mapping):
            sec.fail(part if part in sec.data else ".".join(parts[index:]), problem.message,
                     hint=problem.hint)
        sec = Section(sec.ctx, value, sec.key_path(part), sec.line(part))
    last = parts[-1]
    if last not in sec.data and len(parts) > 1:
        # A missing key: point at the mapping that lacks it, but name the key.
        raise sec.ctx.error(f"{problem.path}: {problem.message}", path=problem.path,
                            line=sec.line_hint, hint=problem.hint)
    sec.fail(last, problem.message, hint=problem.hint)


# ---- search space and sampling -------------------------------------------------------------

def _search_space(top: Section) -> dict[str, SearchDistribution]:
    sec = top.section("search_space", required=True)
    assert sec is not None
    if not sec.data:
        sec.fail(None, "must define at least one hyperparameter",
                 hint="e.g. lr: {type: uniform, min_value: 0.01, max_value: 0.1}")
    out: dict[str, SearchDistribution] = {}
    for name, value in sec.data.items():
        if not isinstance(value, Mapping):
            sec.fail(name, f"must be a mapping {{type, ...}}, not {type_name(value)}",
                     hint="e.g. {type: choice, values: [16, 32]}")
        item = Section(sec.ctx, value, sec.key_path(name), sec.line(name))
        kind = item.get_choice("type", DISTRIBUTION_KINDS, required=True) or ""
        item.check_keys(("type",) + DISTRIBUTION_FIELDS[kind])
        values = item.get("values")
        if values is not None and not isinstance(values, list):
            item.fail("values", f"must be a non-empty list, not {type_name(values)}",
                      hint="e.g. values: [16, 32, 64]")
        dist = SearchDistribution(
            kind=kind, values=None if values is None else plain(values),
            upper=item.get_int("upper"), min_value=_number(item, "min_value"),
            max_value=_number(item, "max_value"), q=_number(item, "q"),
            mu=_number(item, "mu"), sigma=_number(item, "sigma"))
        _check(top, distribution_problem(str(name), dist))
        out[str(name)] = dist
    return out


def _number(sec: Section, key: str) -> float | None:
    if sec.get_number(key) is None:
        return None
    return plain(sec.get(key))   # as written: an integer q gives integer values


def _sampling(top: Section, search_space: dict[str, SearchDistribution]) -> SamplingAlgorithm:
    value = top.get("sampling_algorithm")
    if value is None:
        algorithm = SamplingAlgorithm()
    elif isinstance(value, str):
        algorithm = SamplingAlgorithm(type=_lower_choice(top, "sampling_algorithm",
                                                         SAMPLING_TYPES))
    elif isinstance(value, Mapping):
        sec = top.section("sampling_algorithm")
        assert sec is not None
        sec.check_keys(SAMPLING_KEYS)
        kind = _lower_choice(sec, "type", SAMPLING_TYPES, required=True)
        if sec.has("rule") and kind != "random":
            sec.fail("rule", f"is only for random sampling, not {kind}")
        algorithm = SamplingAlgorithm(type=kind, seed=sec.get_int("seed"),
                                      rule=_lower_choice(sec, "rule", SAMPLING_RULES)
                                      or "random")
    else:
        top.fail("sampling_algorithm", f"must be random, grid, bayesian or a mapping "
                                       f"{{type, seed, rule}}, not {type_name(value)}")
    _check(top, sampling_problem(algorithm, search_space))
    return algorithm


def _lower_choice(sec: Section, key: str, choices: tuple[str, ...], *,
                  required: bool = False) -> str:
    """A case-insensitive choice (the SDK accepts "Random", "Maximize"), in lowercase."""
    value = sec.get_str(key, required=required)
    if value is None:
        return ""
    lowered = value.strip().lower()
    if lowered not in choices:
        close = difflib.get_close_matches(lowered, list(choices), n=1)
        sec.fail(key, f"'{value}' is not one of: {', '.join(choices)}",
                 hint=f"did you mean '{close[0]}'?" if close else None)
    return lowered


# ---- objective, early termination, limits --------------------------------------------------

def _objective(top: Section) -> Objective:
    sec = top.section("objective", required=True)
    assert sec is not None
    sec.check_keys(OBJECTIVE_KEYS)
    objective = Objective(primary_metric=sec.get_str("primary_metric", required=True) or "",
                          goal=_lower_choice(sec, "goal", ("maximize", "minimize"),
                                             required=True))
    _check(top, objective_problem(objective))
    return objective


def _early_termination(top: Section) -> EarlyTermination | None:
    sec = top.section("early_termination")
    if sec is None:
        return None
    kind = sec.get_choice("type", tuple(EARLY_TERMINATION_FIELDS), required=True) or ""
    sec.check_keys(("type",) + EARLY_TERMINATION_FIELDS[kind])
    interval = sec.get_int("evaluation_interval")
    delay = sec.get_int("delay_evaluation")
    policy = EarlyTermination(
        type=kind,
        evaluation_interval=1 if interval is None else interval,
        delay_evaluation=0 if delay is None else delay,
        slack_factor=_number(sec, "slack_factor"),
        slack_amount=_number(sec, "slack_amount"),
        truncation_percentage=sec.get_int("truncation_percentage"),
        exclude_finished_jobs=sec.get_bool("exclude_finished_jobs", False),
    )
    _check(top, early_termination_problem(policy))
    return policy


def _limits(top: Section) -> SweepLimits:
    sec = top.section("limits")
    if sec is None:
        return SweepLimits()
    sec.check_keys(LIMITS_KEYS)
    total = sec.get_int("max_total_trials")
    limits = SweepLimits(
        max_total_trials=SweepLimits().max_total_trials if total is None else total,
        max_concurrent_trials=sec.get_int("max_concurrent_trials"),
        timeout=sec.get_number("timeout"),
        trial_timeout=sec.get_number("trial_timeout"),
    )
    _check(top, limits_problem(limits))
    return limits


# ---- trial ---------------------------------------------------------------------------------

def _trial(top: Section, sweep: SweepJob) -> None:
    value = top.get("trial")
    if value is None:
        top.fail("trial", "is required", hint=_TRIAL_HINT)
    if isinstance(value, str) and value.strip():
        _trial_reference(top, sweep, value)
        return
    if not isinstance(value, Mapping):
        top.fail("trial", f"must be a mapping, a component file or an azureml: reference, "
                          f"not {type_name(value)}", hint=_TRIAL_HINT)
    sec = Section(top.ctx, value, "trial", top.line("trial"))
    extra = {str(k) for k in sec.data} - set(TRIAL_KEYS)
    if extra and extra <= set(COMPONENT_KEYS):
        sweep.trial_component = _inline_component(top, value)
        return
    sec.check_keys(TRIAL_KEYS)
    sweep.trial = _command_trial(sec, sweep.inputs, sweep.outputs, sweep)


def _trial_reference(top: Section, sweep: SweepJob, value: str) -> None:
    if value.startswith("azureml:"):
        try:
            parse_asset_reference(value)
        except InvalidInputError as exc:
            top.fail("trial", exc.message, hint="use azureml:<name>:<version>, "
                                                "azureml:<name>@latest or a registry URI")
        sweep.trial_component_ref = value
        return
    if is_uri(value):
        top.fail("trial", f"'{value}' is not a component reference or local path",
                 hint=_TRIAL_HINT)
    path = top.local_path("trial", value, kind="file")
    sweep.trial_component = load_component_spec(Path(path))


def _inline_component(top: Section, value: Mapping[Any, Any]) -> Component:
    if value.get("name") is None:
        if isinstance(value, CommentedMap):
            value.insert(0, "name", "trial")
        else:
            value = {"name": "trial", **value}
    return _component(Section(top.ctx, value, "trial", top.line("trial")))


def _command_trial(sec: Section, inputs: dict[str, JobInput], outputs: dict[str, JobOutput],
                   sweep: SweepJob) -> Job:
    command = sec.get_str("command", required=True) or ""
    override = sec.ctx.override_for("trial.command")
    validate_command(command, inputs, outputs, sec.ctx.source, sec.line("command"),
                     search_space=list(sweep.search_space), key="trial.command",
                     note=f"set by --set {override}" if override else None)
    _resources(sec.section("resources"))
    _distribution(sec.section("distribution"))
    return Job(
        distribution=plain_section(sec, "distribution"),
        resources=plain_section(sec, "resources"),
        name="",
        command=command,
        experiment_name=sweep.experiment_name,
        code=sec.path_or_uri("code", kind="any"),
        environment=_job_environment(sec),
        environment_variables=sec.get_str_map("environment_variables"),
        compute=sweep.compute or "local",
        inputs=dict(inputs),
        outputs=dict(outputs),
    )
