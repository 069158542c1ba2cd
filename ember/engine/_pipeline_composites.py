"""Composite steps of a pipeline: sweep and nested-pipeline steps (private; used by
:class:`ember.engine.pipelines.PipelineDriver`).

A composite step is a child job that is itself a composite (a sweep or a pipeline job) and
advances on the orchestrator like any other. The step input binding and the record of a step
that cannot start are shared with command steps and live here too, so that imports run one
way: ``pipelines`` → ``_pipeline_composites``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from ember.engine.jobs import JobService, default_output_uri
from ember.engine.orchestrator import Orchestrator
from ember.engine.sweeps import SweepService
from ember.entities.jobs import Job, JobInput, JobOutput, JobStatus
from ember.entities.pipelines import (
    Binding,
    PipelineJob,
    PipelineStep,
    pipeline_from_plain,
)
from ember.entities.sweeps import sweep_from_dict
from ember.errors import ConflictError, EmberError

if TYPE_CHECKING:   # pipelines imports this module
    from ember.engine.pipelines import PipelineService


class CompositeSteps:
    """Starts the sweep and nested-pipeline steps of the pipelines the driver advances."""

    def __init__(self, jobs: JobService, orchestrator: Orchestrator, sweeps: SweepService,
                 pipelines: PipelineService) -> None:
        self.jobs = jobs
        self.orchestrator = orchestrator
        self.sweeps = sweeps
        self.pipelines = pipelines

    def start_sweep_step(self, workspace: str, pjob: Job, pipeline: PipelineJob,
                         step: PipelineStep, children: dict[str, Job]) -> Job:
        """A sweep step is a sweep child job (itself a composite); its outputs become the
        best trial's outputs when it completes."""
        assert step.sweep is not None
        sweep = sweep_from_dict(step.sweep)
        sweep.name = f"{pjob.name}-{step.name}"
        sweep.display_name = step.display_name or step.name
        sweep.compute = pipeline.step_compute(step)
        sweep.tags = {**sweep.tags, **step.tags}
        bound = bind_inputs(step, Job(name="", command=""), pjob, children)
        sweep.inputs = {k: v for k, v in bound.items() if k in step.inputs}
        comp = sweep.trial_component
        if comp is not None:
            sweep.outputs = {k: JobOutput(type=o.type) for k, o in comp.outputs.items()}
        for port, binding in step.outputs.items():
            sweep.outputs.setdefault(port, JobOutput(type=binding.type or "uri_folder"))
        return self._create(
            workspace, pjob, step, sweep.name, sweep.display_name,
            lambda: self.sweeps.create(workspace, sweep, parent=pjob, step_name=step.name))

    def start_nested_step(self, workspace: str, pjob: Job, pipeline: PipelineJob,
                          step: PipelineStep, children: dict[str, Job]) -> Job:
        """A nested pipeline component is a pipeline child job whose inputs are this step's
        bindings (its own steps reuse and run as any steps do)."""
        assert step.pipeline is not None
        inner = pipeline_from_plain(step.pipeline)
        inner.name = f"{pjob.name}-{step.name}"
        inner.display_name = step.display_name or step.name
        inner.experiment_name = pjob.experiment_name
        inner.compute = pipeline.step_compute(step)
        if pipeline.settings.force_rerun:
            inner.settings.force_rerun = True
        inner.settings.default_datastore = (inner.settings.default_datastore
                                            or pipeline.settings.default_datastore)
        bound = bind_inputs(step, Job(name="", command=""), pjob, children)
        # An optional input left unset stays declared (without a value): the nested steps
        # bound to it get no value, as a step's own unset optional input does.
        inner.inputs = {k: v for k, v in bound.items()
                        if v.value is not None or v.path is not None or k in step.inputs
                        or v.optional}
        for port, binding in step.outputs.items():
            target = binding.parent_output
            explicit = pipeline.outputs[target].path if target is not None else None
            if port in inner.outputs and (binding.path or explicit):
                inner.outputs[port].path = binding.path or explicit
        def create() -> Job:
            created = self.pipelines.create(workspace, inner, parent=pjob, step_name=step.name)
            ignored = [k for k in ("distribution", "resources") if getattr(step, k)]
            if ignored:   # said once, when the nested pipeline job is made
                self.jobs.append_server_log(workspace, created.name, (
                    f"[ember] {' and '.join(ignored)} on step {step.name!r} (a pipeline "
                    "component) ignored: they apply to command steps; set them on the nested "
                    "pipeline's steps or on their components\n").encode())
            return created

        return self._create(workspace, pjob, step, inner.name, inner.display_name, create)

    def _create(self, workspace: str, pjob: Job, step: PipelineStep, name: str,
                display_name: str, create: Callable[[], Job]) -> Job:
        """Record a sweep or nested-pipeline step (idempotent across a restart); one that
        cannot be created ends Failed with the reason instead of blocking the pipeline."""
        self.orchestrator.adopt(workspace, pjob.name, name)
        try:
            return create()
        except ConflictError:
            return self.jobs.get(workspace, name)
        except EmberError as exc:
            failed = Job(name=name, command="true", parent_job_name=pjob.name,
                         step_name=step.name, experiment_name=pjob.experiment_name,
                         display_name=display_name, is_deterministic=False)
            return record_failed_step(self.jobs, workspace, failed, exc)


def record_failed_step(jobs: JobService, workspace: str, child: Job, exc: EmberError) -> Job:
    """A step that cannot even be submitted (e.g. its input vanished) ends Failed, with
    the reason, instead of blocking the pipeline."""
    child.command = child.command or "true"
    child.inputs = {}
    child.reuse_key = None
    jobs.resolve_outputs(child)
    return jobs.record(workspace, child, status=JobStatus.FAILED, error=exc.message,
                       reason=f"the step could not start: {exc.message}")


def bind_inputs(step: PipelineStep, child: Job, pjob: Job,
                children: dict[str, Job]) -> dict[str, JobInput]:
    """``child``'s inputs with every port of ``step``'s component bound: a step binding, else
    the component's default, else an unset optional input."""
    declared = step.component.inputs if step.component is not None else {}
    inputs = dict(child.inputs)
    for port, spec in declared.items():
        if port not in step.inputs:
            if spec.default is not None:
                inputs[port] = JobInput(type=spec.type, value=spec.default)
            else:
                inputs[port] = JobInput(type=spec.type, optional=True)
    for port, binding in step.inputs.items():
        want = declared[port].type if port in declared else None
        inputs[port] = _bound_input(binding, want, pjob, children)
        if port in declared:
            inputs[port].optional = declared[port].optional
    return inputs


def _bound_input(binding: Binding, want: str | None, pjob: Job,
                 children: dict[str, Job]) -> JobInput:
    if binding.parent_input is not None:
        source = pjob.inputs[binding.parent_input]
        got = replace(source)
        if binding.mode and not got.is_literal:
            got.mode = binding.mode
        if want in ("number", "integer", "boolean", "string") and got.is_literal:
            got.type = want
        return got
    if binding.step is not None:
        producer = children[binding.step]
        out = producer.outputs[binding.step_output or ""]
        path = out.path or default_output_uri(producer.name, binding.step_output or "")
        return JobInput(type=want or out.type, path=path, mode=binding.mode or "ro_mount")
    if binding.path is not None:
        return JobInput(type=want or binding.type or "uri_folder", path=binding.path,
                        mode=binding.mode or "ro_mount")
    return JobInput(type=want or binding.type or "string", value=binding.literal)
