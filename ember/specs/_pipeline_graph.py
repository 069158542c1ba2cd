"""The graph checks of a loaded pipeline (private; public as
:func:`ember.specs.pipelines.check_pipeline_graph`)."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from ember.entities.components import COMPONENT_DATA_TYPES, ComponentInput
from ember.entities.jobs import DEFAULT_ARTIFACTS_OUTPUT
from ember.entities.pipelines import Binding, PipelineJob, PipelineStep
from ember.errors import SpecError

# Data types a consuming input of the key type also accepts (besides its own type), as Azure
# ML does (its own examples bind both of the last two): a folder input takes a model folder
# or an MLTable folder, and a uri_file output (the input gets the path of that file); an
# mltable input takes a uri_folder output (a folder that holds an MLTable file). The other
# way round stays refused: a uri_file input cannot take a folder.
_DATA_ACCEPTS = {"uri_folder": frozenset({"mltable", "mlflow_model", "custom_model", "uri_file"}),
                 "mltable": frozenset({"uri_folder"})}


def check_pipeline_graph(pipeline: PipelineJob, source: str) -> list[str]:
    """Check the wiring of ``pipeline``; return its step names in a topological order
    (YAML order among steps that are ready together).

    Raises SpecError naming ``source``, the step, the port and (when known) the line, for: a
    binding to an unknown step, step output, pipeline input or pipeline output; a step input
    or output its component does not declare; a required component input left unbound; a
    type mismatch between what is bound and the input; a pipeline output bound twice; an
    unknown ``on_init``/``on_finalize`` step; a cycle (naming its steps).
    Steps whose component is a reference (not loaded yet) skip the port checks.
    """
    check = _Checker(pipeline, source)
    for step in pipeline.jobs.values():
        check.step(step)
    for key in ("on_init", "on_finalize"):
        name = getattr(pipeline.settings, key)
        if name is not None and name not in pipeline.jobs:
            raise SpecError(f"settings.{key}: unknown step '{name}'", file=source,
                            key=f"settings.{key}",
                            hint=_suggest(name, pipeline.jobs, "steps"))
    _check_setup_and_cleanup(pipeline, source)
    return _topological(pipeline, source)


def _check_setup_and_cleanup(pipeline: PipelineJob, source: str) -> None:
    """``on_init`` runs before every other step and ``on_finalize`` after all of them, so (as
    in Azure ML) neither may be wired to another step's outputs, nor feed one."""
    init, final = pipeline.settings.on_init, pipeline.settings.on_finalize
    if init is not None and init == final:
        raise SpecError(f"settings.on_finalize: step '{final}' is also settings.on_init",
                        file=source, key="settings.on_finalize",
                        hint="the setup and the cleanup step must be two different steps")
    special = {n: k for n, k in ((init, "on_init"), (final, "on_finalize")) if n is not None}
    for step in pipeline.jobs.values():
        for port, binding in step.inputs.items():
            if binding.step is None:
                continue
            if step.name in special or binding.step in special:
                name = step.name if step.name in special else binding.step
                key = f"jobs.{step.name}.inputs.{port}"
                raise SpecError(
                    f"{key}: step '{name}' is settings.{special[name]} and cannot be wired to "
                    f"other steps (it consumes or feeds ${{{{parent.jobs.{binding.step}."
                    f"outputs.{binding.step_output}}}}})", file=source,
                    line=binding.line or step.line, key=key,
                    hint="a setup or cleanup step runs apart from the others; pass data "
                         "through pipeline inputs or a datastore path instead")


class _Checker:
    def __init__(self, pipeline: PipelineJob, source: str) -> None:
        self.pipeline = pipeline
        self.source = source
        self.output_owner: dict[str, str] = {}

    def fail(self, step: PipelineStep, side: str, port: str, message: str, *,
             line: int | None, hint: str | None = None) -> SpecError:
        key = f"jobs.{step.name}.{side}.{port}"
        return SpecError(f"{key}: {message}", file=self.source, line=line or step.line,
                         key=key, hint=hint)

    def step(self, step: PipelineStep) -> None:
        component = step.component
        for port, binding in step.inputs.items():
            declared = component.inputs.get(port) if component is not None else None
            if component is not None and declared is None:
                raise self.fail(step, "inputs", port,
                                f"step '{step.name}' has no input '{port}': its component "
                                f"'{component.name}' does not declare it", line=binding.line,
                                hint=_suggest(port, component.inputs, "declared inputs"))
            source_type = self.source_type(step, port, binding)
            want = declared.type if declared is not None else binding.type
            if want is not None and source_type is not None:
                self.check_type(step, port, binding, source_type, want)
            if declared is not None and binding.is_literal:
                self.check_literal(step, port, binding, declared)
        if component is not None:
            for port, spec in component.inputs.items():
                if port not in step.inputs and spec.default is None and not spec.optional:
                    raise self.fail(step, "inputs", port,
                                    f"required input '{port}' of step '{step.name}' "
                                    f"(component '{component.name}') is not bound",
                                    line=step.line,
                                    hint="bind it, e.g. ${{parent.inputs." + port + "}}, or "
                                         "give the component input a default")
        for port, binding in step.outputs.items():
            if (component is not None and port not in component.outputs
                    and not _default_output(step, port)):
                raise self.fail(step, "outputs", port,
                                f"step '{step.name}' has no output '{port}': its component "
                                f"'{component.name}' does not declare it", line=binding.line,
                                hint=_suggest(port, component.outputs, "declared outputs"))
            target = binding.parent_output
            if target is None:
                continue
            if target not in self.pipeline.outputs:
                raise self.fail(step, "outputs", port,
                                f"${{{{parent.outputs.{target}}}}} names unknown pipeline "
                                f"output '{target}'", line=binding.line,
                                hint=_suggest(target, self.pipeline.outputs, "pipeline outputs"))
            owner = self.output_owner.get(target)
            if owner is not None:
                raise self.fail(step, "outputs", port,
                                f"pipeline output '{target}' is already bound by {owner}", line=binding.line)
            self.output_owner[target] = f"step '{step.name}' (output '{port}')"

    def source_type(self, step: PipelineStep, port: str, binding: Binding) -> str | None:
        """The type of what ``binding`` feeds in (None when not known here)."""
        if binding.parent_input is not None:
            name = binding.parent_input
            if name not in self.pipeline.inputs:
                raise self.fail(step, "inputs", port,
                                f"${{{{parent.inputs.{name}}}}} names unknown pipeline input "
                                f"'{name}'", line=binding.line,
                                hint=_suggest(name, self.pipeline.inputs, "pipeline inputs"))
            return self.pipeline.inputs[name].type
        if binding.step is not None:
            return self.step_output_type(step, port, binding)
        if binding.is_literal:
            return binding.type
        return binding.type   # a path: its declared type, if any

    def step_output_type(self, step: PipelineStep, port: str, binding: Binding) -> str | None:
        producer_name, output = binding.step or "", binding.step_output or ""
        text = f"${{{{parent.jobs.{producer_name}.outputs.{output}}}}}"
        if producer_name == step.name:
            raise self.fail(step, "inputs", port,
                            f"{text}: step '{step.name}' cannot consume its own output "
                            f"(cycle: {step.name} -> {step.name})", line=binding.line)
        producer = self.pipeline.jobs.get(producer_name)
        if producer is None:
            raise self.fail(step, "inputs", port, f"{text} names unknown step '{producer_name}'",
                            line=binding.line,
                            hint=_suggest(producer_name, self.pipeline.jobs, "steps"))
        if _default_output(producer, output) and (
                producer.component is None or output not in producer.component.outputs) \
                and output not in producer.outputs:
            return "uri_folder"   # every command step's default output: its ./outputs
        if producer.component is not None:
            declared = producer.component.outputs.get(output)
            if declared is None:
                raise self.fail(step, "inputs", port,
                                f"{text}: step '{producer_name}' has no output '{output}'",
                                line=binding.line,
                                hint=_suggest(output, producer.component.outputs,
                                              f"outputs of '{producer_name}'"))
            return declared.type
        if producer.kind == "command":
            if output not in producer.outputs:
                raise self.fail(step, "inputs", port,
                                f"{text}: step '{producer_name}' has no output '{output}'",
                                line=binding.line,
                                hint=_suggest(output, producer.outputs,
                                              f"outputs of '{producer_name}'"))
            return producer.outputs[output].type or "uri_folder"
        return None   # a referenced component: ports are checked once it is resolved

    def check_type(self, step: PipelineStep, port: str, binding: Binding, got: str,
                   want: str) -> None:
        if got == want or _compatible(got, want):
            return
        what = _describe(binding)
        raise self.fail(step, "inputs", port,
                        f"type mismatch: {what} is {got}, but input '{port}' of step "
                        f"'{step.name}' is {want}", line=binding.line)

    def check_literal(self, step: PipelineStep, port: str, binding: Binding,
                      declared: ComponentInput) -> None:
        value = binding.literal
        if declared.min is not None and value < declared.min:
            raise self.fail(step, "inputs", port, f"{value} is less than min ({declared.min})",
                            line=binding.line)
        if declared.max is not None and value > declared.max:
            raise self.fail(step, "inputs", port,
                            f"{value} is greater than max ({declared.max})", line=binding.line)
        if declared.enum is not None and str(value) not in declared.enum:
            raise self.fail(step, "inputs", port,
                            f"'{value}' is not one of enum: {', '.join(declared.enum)}",
                            line=binding.line)


def _compatible(got: str, want: str) -> bool:
    if got == "integer" and want == "number":
        return True
    if got in COMPONENT_DATA_TYPES and want in _DATA_ACCEPTS:
        return got in _DATA_ACCEPTS[want]
    return False


def _describe(binding: Binding) -> str:
    if binding.parent_input is not None:
        return f"pipeline input '{binding.parent_input}'"
    if binding.step is not None:
        return f"output '{binding.step_output}' of step '{binding.step}'"
    if binding.is_literal:
        return f"the literal {binding.literal!r}"
    return f"the path {binding.path!r}"


def _topological(pipeline: PipelineJob, source: str) -> list[str]:
    order = list(pipeline.jobs)
    upstream = {name: [u for u in pipeline.jobs[name].upstream() if u in pipeline.jobs]
                for name in order}
    waiting = {name: len(ups) for name, ups in upstream.items()}
    downstream: dict[str, list[str]] = {name: [] for name in order}
    for name, ups in upstream.items():
        for u in ups:
            downstream[u].append(name)
    done: list[str] = []
    ready = [name for name in order if waiting[name] == 0]
    while ready:
        ready.sort(key=order.index)
        current = ready.pop(0)
        done.append(current)
        for d in downstream[current]:
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    if len(done) == len(order):
        return done
    cycle = _find_cycle([n for n in order if n not in done], upstream)
    first = pipeline.jobs[cycle[0]]
    port = next((p for p, b in first.inputs.items() if b.step == cycle[1]), "")
    line = first.inputs[port].line if port else first.line
    key = f"jobs.{first.name}.inputs.{port}" if port else f"jobs.{first.name}"
    raise SpecError(f"{key}: the steps form a cycle: {' -> '.join(reversed(cycle))}", file=source,
                    line=line or first.line, key=key,
                    hint="outputs flow along the arrows; a step may only consume outputs of steps "
                         "that do not depend on it")


def _find_cycle(left: list[str], upstream: dict[str, list[str]]) -> list[str]:
    """A cycle among ``left`` as ``[a, b, ..., a]`` where each step consumes the next."""
    start = left[0]
    path = [start]
    seen = {start: 0}
    while True:
        nxt = next(u for u in upstream[path[-1]] if u in left)
        if nxt in seen:
            return path[seen[nxt]:] + [nxt]
        seen[nxt] = len(path)
        path.append(nxt)


def _suggest(name: str, declared: Collection[str], what: str) -> str:
    close = difflib.get_close_matches(name, list(declared), n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    if declared:
        return f"{what}: {', '.join(sorted(declared))}"
    return f"no {what}"


def _default_output(step: PipelineStep, port: str) -> bool:
    """``artifacts``: the default output every command step has in Azure ML (its ./outputs)."""
    return port == DEFAULT_ARTIFACTS_OUTPUT and step.kind in ("command", "component")
