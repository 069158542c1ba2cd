"""Pipeline job YAML (reference 1.2) → :class:`~ember.entities.pipelines.PipelineJob`.

Loading validates the shape (unknown keys with did-you-mean hints, file:line:key errors,
``--set`` overrides applied first) and then the graph with :func:`check_pipeline_graph`.
Nothing is run. How the spec lands in the entities:

- pipeline ``inputs``/``outputs`` as for a command job (JobInput / JobOutput);
- each step of ``jobs`` is a :class:`~ember.entities.pipelines.PipelineStep`:

  - ``component: ./file.yml`` (relative to the pipeline YAML) or an inline mapping → a loaded
    :class:`~ember.entities.components.Component` (an inline component without ``name`` is
    named after the step); ``component: azureml:name:version`` / ``@latest`` / registry URI →
    ``component_ref``, kept as written for the server to resolve;
  - inline command fields (``command``, ``code``, ``environment``...) → ``kind`` "command" and
    a :class:`~ember.entities.jobs.Job` in ``step.job`` (name = step name) whose inputs and
    outputs are only those the step fixes itself (literals, paths, plain outputs);
  - ``type: pipeline`` → a nested pipeline component, by reference only for now;
  - step ``inputs``/``outputs`` → :class:`~ember.entities.pipelines.Binding`.

- ``settings.continue_on_step_failure`` defaults to False (stop at the first failure);
  ``force_rerun`` to False. Step ``compute`` is kept as written (None when absent); use
  :meth:`~ember.entities.pipelines.PipelineJob.step_compute`.
- step ``distribution``/``resources`` as plain data: on ``step.job`` for an inline command
  step, else on the step (over its component's when the child job is made).
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ember.entities.components import Component
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.entities.components import component_name_error
from ember.entities.pipelines import (
    Binding,
    PipelineJob,
    PipelineSettings,
    PipelineStep,
    pipeline_to_plain,
)
from ember.errors import InvalidInputError
from ember.specs._job_io import parse_inputs, parse_outputs
from ember.specs._job_settings import check_settings, plain_section
from ember.specs._pipeline_bindings import parse_step_inputs, parse_step_outputs
from ember.specs._pipeline_graph import check_pipeline_graph
from ember.specs._schema import Ctx, Section, load_spec, plain
from ember.specs.components import _component, load_component_spec
from ember.specs.components import _inputs as component_inputs
from ember.specs.components import _outputs as component_outputs
from ember.specs.expressions import validate_command
from ember.specs.flow_steps import flow_step_section, load_flow_component, step_flow_source
from ember.specs.jobs import _environment as _job_environment
from ember.specs.jobs import SpecNotice, _timeout
from ember.specs.references import is_uri, parse_asset_reference
from ember.specs.yamlio import type_name

__all__ = ["check_pipeline_graph", "load_pipeline_spec", "pipeline_from_dict"]

PIPELINE_JOB_KEYS = ("$schema", "type", "name", "display_name", "experiment_name", "description",
                     "tags", "properties", "inputs", "outputs", "jobs", "settings", "compute",
                     "identity")
SETTINGS_KEYS = ("default_compute", "default_datastore", "continue_on_step_failure",
                 "force_rerun", "on_init", "on_finalize")
_STEP_COMMON_KEYS = ("type", "name", "display_name", "description", "tags", "properties",
                     "inputs", "outputs", "compute", "environment_variables", "limits",
                     "resources", "distribution", "services", "identity", "queue_settings")
COMPONENT_STEP_KEYS = _STEP_COMMON_KEYS + ("component",)
COMMAND_STEP_KEYS = _STEP_COMMON_KEYS + ("command", "code", "environment", "experiment_name",
                                         "is_deterministic")
PIPELINE_COMPONENT_KEYS = ("$schema", "type", "name", "version", "display_name", "description",
                           "tags", "inputs", "outputs", "jobs", "settings")
SWEEP_STEP_KEYS = ("type", "name", "display_name", "description", "tags", "properties",
                   "inputs", "outputs", "compute", "trial", "search_space",
                   "sampling_algorithm", "objective", "early_termination", "limits",
                   "identity", "queue_settings")
_SWEEP_OWN_KEYS = ("type", "trial", "search_space", "sampling_algorithm", "objective",
                   "early_termination", "limits")
LATER_STEP_TYPES = ("parallel", "spark", "automl", "import", "data_transfer")
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,254}$")
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")
_COMPUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def load_pipeline_spec(path: Path, overrides: list[str] | None = None) -> PipelineJob:
    """Load a ``type: pipeline`` job YAML, apply ``--set`` overrides, validate it and its graph.

    Component files named by steps load relative to the pipeline file. Raises SpecError naming
    the file, line and key (for graph errors: the step and port) of the first problem.
    """
    data, ctx = load_spec(path, overrides)
    pipeline = _pipeline(Section(ctx, data))
    check_pipeline_graph(pipeline, ctx.source)
    return pipeline


def pipeline_from_dict(data: Mapping[str, Any], source: str, base_dir: Path, *,
                       overridden: dict[str, str] | None = None) -> PipelineJob:
    """Validate a loaded pipeline mapping (see :func:`~ember.specs.jobs.job_from_dict`)."""
    ctx = Ctx(source, Path(base_dir).resolve(), overridden or {})
    pipeline = _pipeline(Section(ctx, data))
    check_pipeline_graph(pipeline, source)
    return pipeline


def _pipeline(top: Section) -> PipelineJob:
    kind = top.get_str("type", required=True)
    if kind != "pipeline":
        top.fail("type", f"expected 'type: pipeline', not '{kind}'",
                 hint="command jobs load with load_job_spec")
    if top.has("component"):
        top.fail("component", "a pipeline job has no top-level 'component': its steps go "
                              "under 'jobs:', and 'component:' belongs to a step",
                 hint="e.g. jobs: {train: {component: ./train.yml, inputs: {...}}}; a "
                      "pipeline of one step runs a single component")
    top.check_keys(PIPELINE_JOB_KEYS)
    name = top.get_str("name") or ""
    if name and not _JOB_NAME.match(name):
        top.fail("name", f"'{name}' is not a valid job name: letters, digits, '-' and '_', "
                         "starting with a letter or digit")
    check_settings(top)
    steps = _steps(top)
    return PipelineJob(
        name=name,
        display_name=top.get_str("display_name", nonempty=False) or "",
        experiment_name=top.get_str("experiment_name") or "",
        description=top.get_str("description", nonempty=False) or "",
        tags=top.get_str_map("tags"),
        properties=top.get_str_map("properties"),
        inputs=parse_inputs(top),
        outputs=parse_outputs(top),
        jobs=steps,
        settings=_settings(top),
        compute=_compute(top, "compute"),
    )


def _steps(top: Section) -> dict[str, PipelineStep]:
    jobs = top.section("jobs", required=True)
    assert jobs is not None
    if not jobs.data:
        jobs.fail(None, "must name at least one step")
    steps: dict[str, PipelineStep] = {}
    for step_name in jobs.data:
        if not isinstance(step_name, str) or not _STEP_NAME.match(step_name):
            jobs.fail(step_name, "is not a valid step name: letters, digits, '_' and '-', "
                                 "starting with a letter or '_'")
        sec = jobs.section(step_name, required=True)
        assert sec is not None
        steps[step_name] = _step(step_name, sec)
    return steps


def load_pipeline_component_spec(path: Path) -> tuple[Component, PipelineJob]:
    """A pipeline component file (``type: pipeline`` with declared inputs/outputs and
    ``jobs``): its interface as a Component (for the parent's graph checks) and its body."""
    data, ctx = load_spec(path, None)
    return _pipeline_component(Section(ctx, data))


def _pipeline_component(top: Section) -> tuple[Component, PipelineJob]:
    kind = top.get_str("type", required=True)
    if kind != "pipeline":
        top.fail("type", f"expected 'type: pipeline' for a pipeline component, not '{kind}'")
    top.check_keys(PIPELINE_COMPONENT_KEYS)
    name = top.get_str("name") or "pipeline_component"
    error = component_name_error(name)
    if error:
        top.fail("name", error)
    declared_inputs = component_inputs(top)
    declared_outputs = component_outputs(top)
    body = PipelineJob(
        display_name=top.get_str("display_name", nonempty=False) or "",
        description=top.get_str("description", nonempty=False) or "",
        tags=top.get_str_map("tags"),
        inputs={k: JobInput(type=v.type, value=v.default,
                            optional=v.optional or v.default is None)
                for k, v in declared_inputs.items()},
        outputs={k: JobOutput(type=v.type) for k, v in declared_outputs.items()},
        jobs=_steps(top),
        settings=_settings(top),
    )
    check_pipeline_graph(body, top.ctx.source)
    interface = Component(name=name, command="", type="pipeline", inputs=declared_inputs,
                          outputs=declared_outputs, version=top.get_str("version") or "",
                          description=body.description)
    return interface, body


def _settings(top: Section) -> PipelineSettings:
    sec = top.section("settings")
    if sec is None:
        return PipelineSettings()
    ignored = {str(k): plain(v) for k, v in sec.data.items() if k not in SETTINGS_KEYS}
    for key in ignored:
        # Azure accepts settings it has added over time; refusing the job for one (or for a
        # typo) would stop an Azure YAML that runs there from running here.
        close = difflib.get_close_matches(key, SETTINGS_KEYS, n=1)
        line = sec.line(key)
        warnings.warn(SpecNotice(
            f"{sec.ctx.source}{f':{line}' if line else ''}: settings.{key} is not a setting "
            f"Ember knows; kept and ignored"
            + (f" (did you mean '{close[0]}'?)" if close else
               f" (Ember's settings: {', '.join(SETTINGS_KEYS)})")), stacklevel=2)
    datastore = sec.get_str("default_datastore")
    if datastore is not None and datastore.startswith("azureml:"):
        datastore = datastore[len("azureml:"):]
    return PipelineSettings(
        default_compute=_compute(sec, "default_compute"),
        default_datastore=datastore,
        continue_on_step_failure=sec.get_bool("continue_on_step_failure", False),
        force_rerun=sec.get_bool("force_rerun", False),
        on_init=sec.get_str("on_init"),
        on_finalize=sec.get_str("on_finalize"),
        ignored=ignored,
    )


def _compute(sec: Section, key: str) -> str | None:
    value = sec.get_str(key)
    if value is None or value == "local":
        return value
    hint = "use 'local' or azureml:<compute-name>"
    if value.startswith("azureml:"):
        try:
            parse_asset_reference(value)
        except InvalidInputError:
            sec.fail(key, f"'{value}' is not a compute reference", hint=hint)
        return value
    if is_uri(value) or not _COMPUTE_NAME.match(value):
        sec.fail(key, f"'{value}' is not a compute name", hint=hint)
    return value


def _step(name: str, sec: Section) -> PipelineStep:
    declared = sec.get_str("type")
    has_component = sec.has("component")
    if declared == "sweep":
        return _sweep_step(name, sec)
    if has_component and step_flow_source(sec) is not None:
        # A prompt flow (Azure: a parallel component); it runs as a command step here.
        if declared not in (None, "command", "parallel"):
            sec.fail("type", f"a prompt flow step is 'type: parallel', not '{declared}'")
        sec, declared = flow_step_section(sec), None
    if declared is not None and declared not in ("command", "pipeline"):
        if declared in LATER_STEP_TYPES:
            sec.fail("type", f"step type '{declared}' is not supported yet")
        close = difflib.get_close_matches(declared, ("command", "pipeline",
                                                     *LATER_STEP_TYPES), n=1)
        sec.fail("type", f"unknown step type '{declared}'",
                 hint=f"did you mean '{close[0]}'?" if close else None)
    if has_component:
        sec.check_keys(COMPONENT_STEP_KEYS)
        kind = "pipeline" if declared == "pipeline" else "component"
    elif declared == "pipeline":
        sec.fail("component", "is required for a pipeline step",
                 hint="component: azureml:<pipeline-component>:<version>")
    elif sec.has("command"):
        sec.check_keys(COMMAND_STEP_KEYS)
        kind = "command"
    else:
        sec.check_keys(COMMAND_STEP_KEYS + ("component",))
        sec.fail(None, f"step '{name}' needs 'component:' or an inline 'command:'")
    check_settings(sec)
    inputs = parse_step_inputs(sec)
    outputs = parse_step_outputs(sec)
    step = PipelineStep(
        name=name,
        kind=kind,
        inputs=inputs,
        outputs=outputs,
        compute=_compute(sec, "compute"),
        environment_variables=sec.get_str_map("environment_variables"),
        timeout=_timeout(sec),
        display_name=sec.get_str("display_name", nonempty=False) or "",
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"),
        line=sec.line_hint,
    )
    if kind != "command":
        step.distribution = plain_section(sec, "distribution")
        step.resources = plain_section(sec, "resources")
    if kind == "command":
        step.job = _inline_job(name, sec, inputs, outputs)
    else:
        _component_of(step, sec)
    return step


def _sweep_step(name: str, sec: Section) -> PipelineStep:
    """``type: sweep`` step: the sweep's own keys load as a sweep job (its trial usually a
    component file); the step's inputs/outputs are bindings like any step's."""
    from ember.entities.sweeps import sweep_to_dict
    from ember.specs.sweeps import _sweep

    sec.check_keys(SWEEP_STEP_KEYS)
    inputs = parse_step_inputs(sec)
    outputs = parse_step_outputs(sec)
    own = CommentedMap()
    for key in _SWEEP_OWN_KEYS:
        if key in sec.data:
            own[key] = sec.data[key]
    for key in own:   # keep each key's line for error messages
        line = sec.line(key)
        if line is not None:
            own.lc.add_kv_line_col(key, [line - 1, 0, line - 1, 0])
    # Placeholders: the step's bound inputs count as bound for the sweep's own checks.
    own["inputs"] = {port: {"type": "string", "default": "bound"} for port in inputs}
    sweep = _sweep(Section(sec.ctx, own, sec.path, sec.line_hint))
    sweep.inputs = {}   # the step's bindings fill them when the step starts
    if sweep.trial is not None:
        for port in inputs:
            sweep.trial.inputs.pop(port, None)
    component = None
    if sweep.trial_component is not None:
        component = Component.from_dict(sweep.trial_component.to_dict())
        for hyper in sweep.search_space:
            component.inputs.pop(hyper, None)
    return PipelineStep(
        name=name, kind="sweep", component=component, inputs=inputs, outputs=outputs,
        compute=_compute(sec, "compute"),
        display_name=sec.get_str("display_name", nonempty=False) or "",
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"), sweep=sweep_to_dict(sweep), line=sec.line_hint)


def _component_of(step: PipelineStep, sec: Section) -> None:
    value = sec.get("component")
    if isinstance(value, Mapping) and step.kind == "pipeline":
        sub = sec.section("component")
        assert sub is not None
        _set_nested(step, *_pipeline_component(sub))
        return
    if isinstance(value, Mapping):
        if value.get("name") is None and isinstance(value, CommentedMap):
            value.insert(0, "name", _component_name(step.name))
        elif value.get("name") is None:
            value = {"name": _component_name(step.name), **value}
        step.component = _component(Section(sec.ctx, value, sec.key_path("component"),
                                            sec.line("component")))
        return
    if not isinstance(value, str) or not value.strip():
        sec.fail("component", "must be a path (./component.yml), an azureml: reference or an "
                              f"inline mapping, not {type_name(value)}")
    if value.startswith("azureml:"):
        try:
            parse_asset_reference(value)
        except InvalidInputError as exc:
            sec.fail("component", exc.message,
                     hint="use azureml:<name>:<version>, azureml:<name>@latest or a registry "
                          "URI")
        step.component_ref = value
        return
    if is_uri(value):
        sec.fail("component", f"'{value}' is not a component reference or local path")
    flow = step_flow_source(sec)
    if flow is not None and step.kind == "component":
        step.component = load_flow_component(flow, sec)
        return
    path = sec.local_path("component", value, kind="file")
    if step.kind == "pipeline":
        _set_nested(step, *load_pipeline_component_spec(Path(path)))
        return
    component: Component = load_component_spec(Path(path))
    step.component = component


def _set_nested(step: PipelineStep, interface: Component, body: PipelineJob) -> None:
    step.component = interface
    step.pipeline = pipeline_to_plain(body)


def _component_name(step_name: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", step_name.lower())
    return name if name[:1].isalpha() else f"step_{name}"


def _inline_job(name: str, sec: Section, inputs: dict[str, Binding],
                outputs: dict[str, Binding]) -> Job:
    command = sec.get_str("command", required=True) or ""
    override = sec.ctx.override_for(sec.key_path("command"))
    validate_command(command, inputs, outputs, sec.ctx.source, sec.line("command"),
                     key=sec.key_path("command"),
                     note=f"set by --set {override}" if override else None)
    deterministic = sec.get_bool("is_deterministic", True)
    job_inputs: dict[str, JobInput] = {}
    for port, binding in inputs.items():
        if binding.is_literal:
            job_inputs[port] = JobInput(type=binding.type or "string", value=binding.literal)
        elif binding.path is not None:
            job_inputs[port] = JobInput(type=binding.type or "uri_folder", path=binding.path,
                                        mode=binding.mode or "ro_mount")
    job_outputs: dict[str, JobOutput] = {}
    for port, binding in outputs.items():
        if binding.parent_output is None:
            job_outputs[port] = JobOutput(type=binding.type or "uri_folder", path=binding.path,
                                          mode=binding.mode or "rw_mount")
    return Job(
        name=name,
        command=command,
        display_name=sec.get_str("display_name", nonempty=False) or "",
        experiment_name=sec.get_str("experiment_name") or "",
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"),
        properties=sec.get_str_map("properties"),
        code=sec.path_or_uri("code", kind="any"),
        environment=_job_environment(sec),
        environment_variables=sec.get_str_map("environment_variables"),
        compute=_compute(sec, "compute") or "local",
        inputs=job_inputs,
        outputs=job_outputs,
        timeout=_timeout(sec),
        is_deterministic=bool(deterministic),
        distribution=plain_section(sec, "distribution"),
        resources=plain_section(sec, "resources"),
    )
