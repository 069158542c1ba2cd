"""How the pipeline DSL (:mod:`ember.client.dsl`) turns what a component input or pipeline
parameter is given into entities: a Python literal, a path, ``Input(...)``, another node's
output or a pipeline parameter becomes a :class:`~ember.entities.pipelines.Binding` of a step
(:func:`_step_binding`, :func:`_step`) or a :class:`~ember.entities.jobs.JobInput` of the
pipeline (:func:`_pipeline_input`) or of a standalone command job (:func:`_command_job`).

Private: the public names stay in :mod:`ember.client.dsl`. The functions that must tell a
node, a node output or a pipeline parameter apart import those classes from
:mod:`ember.client.dsl` when called, as that module imports this one.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ember.client.builders import CommandJob, _abs
from ember.entities.components import Component, ComponentInput
from ember.entities.jobs import LITERAL_TYPES, JobInput, JobOutput, literal_type
from ember.entities.pipelines import Binding, PipelineStep
from ember.errors import InvalidInputError
from ember.specs._job_settings import check_run_settings

if TYPE_CHECKING:
    from ember.client.dsl import NodeOutput, PipelineNode, _Builder


def _step(node: PipelineNode, builder: _Builder) -> PipelineStep:
    from ember.client.dsl import NodeOutput

    inputs: dict[str, Binding] = {}
    for port, binding in node._bindings.items():
        if isinstance(binding, NodeOutput):
            if binding.node not in builder.nodes:
                raise InvalidInputError(f"input '{port}' of step '{node.name}' is bound to "
                                        f"{binding!r}, which belongs to another pipeline")
            binding = Binding(step=binding.node.name, step_output=binding.port)
        inputs[port] = binding
    outputs: dict[str, Binding] = {}
    ports: dict[str, NodeOutput] = object.__getattribute__(node.outputs, "_ports")
    for port, out in ports.items():
        out._check()
        if out.type is not None or out.mode is not None or out.path is not None:
            outputs[port] = Binding(type=out.type, mode=out.mode,
                                    path=_output_path(out.path))
    return PipelineStep(
        name=node.name, kind="component", component=copy.deepcopy(node.component),
        inputs=inputs, outputs=outputs, compute=node.compute,
        environment_variables={k: str(v) for k, v in node.environment_variables.items()},
        timeout=node.timeout, display_name=node.display_name, description=node.description,
        tags=dict(node.tags),
        distribution=_run_setting(node.name, "distribution", node.distribution),
        resources=_run_setting(node.name, "resources", node.resources))


def _run_setting(step: str, key: str, value: Any) -> dict[str, Any] | None:
    """``node.distribution``/``node.resources``: a dict as in the YAML, checked as there."""
    if value is None:
        return None
    where = f"step '{step}'"
    if key == "distribution":
        check_run_settings(where, distribution=value, resources=None)
    else:
        check_run_settings(where, distribution=None, resources=value)
    return dict(copy.deepcopy(value))


def _step_binding(component: Component, port: str, declared: ComponentInput,
                  value: Any) -> Binding | NodeOutput | None:
    """What a step input given ``value`` is bound to (None: unbound)."""
    from ember.client.dsl import NodeOutput, PipelineNode, _Parameter

    if value is None:
        return None
    if isinstance(value, _Parameter):
        return None if value.value is None else Binding(parent_input=value.name)
    if isinstance(value, NodeOutput):
        return value
    if isinstance(value, PipelineNode):
        raise InvalidInputError(f"input '{port}' of component '{component.name}' was given the "
                                f"step '{value.name}'; pass one of its outputs: "
                                f"{_names(value.component.outputs)}")
    if isinstance(value, JobInput):
        if value.is_literal:
            if value.value is None:
                raise InvalidInputError(f"input '{port}' of component '{component.name}': "
                                        f"Input(type='{value.type}') has no default value")
            return Binding(literal=value.value, type=value.type)
        if value.path is None:
            raise InvalidInputError(f"input '{port}' of component '{component.name}': "
                                    f"Input(type='{value.type}') has no path")
        return Binding(path=value.path, type=value.type, mode=value.mode)
    if declared.type not in LITERAL_TYPES and isinstance(value, (str, os.PathLike)):
        return Binding(path=_abs(value), type=declared.type)
    kind = literal_type(value)
    if kind is None:
        raise InvalidInputError(f"input '{port}' of component '{component.name}' cannot take "
                                f"a {type(value).__name__}: give a literal, Input(...), a "
                                "pipeline parameter or another step's output")
    return Binding(literal=value, type=declared.type if _fits(kind, declared.type) else kind)


def _pipeline_input(source: str, name: str, value: Any) -> JobInput:
    if isinstance(value, JobInput):
        if not value.is_literal and value.mode is None:
            return replace(value, mode="ro_mount")
        return replace(value)
    if isinstance(value, os.PathLike):
        return JobInput(type="uri_folder", path=_abs(value), mode="ro_mount")
    kind = literal_type(value)
    if kind is None:
        raise InvalidInputError(f"pipeline '{source}' parameter '{name}' cannot take a "
                                f"{type(value).__name__}: give a literal or Input(...)")
    return JobInput(type=kind, value=value)


def _command_job(component: Component, given: dict[str, Any]) -> CommandJob:
    """The component as a standalone command job: ``given`` bound, defaults applied."""
    from ember.client.dsl import ArgumentError, NodeOutput, PipelineNode, _Parameter

    inputs: dict[str, JobInput] = {}
    search_space: dict[str, Any] = {}
    for port, declared in component.inputs.items():
        value = given.get(port)
        where = f"input '{port}' of component '{component.name}'"
        if isinstance(value, (_Parameter, NodeOutput, PipelineNode)):
            raise InvalidInputError(f"{where}: {value!r} can only be used inside a @pipeline "
                                    "function")
        if value is None:
            if declared.default is not None:
                inputs[port] = _default_input(declared)
            elif declared.optional:
                inputs[port] = JobInput(type=declared.type, optional=True)
            else:
                raise ArgumentError(f"component '{component.name}' needs a value for required "
                                    f"input '{port}' ({declared.type})")
        elif isinstance(value, JobInput):
            inputs[port] = replace(value)
        elif declared.type not in LITERAL_TYPES and isinstance(value, (str, os.PathLike)):
            inputs[port] = JobInput(type=declared.type, path=_abs(value), mode="ro_mount")
        elif (kind := literal_type(value)) is not None:
            if not _fits(kind, declared.type):
                raise InvalidInputError(f"{where} is {declared.type}, not {value!r} ({kind})")
            inputs[port] = JobInput(type=declared.type, value=value)
        elif declared.type in LITERAL_TYPES:
            search_space[port] = value    # a search-space distribution, read by .sweep()
        else:
            raise InvalidInputError(f"{where} ({declared.type}) cannot take a "
                                    f"{type(value).__name__}: give a path or Input(...)")
    return CommandJob(
        name="", command=component.command, code=component.code,
        environment=component.environment, inputs=inputs,
        outputs={port: JobOutput(type=out.type) for port, out in component.outputs.items()},
        experiment_name="", display_name=component.display_name,
        description=component.description, search_space_inputs=search_space,
        distribution=copy.deepcopy(component.distribution),
        resources=copy.deepcopy(component.resources))


def _output_path(path: str | None) -> str | None:
    # Paths with server-side tokens (${{name}}, ...) stay as written, as in YAML.
    return path if path is None or "${{" in path else _abs(path)


def _default_input(declared: ComponentInput) -> JobInput:
    if declared.type in LITERAL_TYPES:
        return JobInput(type=declared.type, value=declared.default, optional=declared.optional)
    # A data input's default is a path or URI kept as written, as the component loader keeps it.
    return JobInput(type=declared.type, path=declared.default, mode="ro_mount",
                    optional=declared.optional)


def _fits(kind: str, declared: str) -> bool:
    return kind == declared or (kind == "integer" and declared == "number")


def _names(names: Any) -> str:
    return ", ".join(sorted(names)) or "none"
