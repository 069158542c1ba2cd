"""Pipelines in Python, the azure-ai-ml way: :func:`load_component` and :func:`pipeline`.

Both build exactly the entities the YAML loader builds (:mod:`ember.specs.pipelines`), so the
server has one code path:

- a component called inside a ``@pipeline`` function records a
  :class:`~ember.entities.pipelines.PipelineStep` (kind "component") and returns a
  :class:`PipelineNode`; its keyword inputs become :class:`~ember.entities.pipelines.Binding`
  objects (a literal, a data path, ``${{parent.inputs.x}}`` for a pipeline parameter,
  ``${{parent.jobs.<step>.outputs.<o>}}`` for another node's output);
- the pipeline function's parameters become the pipeline ``inputs`` and its returned
  ``{name: node.outputs.o}`` dict the pipeline ``outputs`` (``${{parent.outputs.name}}``);
- the graph is checked with :func:`~ember.specs.pipelines.check_pipeline_graph` when the
  pipeline is built, so wiring errors carry the YAML loader's messages;
- a component called outside a pipeline is a command job
  (:class:`~ember.client.builders.CommandJob`).

Decisions where azure-ai-ml is not copied:

- ``@pipeline(name=...)`` names the pipeline *component* in azure-ai-ml; Ember has no pipeline
  components from Python, so ``name`` only serves as the default ``display_name`` (then the
  function name). The job name stays "" and the server generates one.
- A literal is typed from the component input's type when the value fits it (an int fits a
  number input); otherwise from the value, and the graph check reports the mismatch. A ``str``
  or path given to a data input is a data path of the input's type (YAML would read it as a
  string literal).
- A pipeline parameter that is None (passed or by default) is not a pipeline input, and step
  inputs given it stay unbound, as azure-ai-ml drops None inputs.
- Nested ``@pipeline`` functions are refused: a nested pipeline step can only name a
  registered pipeline component for now.

This module holds that public surface: :func:`load_component` and :class:`ComponentFunc`,
:func:`pipeline` and :class:`PipelineFunc`, :class:`PipelineNode` and :class:`NodeOutput`, and
the errors. How a value given to an input (a literal, a path, ``Input(...)``, a node output, a
pipeline parameter) becomes a ``Binding`` or ``JobInput`` is in :mod:`ember.client._dsl_bindings`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

from ember.client._dsl_bindings import (
    _command_job,
    _names,
    _output_path,
    _pipeline_input,
    _step,
    _step_binding,
)
from ember.entities.components import Component, ComponentInput
from ember.entities.jobs import OUTPUT_MODES, OUTPUT_TYPES, JobOutput
from ember.entities.pipelines import (
    Binding,
    PipelineJob,
    PipelineSettings,
    PipelineStep,
)
from ember.errors import InvalidInputError
from ember.specs._job_io import RESERVED_IO_NAMES
from ember.specs.components import load_component_spec
from ember.specs.flow_steps import flow_source
from ember.specs.pipelines import check_pipeline_graph

__all__ = ["ArgumentError", "ComponentFunc", "NodeOutput", "PipelineFunc", "PipelineNode",
           "UnknownOutputError", "load_component", "pipeline"]

_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,254}$")
_IO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ArgumentError(InvalidInputError, TypeError):
    """A component or pipeline function called with arguments it does not take (a TypeError,
    as Python raises for a bad call, and an InvalidInputError like every Ember input error)."""


class UnknownOutputError(InvalidInputError, AttributeError):
    """``node.outputs.<name>`` names an output the component does not declare."""


# The pipeline being built by the innermost running @pipeline function (None outside one).
_building: contextvars.ContextVar[_Builder | None] = contextvars.ContextVar(
    "ember_dsl_pipeline", default=None)


def building() -> bool:
    """True inside a ``@pipeline`` function being called (steps are being recorded)."""
    return _building.get() is not None


def load_component(source: str | os.PathLike[str]) -> ComponentFunc:
    """Load a command component YAML; call the result with keyword inputs. A prompt flow
    (``flow.dag.yaml``, its folder, or a promptflow run YAML) loads as the command component
    that runs it over its ``data`` (:mod:`ember.client.flow_components`).

    Raises SpecError naming the file, line and key when the component does not validate.
    """
    if flow_source(Path(source)) is not None:
        from ember.client.flow_components import load_flow_component

        return load_flow_component(Path(source))
    return ComponentFunc(load_component_spec(Path(source)))


class ComponentFunc:
    """A loaded component, callable with keyword inputs: inside a ``@pipeline`` function it
    adds a step and returns its :class:`PipelineNode`; outside, it returns a
    :class:`~ember.client.builders.CommandJob` with the inputs bound and the defaults
    applied."""

    def __init__(self, component: Component) -> None:
        self.component = component

    @property
    def name(self) -> str:
        return self.component.name

    def __repr__(self) -> str:
        return f"<component {self.component.name!r} inputs={list(self.component.inputs)}>"

    def __call__(self, *args: Any, **inputs: Any) -> Any:
        if args:
            raise ArgumentError(f"component '{self.name}' takes keyword inputs only "
                                f"(inputs: {_names(self.component.inputs)})")
        for port in inputs:
            _declared(self.component, port)
        builder = _building.get()
        if builder is None:
            return _command_job(self.component, inputs)
        node = PipelineNode(self.component, builder.next_name(self.name))
        for port, value in inputs.items():
            node._bind(port, value)
        builder.nodes.append(node)
        return node


class PipelineNode:
    """One step of the pipeline being built. ``name``, ``compute``, ``display_name``,
    ``description``, ``tags``, ``timeout``, ``environment_variables``, ``distribution`` and
    ``resources`` may be set until the pipeline function returns (the last two as in the YAML,
    e.g. ``{"type": "pytorch", "process_count_per_instance": 2}``, ``{"instance_count": 2}``;
    they go over the component's); ``inputs.<name> = value`` rebinds an input and
    ``outputs.<name>`` is what another step or the pipeline's returned dict consumes."""

    def __init__(self, component: Component, name: str) -> None:
        self.component = component
        self._name = name
        self.compute: str | None = None
        self.display_name = ""
        self.description = ""
        self.tags: dict[str, str] = {}
        self.timeout: float | None = None
        self.environment_variables: dict[str, str] = {}
        self.distribution: dict[str, Any] | None = None
        self.resources: dict[str, Any] | None = None
        self._given: dict[str, Any] = {}
        self._bindings: dict[str, Binding | NodeOutput] = {}
        self.inputs = _NodeInputs(self)
        self.outputs = _NodeOutputs(self)

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str) or not _STEP_NAME.match(value):
            raise InvalidInputError(f"{value!r} is not a valid step name: letters, digits, '_' "
                                    "and '-', starting with a letter or '_'")
        self._name = value

    def __repr__(self) -> str:
        return f"<step {self._name!r} of component {self.component.name!r}>"

    def _bind(self, port: str, value: Any) -> None:
        declared = _declared(self.component, port)
        self._given[port] = value
        binding = _step_binding(self.component, port, declared, value)
        if binding is None:
            self._bindings.pop(port, None)
        else:
            self._bindings[port] = binding


class _NodeInputs:
    """``node.inputs.<name>``: what the input was given (None when unbound); settable."""

    def __init__(self, node: PipelineNode) -> None:
        object.__setattr__(self, "_node", node)

    def __getattr__(self, port: str) -> Any:
        if port.startswith("__"):
            raise AttributeError(port)
        node: PipelineNode = object.__getattribute__(self, "_node")
        _declared(node.component, port)
        return node._given.get(port)

    def __setattr__(self, port: str, value: Any) -> None:
        self._node._bind(port, value)

    def __dir__(self) -> list[str]:
        return sorted(self._node.component.inputs)


class NodeOutput:
    """``node.outputs.<name>``: pass it to another step's input or return it from the pipeline
    function. ``type``, ``mode`` and ``path`` (None: the component's type, ``rw_mount``, the
    system path) apply to the pipeline output when it is returned, else to the step output."""

    def __init__(self, node: PipelineNode, port: str) -> None:
        self.node = node
        self.port = port
        self.type: str | None = None
        self.mode: str | None = None
        self.path: str | None = None

    def __repr__(self) -> str:
        return f"<output {self.port!r} of step {self.node.name!r}>"

    def _check(self) -> None:
        where = f"output '{self.port}' of step '{self.node.name}'"
        if self.type is not None and self.type not in OUTPUT_TYPES:
            raise InvalidInputError(f"{where}: type '{self.type}' is not one of "
                                    f"{', '.join(OUTPUT_TYPES)}")
        if self.mode is not None and self.mode not in OUTPUT_MODES:
            raise InvalidInputError(f"{where}: mode '{self.mode}' is not one of "
                                    f"{', '.join(OUTPUT_MODES)}")


class _NodeOutputs:
    """``node.outputs.<name>`` → :class:`NodeOutput`; ``node.outputs.<name> = Output(...)``
    sets its type, mode and path."""

    def __init__(self, node: PipelineNode) -> None:
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_ports", {})

    def __getattr__(self, port: str) -> NodeOutput:
        if port.startswith("__"):
            raise AttributeError(port)
        node: PipelineNode = object.__getattribute__(self, "_node")
        ports: dict[str, NodeOutput] = object.__getattribute__(self, "_ports")
        if port not in node.component.outputs:
            raise UnknownOutputError(
                f"step '{node.name}' (component '{node.component.name}') has no output "
                f"'{port}'; declared outputs: {_names(node.component.outputs)}")
        if port not in ports:
            ports[port] = NodeOutput(node, port)
        return ports[port]

    def __setattr__(self, port: str, value: Any) -> None:
        out = self.__getattr__(port)
        if not isinstance(value, JobOutput):
            raise InvalidInputError(f"output '{port}' of step '{out.node.name}' takes an "
                                    f"Output(...), not {type(value).__name__}")
        out.type, out.mode, out.path = value.type, value.mode, value.path

    def __dir__(self) -> list[str]:
        node: PipelineNode = object.__getattribute__(self, "_node")
        return sorted(node.component.outputs)


class _Parameter:
    """A pipeline function's parameter inside its body: binds as ``${{parent.inputs.<name>}}``."""

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"${{{{parent.inputs.{self.name}}}}}"


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[PipelineNode] = []
        self.uses: dict[str, int] = {}

    def next_name(self, component: str) -> str:
        count = self.uses.get(component, 0) + 1
        self.uses[component] = count
        return component if count == 1 else f"{component}_{count}"


_F = TypeVar("_F", bound=Callable[..., Any])


class PipelineFunc:
    """A ``@pipeline`` function: calling it builds and checks a :class:`PipelineJob`."""

    def __init__(self, func: Callable[..., Any], options: dict[str, Any]) -> None:
        self.func = func
        self.options = options
        self.signature = inspect.signature(func)
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ArgumentError(f"pipeline '{func.__qualname__}': *args and **kwargs are "
                                    "not supported; name each pipeline input")
            _check_io_name(f"pipeline '{func.__qualname__}' parameter", param.name)
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<pipeline {self.func.__qualname__}{self.signature}>"

    def __call__(self, *args: Any, **kwargs: Any) -> PipelineJob:
        """Build the pipeline job with these inputs.

        Raises ArgumentError for missing or unknown parameters, InvalidInputError for what
        a step cannot take or an unusable return value, SpecError for wiring errors.
        """
        source = self.func.__qualname__
        if _building.get() is not None:
            raise InvalidInputError(f"pipeline '{source}': nested @pipeline functions are not "
                                    "supported yet; call the components directly")
        values = self._arguments(args, kwargs)
        params = {name: _Parameter(name, value) for name, value in values.items()}
        builder = _Builder()
        token = _building.set(builder)
        try:
            returned = self.func(**params)
        finally:
            _building.reset(token)
        job = self._job(builder, values, returned)
        check_pipeline_graph(job, source)
        return job

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        source = self.func.__qualname__
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise ArgumentError(f"pipeline '{source}': {exc} (parameters: "
                                f"{_names(self.signature.parameters)})") from None
        values: dict[str, Any] = {}
        for name, param in self.signature.parameters.items():
            if name in bound.arguments:
                values[name] = bound.arguments[name]
            elif param.default is not param.empty:
                values[name] = param.default
            else:
                raise ArgumentError(f"pipeline '{source}' needs a value for parameter "
                                    f"'{name}'")
        return values

    def _job(self, builder: _Builder, values: dict[str, Any], returned: Any) -> PipelineJob:
        opts = self.options
        job = PipelineJob(
            display_name=opts["display_name"] or opts["name"] or self.func.__name__,
            experiment_name=opts["experiment_name"] or "",
            description=(opts["description"] if opts["description"] is not None
                         else inspect.getdoc(self.func) or ""),
            tags=dict(opts["tags"] or {}),
            inputs={name: _pipeline_input(self.func.__qualname__, name, value)
                    for name, value in values.items() if value is not None},
            compute=opts["compute"],
            settings=_settings(opts),
        )
        steps: dict[str, PipelineStep] = {}
        for node in builder.nodes:
            if node.name in steps:
                raise InvalidInputError(f"pipeline '{self.func.__qualname__}': two steps are "
                                        f"named '{node.name}'; set node.name to tell them apart")
            steps[node.name] = _step(node, builder)
        job.jobs = steps
        self._outputs(job, builder, returned)
        return job

    def _outputs(self, job: PipelineJob, builder: _Builder, returned: Any) -> None:
        source = self.func.__qualname__
        if returned is None:
            return
        if not isinstance(returned, Mapping):
            raise InvalidInputError(f"pipeline '{source}' must return None or a dict of "
                                    f"{{name: node.outputs.<name>}}, not "
                                    f"{type(returned).__name__}")
        promoted: dict[tuple[int, str], str] = {}
        for name, out in returned.items():
            if not isinstance(out, NodeOutput) or out.node not in builder.nodes:
                raise InvalidInputError(f"pipeline '{source}': output '{name}' must be a step "
                                        f"output of this pipeline (node.outputs.<name>), not "
                                        f"{out!r}")
            _check_io_name(f"pipeline '{source}' output", name)
            key = (id(out.node), out.port)
            if key in promoted:
                raise InvalidInputError(f"pipeline '{source}': output '{out.port}' of step "
                                        f"'{out.node.name}' is returned twice ('{promoted[key]}' "
                                        f"and '{name}')")
            promoted[key] = str(name)
            out._check()
            declared = out.node.component.outputs[out.port].type
            job.outputs[str(name)] = JobOutput(
                type=out.type or declared, mode=out.mode or "rw_mount",
                path=_output_path(out.path))
            job.jobs[out.node.name].outputs[out.port] = Binding(parent_output=str(name))


@overload
def pipeline(func: _F, /) -> PipelineFunc: ...


@overload
def pipeline(func: None = None, /, *, name: str | None = None, display_name: str | None = None,
             description: str | None = None, experiment_name: str | None = None,
             default_compute: str | None = None, compute: str | None = None,
             continue_on_step_failure: bool | None = None, force_rerun: bool | None = None,
             default_datastore: str | None = None,
             tags: dict[str, str] | None = None) -> Callable[[_F], PipelineFunc]: ...


def pipeline(func: Callable[..., Any] | None = None, /, *, name: str | None = None,
             display_name: str | None = None, description: str | None = None,
             experiment_name: str | None = None, default_compute: str | None = None,
             compute: str | None = None, continue_on_step_failure: bool | None = None,
             force_rerun: bool | None = None, default_datastore: str | None = None,
             tags: dict[str, str] | None = None) -> Any:
    """Decorate a function that calls components: ``@pipeline`` or ``@pipeline(...)``.

    ``default_compute``, ``default_datastore``, ``continue_on_step_failure`` and
    ``force_rerun`` go to ``PipelineSettings`` (its defaults when None); ``compute`` is the
    pipeline's top-level compute; ``description`` defaults to the docstring.
    """
    for key, flag in (("continue_on_step_failure", continue_on_step_failure),
                      ("force_rerun", force_rerun)):
        if flag is not None and not isinstance(flag, bool):
            raise InvalidInputError(f"{key} must be True or False, not {flag!r}")
    options = {"name": name, "display_name": display_name, "description": description,
               "experiment_name": experiment_name, "default_compute": default_compute,
               "compute": compute, "continue_on_step_failure": continue_on_step_failure,
               "force_rerun": force_rerun, "default_datastore": default_datastore,
               "tags": tags}

    def decorate(f: Callable[..., Any]) -> PipelineFunc:
        return PipelineFunc(f, options)

    return decorate if func is None else decorate(func)


# -- settings and name checks ----------------------------------------------------------------

def _settings(opts: dict[str, Any]) -> PipelineSettings:
    settings = PipelineSettings(default_compute=opts["default_compute"])
    datastore = opts["default_datastore"]
    if datastore is not None:
        settings.default_datastore = datastore.removeprefix("azureml:")
    for key in ("continue_on_step_failure", "force_rerun"):
        if opts[key] is not None:
            setattr(settings, key, opts[key])
    return settings


def _declared(component: Component, port: str) -> ComponentInput:
    declared = component.inputs.get(port)
    if declared is None:
        raise ArgumentError(f"component '{component.name}' has no input '{port}'; declared "
                            f"inputs: {_names(component.inputs)}")
    return declared


def _check_io_name(what: str, name: Any) -> None:
    if not isinstance(name, str) or not _IO_NAME.match(name):
        raise InvalidInputError(f"{what} {name!r} is not a valid name: use letters, digits and "
                                "'_', not starting with a digit")
    if name.lower() in RESERVED_IO_NAMES:
        raise InvalidInputError(f"{what} '{name}' is a reserved name (reserved: "
                                f"{', '.join(sorted(RESERVED_IO_NAMES))})")
