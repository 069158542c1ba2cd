"""Command job YAML (reference 1.1) → :class:`~ember.entities.jobs.Job`.

How the spec lands in the entity (what the job engine can rely on):

- ``name`` "" when absent (the service generates one); ``experiment_name`` "" when absent (the
  client fills the default); ``type`` is always "command" (other types are refused for now).
- ``code``: an absolute local path (checked to exist) or a URI / ``azureml:`` ref as written.
- ``environment``: None, an asset reference string exactly as written (``azureml:name:version``,
  ``azureml:name@latest``, ARM id or registry URI: parse it with
  :func:`ember.specs.references.parse_asset_ref`), or an inline
  :class:`~ember.entities.environments.Environment` with empty name/version.
- ``compute``: "local" when absent, else the string as written (``local``, ``azureml:<name>``).
- ``limits.timeout`` → ``Job.timeout`` (float seconds).
- ``command`` is kept as written (templates unrendered); render it with
  :func:`ember.specs.expressions.render_command`.
- ``distribution`` and ``resources`` land in ``Job.distribution``/``Job.resources`` as plain
  data (the runner starts the distributed processes); ``services``, ``identity``,
  ``queue_settings`` are validated but the entity has no fields for them: read them from the
  spec with :func:`job_extras`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.entities.environments import Environment
from ember.entities.jobs import Job
from ember.errors import InvalidInputError
from ember.specs._job_io import parse_inputs, parse_outputs
from ember.specs._job_settings import check_settings, plain_section
from ember.specs._schema import Ctx, Section, load_spec, plain
from ember.specs.environments import environment_from_section
from ember.specs.expressions import validate_command
from ember.specs.references import is_uri, parse_asset_ref
from ember.specs.yamlio import type_name


class SpecNotice(UserWarning):
    """Something in a spec that Ember accepts but does not act on (e.g. an unknown pipeline
    setting, kept and ignored). Issued with :func:`warnings.warn` while loading: the CLI
    prints each one to stderr as a ``Notice:`` line; SDK users see a Python warning."""

COMMAND_JOB_KEYS = (
    "$schema", "type", "name", "display_name", "experiment_name", "description", "tags",
    "properties", "command", "code", "environment", "environment_variables", "compute",
    "resources", "limits", "inputs", "outputs", "distribution", "services", "identity",
    "queue_settings", "is_deterministic",
)
EXTRA_KEYS = ("resources", "distribution", "services", "identity", "queue_settings",
              "is_deterministic")
# Azure ML job types that Ember does not run yet; anything else is a typo.
LATER_TYPES = ("pipeline", "sweep", "parallel", "spark", "automl", "import", "data_transfer")
_LIMITS_KEYS = ("timeout",)
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")
_COMPUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def load_job_spec(path: Path, overrides: list[str] | None = None) -> Job:
    """Load a job YAML file, apply ``--set`` overrides, validate, return the Job.

    Raises SpecError naming the file, line and key of the first problem (and the override
    when one set the offending value).
    """
    data, ctx = load_spec(path, overrides)
    return _job(Section(ctx, data))


def job_from_dict(data: dict[str, Any], source: str, base_dir: Path, *,
                  overridden: dict[str, str] | None = None) -> Job:
    """Validate a loaded job mapping (ruamel's keeps line numbers; a plain dict works too).

    Local paths resolve relative to ``base_dir``; errors name ``source``; ``overridden`` is
    the ``{dotted path: override}`` record of :func:`~ember.specs.overrides.apply_overrides`.
    """
    return _job(Section(Ctx(source, Path(base_dir).resolve(), overridden or {}), data))


def job_extras(data: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a validated job spec that the Job entity does not carry, as plain data:
    any of ``resources``, ``distribution``, ``services``, ``identity``, ``queue_settings``,
    ``is_deterministic`` that are present."""
    return {key: plain(data[key]) for key in EXTRA_KEYS if data.get(key) is not None}


def _job(top: Section) -> Job:
    job_type = top.get_str("type") or "command"
    if job_type != "command":
        if job_type in LATER_TYPES:
            top.fail("type", f"job type '{job_type}' is not supported yet")
        close = difflib.get_close_matches(job_type, ("command", *LATER_TYPES), n=1)
        top.fail("type", f"unknown job type '{job_type}'",
                 hint=f"did you mean '{close[0]}'?" if close else None)
    if top.has("component"):
        top.fail("component", "a command job has no 'component': it runs its own 'command' "
                              "(with 'code', 'environment', 'inputs', 'outputs')",
                 hint="copy the component's command, code and environment into the job, or "
                      "make it a pipeline job ('type: pipeline') with the component as a step: "
                      "jobs: {<step>: {component: <file or azureml:name:version>}}")
    top.check_keys(COMMAND_JOB_KEYS)
    name = top.get_str("name") or ""
    if name and not _JOB_NAME.match(name):
        top.fail("name", f"'{name}' is not a valid job name: letters, digits, '-' and '_', "
                         "starting with a letter or digit")
    command = top.get_str("command", required=True) or ""
    inputs = parse_inputs(top)
    outputs = parse_outputs(top)
    override = top.ctx.override_for("command")
    validate_command(command, inputs, outputs, top.ctx.source, top.line("command"),
                     note=f"set by --set {override}" if override else None)
    check_settings(top)
    deterministic = top.get_bool("is_deterministic", True)
    return Job(
        name=name,
        command=command,
        type="command",
        display_name=top.get_str("display_name", nonempty=False) or "",
        experiment_name=top.get_str("experiment_name") or "",
        description=top.get_str("description", nonempty=False) or "",
        tags=top.get_str_map("tags"),
        properties=top.get_str_map("properties"),
        code=top.path_or_uri("code", kind="any"),
        environment=_environment(top),
        environment_variables=top.get_str_map("environment_variables"),
        compute=_compute(top),
        inputs=inputs,
        outputs=outputs,
        timeout=_timeout(top),
        is_deterministic=bool(deterministic),
        distribution=plain_section(top, "distribution"),
        resources=plain_section(top, "resources"),
    )


def _environment(top: Section) -> str | Environment | None:
    value = top.get("environment")
    if value is None:
        return None
    if isinstance(value, Mapping):
        sub = top.section("environment")
        assert sub is not None
        return environment_from_section(sub, inline=True)
    if not isinstance(value, str):
        top.fail("environment", f"must be a reference or a mapping, not {type_name(value)}")
    try:
        parse_asset_ref(value)
    except InvalidInputError as exc:
        top.fail("environment", exc.message,
                 hint="use azureml:<name>:<version>, azureml:<name>@latest, a registry URI, "
                      "or an inline mapping such as {image: python:3.11-slim}")
    return str(value)


def _compute(top: Section) -> str:
    value = top.get_str("compute")
    if value is None:
        return "local"
    if value == "local":
        return value
    if value.startswith("azureml:"):
        try:
            parse_asset_ref(value)
        except InvalidInputError:
            top.fail("compute", f"'{value}' is not a compute reference",
                     hint="use 'local' or azureml:<compute-name>")
        return value
    if is_uri(value) or not _COMPUTE_NAME.match(value):
        top.fail("compute", f"'{value}' is not a compute name",
                 hint="use 'local' or azureml:<compute-name>")
    return value


def _timeout(top: Section) -> float | None:
    limits = top.section("limits")
    if limits is None:
        return None
    limits.check_keys(_LIMITS_KEYS)
    return limits.get_number("timeout", positive=True)
