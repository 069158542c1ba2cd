"""Pipeline jobs: submit (checks before anything is written) and the driver that runs the steps.

Each step becomes a child job named ``<pipeline>-<step>`` (``ember job list --parent-job-name``)
once every step it consumes has Completed; the scheduler then runs children concurrently up to
the compute's capacity. Outputs pass by URI: a consuming step's input is the producing step's
output URI, nothing is copied. A deterministic step whose reuse key (see
:mod:`ember.engine.reuse`) matches an earlier Completed job is recorded Completed at once,
pointing at that job's outputs.

Failure: with ``continue_on_step_failure: false`` (Ember's default) the first failed step
cancels the running steps and the pipeline ends Failed; with ``true`` the branches that do not
depend on the failed step run to the end, and the pipeline still ends Failed.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from ember.engine import names
from ember.engine._model_inputs import resolve_model_inputs, type_from_consumers
from ember.engine._pipeline_composites import (
    CompositeSteps,
    bind_inputs,
    record_failed_step,
)
from ember.engine.jobs import JobService, default_output_uri
from ember.engine.orchestrator import Driver, Orchestrator
from ember.engine.reuse import DataHasher, reuse_key
from ember.engine.sweeps import SweepService, trial_template
from ember.entities.components import Component, overlay_run_settings
from ember.entities.jobs import DEFAULT_ARTIFACTS_OUTPUT, Job, JobInput, JobOutput, JobStatus
from ember.entities.names import check_name
from ember.entities.pipelines import (
    PipelineJob,
    PipelineStep,
    pipeline_from_plain,
    pipeline_to_plain,
)
from ember.entities.sweeps import sweep_from_dict, sweep_to_dict
from ember.errors import (
    ConflictError,
    EmberError,
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
)
from ember.services import builtin_components
from ember.services.components import ComponentService
from ember.services.models import ModelService
from ember.specs.pipelines import check_pipeline_graph

MAX_STEPS = 100_000


class PipelineService:
    def __init__(self, jobs: JobService, components: ComponentService,
                 orchestrator: Orchestrator, models: ModelService | None = None) -> None:
        self.jobs = jobs
        self.components = components
        self.orchestrator = orchestrator
        self.models = models   # model references as inputs (engine/_model_inputs.py)

    def create(self, workspace: str, pipeline: PipelineJob, *, parent: Job | None = None,
               step_name: str | None = None, submitter: str | None = None) -> Job:
        """Resolve component references, check the graph and every step, then record the
        pipeline job (Queued; the orchestrator starts its steps). Nothing is written when a
        check fails. ``parent``/``step_name``: a nested pipeline step of ``parent``."""
        pipeline.display_name = pipeline.display_name or names.display_name()
        pipeline.name = pipeline.name or names.job_name(pipeline.display_name)
        check_name("job", pipeline.name)
        self.jobs.check_unused_name(workspace, pipeline.name)
        untyped = (resolve_model_inputs(self.models, workspace, pipeline.inputs)
                   if self.models is not None else [])
        for step in pipeline.jobs.values():
            self._resolve_step(workspace, step, pipeline.inputs)
            check_name("job", f"{pipeline.name}-{step.name}")
            # refused here, at submit, as each step would be when it is started
            self.jobs.computes.check_job_compute(workspace, pipeline.step_compute(step),
                                                 f"step {step.name!r}")
        type_from_consumers(pipeline, untyped)
        check_pipeline_graph(pipeline, f"pipeline job {pipeline.name}")
        if pipeline.settings.default_datastore is not None:
            try:
                self.jobs.datastores.get(workspace, pipeline.settings.default_datastore)
            except NotFoundError as exc:
                raise NotFoundError(f"settings.default_datastore: {exc.message}") from None
        shell = Job(name=pipeline.name, command="", type="pipeline",
                    inputs={k: replace(v) for k, v in pipeline.inputs.items()})
        self.jobs.resolve_inputs(workspace, shell)
        pipeline.inputs = shell.inputs
        for out_name, out in pipeline.outputs.items():
            if out.path:
                out.path = (out.path.replace("${{name}}", pipeline.name)
                            .replace("${{output_name}}", out_name))
        job = Job(
            name=pipeline.name, command="", type="pipeline",
            display_name=pipeline.display_name,
            experiment_name=pipeline.experiment_name or "Default",
            description=pipeline.description, tags=pipeline.tags,
            properties=pipeline.properties, compute=pipeline.compute or "local",
            inputs=pipeline.inputs,
            outputs={k: replace(v) for k, v in pipeline.outputs.items()},
            definition=pipeline_to_plain(pipeline), submitter=submitter,
        )
        if parent is not None:
            job.parent_job_name = parent.name
            job.step_name = step_name
            job.experiment_name = parent.experiment_name
            job.is_deterministic = False
        created = self.jobs.record(workspace, job)
        self.orchestrator.submitted(workspace, created)
        return created

    def steps(self, workspace: str, name: str) -> list[dict[str, Any]]:
        """The pipeline's steps in definition order: status (``NotStarted`` before its child
        job exists), child job, the steps it consumes (the setup step first, when there is
        one), the job it reused and its component."""
        job = self.jobs.get(workspace, name, with_history=False)
        if job.type != "pipeline" or job.definition is None:
            raise InvalidInputError(f"job {name!r} is a {job.type} job; only pipeline jobs "
                                    "have steps")
        pipeline = pipeline_from_plain(job.definition)
        children = {c.step_name: c for c in self.jobs.list(
            workspace, parent_job_name=name, max_results=MAX_STEPS, with_history=False)}
        init = pipeline.settings.on_init
        rows: list[dict[str, Any]] = []
        for step_name, step in pipeline.jobs.items():
            ups = step.upstream()
            if init is not None and step_name not in (init, pipeline.settings.on_finalize):
                ups = [init, *ups]
            elif step_name == pipeline.settings.on_finalize:
                ups = [s for s in pipeline.jobs if s != step_name]
            child = children.get(step_name)
            rows.append({"step": step_name,
                         "status": child.status if child else "NotStarted",
                         "job": child.name if child else None,
                         "depends_on": ups,
                         "reused_from": child.reused_from if child else None,
                         "component": child.component if child else None})
        return rows

    def _resolve_step(self, workspace: str, step: PipelineStep,
                      inputs: dict[str, JobInput]) -> None:
        """Resolve ``step``'s component reference (a registry pipeline component makes it a
        nested pipeline step) and check what it needs; ``inputs``: its pipeline's."""
        where = f"step {step.name!r}"
        if step.kind == "sweep":
            self._resolve_sweep_step(workspace, step)
            return
        if step.component_ref is not None:
            self._resolve_component_ref(workspace, step)
        builtin_components.check_step_values(step.component, _known_values(step, inputs), where)
        if step.kind == "pipeline":
            assert step.pipeline is not None
            inner = pipeline_from_plain(step.pipeline)
            for sub in inner.jobs.values():
                try:
                    self._resolve_step(workspace, sub, inner.inputs)
                except EmberError as exc:
                    raise type(exc)(f"{where}: {exc.message}") from None
            check_pipeline_graph(inner, f"pipeline component of step {step.name!r}")
            step.pipeline = pipeline_to_plain(inner)
            return
        template = _step_template(step)
        try:
            self.jobs.uploads.check_code(workspace, template.code)
            self.jobs.resolve_environment(workspace, template)
        except EmberError as exc:
            raise type(exc)(f"{where}: {exc.message}") from None


    def _resolve_component_ref(self, workspace: str, step: PipelineStep) -> None:
        where, ref = f"step {step.name!r}", step.component_ref or ""
        if step.kind == "pipeline" and not ref.startswith("azureml://registries/"):
            raise UnsupportedError(f"{where}: registered pipeline components are not supported "
                                   "yet (only the built-in azureml registry's); reference the "
                                   "pipeline component's YAML file (component: "
                                   "./sub_pipeline.yml)")
        try:
            component, body = self.components.resolve(workspace, ref)
        except EmberError as exc:
            raise type(exc)(f"{where}: {exc.message}") from None
        if body is not None:   # a pipeline component: the step runs it as a nested pipeline
            step.kind = "pipeline"
            step.pipeline = pipeline_to_plain(body)
        elif step.kind == "pipeline":
            raise InvalidInputError(f"{where}: {ref} is a command component; drop "
                                    "'type: pipeline' from the step")
        step.component = component
        step.component_ref = None

    def _resolve_sweep_step(self, workspace: str, step: PipelineStep) -> None:
        assert step.sweep is not None
        sweep = sweep_from_dict(step.sweep)
        try:
            if sweep.trial_component_ref is not None:
                trial, body = self.components.resolve(workspace, sweep.trial_component_ref)
                if body is not None:
                    raise InvalidInputError(f"trial: {sweep.trial_component_ref} is a pipeline "
                                            "component; a sweep's trial is a command component")
                sweep.trial_component = trial
                sweep.trial_component_ref = None
                step.component = Component.from_dict(sweep.trial_component.to_dict())
                for hyper in sweep.search_space:
                    step.component.inputs.pop(hyper, None)
                step.sweep = sweep_to_dict(sweep)
            template = trial_template(sweep)
            self.jobs.uploads.check_code(workspace, template.code)
            self.jobs.resolve_environment(workspace, template)
        except EmberError as exc:
            raise type(exc)(f"step {step.name!r}: {exc.message}") from None


class PipelineDriver(Driver):
    def __init__(self, jobs: JobService, orchestrator: Orchestrator, hasher: DataHasher,
                 sweeps: SweepService, pipelines: PipelineService) -> None:
        self.jobs = jobs
        self.orchestrator = orchestrator
        self.hasher = hasher
        self.sweeps = sweeps
        self.pipelines = pipelines
        self.composites = CompositeSteps(jobs, orchestrator, sweeps, pipelines)
        self._orders: dict[str, list[str]] = {}
        self._parsed: dict[str, PipelineJob] = {}
        self._child_cache: dict[str, dict[str, Job]] = {}

    def _order(self, job: Job, pipeline: PipelineJob) -> list[str]:
        order = self._orders.get(job.name)
        if order is None:
            order = check_pipeline_graph(pipeline, f"pipeline job {job.name}")
            self._orders[job.name] = order
        return order

    def _pipeline(self, job: Job) -> PipelineJob:
        """The parsed definition (it never changes after submit), cached per pipeline job."""
        cached = self._parsed.get(job.name)
        if cached is None:
            assert job.definition is not None
            cached = pipeline_from_plain(job.definition)
            self._parsed[job.name] = cached
        return cached

    def _children(self, workspace: str, job: Job) -> dict[str, Job]:
        """The pipeline's children by step. Only those whose status changed since the last
        look are read in full (a long chain would otherwise re-read every step each time)."""
        cache = self._child_cache.setdefault(job.name, {})
        out: dict[str, Job] = {}
        for name, status in self.jobs.child_statuses(workspace, job.name).items():
            child = cache.get(name)
            if child is None or child.status != status:
                child = self.jobs.get(workspace, name, with_history=False)
                cache[name] = child
            out[child.step_name or child.name] = child
        return out

    def advance(self, workspace: str, job: Job) -> list[str]:
        pipeline = self._pipeline(job)
        order = self._order(job, pipeline)
        children = self._children(workspace, job)
        if job.status == JobStatus.CANCEL_REQUESTED:
            self.cancel(workspace, job, "the pipeline was canceled")
            return [c.name for c in children.values()]
        if job.status == JobStatus.QUEUED:
            self.jobs.move(workspace, job.name, JobStatus.RUNNING,
                           allowed_from=frozenset({JobStatus.QUEUED}))
        failed = [s for s in order if s in children
                  and children[s].status in (JobStatus.FAILED, JobStatus.CANCELED)]
        stopping = bool(failed) and not pipeline.settings.continue_on_step_failure
        if stopping:
            why = (f"step '{failed[0]}' {children[failed[0]].status.lower()} and "
                   "continue_on_step_failure is false")
            for child in children.values():
                if child.status not in JobStatus.TERMINAL:
                    self._cancel_child(workspace, child.name, why)
        elif (self._start_ready(workspace, job, pipeline, order, children)
              or any(c.status not in JobStatus.TERMINAL for c in children.values())):
            return [c.name for c in children.values()]   # a child's end advances us again
        children = self._children(workspace, job)
        if any(c.status not in JobStatus.TERMINAL for c in children.values()):
            return [c.name for c in children.values()]
        # A step may have Completed since the first listing: its consumers start now rather
        # than the pipeline ending with them not run.
        if not stopping and self._start_ready(workspace, job, pipeline, order, children):
            return [c.name for c in children.values()]
        final = pipeline.settings.on_finalize
        if final is not None and final not in children:
            # Every other step has ended (or will never run): the cleanup step runs now,
            # whatever their outcome, and the pipeline ends after it.
            child = self._start_step(workspace, job, pipeline, final, children)
            children[final] = child
            if child.status not in JobStatus.TERMINAL:
                return [c.name for c in children.values()]
        self._finish(workspace, job, pipeline, order, children)
        return [c.name for c in children.values()]

    def _start_ready(self, workspace: str, job: Job, pipeline: PipelineJob, order: list[str],
                     children: dict[str, Job]) -> int:
        """Start every step whose upstream steps are Completed; returns how many started and
        are still running (reused steps complete at once and do not count)."""
        running = 0
        progress = True
        init, final = pipeline.settings.on_init, pipeline.settings.on_finalize
        while progress:   # reused steps complete at once: their consumers may start too
            progress = False
            for step_name in order:
                if step_name in children or step_name == final:
                    continue   # the cleanup step starts once the others have ended
                ups = pipeline.jobs[step_name].upstream()
                if init is not None and step_name != init:
                    ups = [init, *ups]   # the setup step runs before every other step
                if all(u in children and children[u].status == JobStatus.COMPLETED
                       for u in ups):
                    child = self._start_step(workspace, job, pipeline, step_name, children)
                    children[step_name] = child
                    progress = progress or child.status == JobStatus.COMPLETED
                    running += child.status not in JobStatus.TERMINAL
        return running

    def _start_step(self, workspace: str, pjob: Job, pipeline: PipelineJob, step_name: str,
                    children: dict[str, Job]) -> Job:
        step = pipeline.jobs[step_name]
        if step.kind == "sweep":
            return self.composites.start_sweep_step(workspace, pjob, pipeline, step, children)
        if step.kind == "pipeline":
            return self.composites.start_nested_step(workspace, pjob, pipeline, step, children)
        child = _step_template(step)
        child.name = f"{pjob.name}-{step_name}"
        child.parent_job_name = pjob.name
        child.step_name = step_name
        child.experiment_name = pjob.experiment_name
        child.experiment_id = pjob.experiment_id
        child.compute = pipeline.step_compute(step)
        child.display_name = step.display_name or step_name
        child.inputs = bind_inputs(step, child, pjob, children)
        for port, binding in step.outputs.items():
            target = binding.parent_output
            explicit = pipeline.outputs[target].path if target is not None else None
            # An undeclared port bound to a pipeline output takes that output's type (a
            # uri_file pipeline output makes the step's output a file path, not a folder).
            implied = pipeline.outputs[target].type if target is not None else None
            out = child.outputs.get(port) or JobOutput(
                type=binding.type or implied or "uri_folder")
            child.outputs[port] = replace(out, path=binding.path or explicit or out.path,
                                          mode=binding.mode or out.mode)
        # Azure ML's default output of every step: the runner puts ./outputs there.
        child.outputs.setdefault(DEFAULT_ARTIFACTS_OUTPUT, JobOutput(type="uri_folder"))
        _place_outputs(child, pipeline.settings.default_datastore)
        self.orchestrator.adopt(workspace, pjob.name, child.name)
        try:
            created = self._create_child(workspace, child,
                                         reuse=not pipeline.settings.force_rerun)
        except ConflictError:
            created = self.jobs.get(workspace, child.name)   # already started before a restart
        except EmberError as exc:
            created = record_failed_step(self.jobs, workspace, child, exc)
        self._publish_outputs(workspace, pjob, step, created)
        return created

    def _create_child(self, workspace: str, child: Job, *, reuse: bool) -> Job:
        self.jobs.check(workspace, child)
        if reuse and child.is_deterministic:
            child.reuse_key = reuse_key(workspace, child, self.hasher)
            source = self.jobs.find_reusable(workspace, child.reuse_key)
            if source is not None and source.reused_from:   # point at the job that ran
                source = self.jobs.get(workspace, source.reused_from, with_history=False)
            if source is not None and self._outputs_exist(workspace, source):
                return self.jobs.create_reused(workspace, child, source)
        elif child.is_deterministic:
            child.reuse_key = reuse_key(workspace, child, self.hasher)
        self.jobs.resolve_outputs(child)
        return self.jobs.record(workspace, child)

    def _outputs_exist(self, workspace: str, source: Job) -> bool:
        for name, out in source.outputs.items():
            try:
                store, rel = self.jobs.datastores.locate_uri(
                    workspace, out.path or default_output_uri(source.name, name),
                    self.jobs.output_uri)
            except EmberError:
                return False
            if not store.exists(rel):
                return False
        return True

    def _publish_outputs(self, workspace: str, pjob: Job, step: PipelineStep,
                         child: Job) -> None:
        changed = False
        for port, binding in step.outputs.items():
            target = binding.parent_output
            if target is not None and port in child.outputs and target in pjob.outputs:
                pjob.outputs[target] = replace(pjob.outputs[target],
                                               path=child.outputs[port].path)
                changed = True
        if changed:
            self.jobs.update(workspace, pjob)

    def _cancel_child(self, workspace: str, name: str, reason: str) -> None:
        try:
            self.jobs.cancel(workspace, name, reason=reason)
        except ConflictError:
            pass   # it ended meanwhile

    def _forget(self, name: str) -> None:
        self._parsed.pop(name, None)
        self._orders.pop(name, None)
        self._child_cache.pop(name, None)

    def _finish(self, workspace: str, job: Job, pipeline: PipelineJob, order: list[str],
                children: dict[str, Job]) -> None:
        self._forget(job.name)
        active = frozenset({JobStatus.RUNNING, JobStatus.QUEUED})
        if all(s in children and children[s].status == JobStatus.COMPLETED for s in order):
            for s in order:   # sweeps and nested pipelines learn their outputs as they run
                if pipeline.jobs[s].kind in ("sweep", "pipeline"):
                    self._publish_outputs(workspace, job, pipeline.jobs[s], children[s])
            self.jobs.move(workspace, job.name, JobStatus.COMPLETED, allowed_from=active,
                           reason="every step completed")
            return
        failed = [s for s in order if s in children and children[s].status != "Completed"]
        skipped = [s for s in order if s not in children]
        parts = []
        for s in failed:
            err = children[s].error
            parts.append(f"step '{s}' {children[s].status}" + (f": {err}" if err else ""))
        if skipped:
            parts.append("not run: " + ", ".join(skipped))
        self.jobs.move(workspace, job.name, JobStatus.FAILED, allowed_from=active,
                       reason="a step did not complete", error="; ".join(parts))

    def cancel(self, workspace: str, job: Job, reason: str) -> None:
        self._forget(job.name)
        for child in self.jobs.list(workspace, parent_job_name=job.name, max_results=MAX_STEPS):
            if child.status not in JobStatus.TERMINAL:
                self._cancel_child(workspace, child.name, "the pipeline was canceled")
        self.jobs.move(workspace, job.name, JobStatus.CANCELED, reason=reason,
                       allowed_from=frozenset({JobStatus.CANCEL_REQUESTED}))


def _step_template(step: PipelineStep) -> Job:
    """The child job of ``step`` before its inputs are bound (a fresh copy every time)."""
    if step.kind == "command":
        assert step.job is not None
        job = copy.deepcopy(step.job)
        job.environment_variables = {**job.environment_variables, **step.environment_variables}
        job.timeout = step.timeout or job.timeout
        job.tags = {**job.tags, **step.tags}
        return job
    comp = step.component
    if comp is None:
        raise InvalidInputError(f"step {step.name!r}: its component is not resolved")
    distribution, resources = overlay_run_settings(comp.distribution, comp.resources,
                                                   step.distribution, step.resources)
    return Job(
        name=step.name, command=comp.command, code=comp.code,
        environment=copy.deepcopy(comp.environment),
        environment_variables=dict(step.environment_variables),
        outputs={k: JobOutput(type=o.type) for k, o in comp.outputs.items()},
        timeout=step.timeout, description=step.description or comp.description,
        tags=dict(step.tags), component=_component_label(comp),
        is_deterministic=comp.is_deterministic,
        distribution=distribution, resources=resources,
    )


def _known_values(step: PipelineStep, inputs: dict[str, JobInput]) -> dict[str, Any]:
    """The values of ``step``'s inputs known when it is made: literals, and the pipeline
    inputs it is bound to."""
    known: dict[str, Any] = {}
    for port, binding in step.inputs.items():
        if binding.is_literal:
            known[port] = binding.literal
        elif binding.parent_input is not None and binding.parent_input in inputs:
            known[port] = inputs[binding.parent_input].value
    return known


def _place_outputs(child: Job, datastore: str | None) -> None:
    """With ``settings.default_datastore``, a step output without a path of its own goes to
    that datastore (Azure's layout ``azureml/<job>/<output>/``), and ``${{default_datastore}}``
    in a path names it; without it both mean ``workspaceblobstore``."""
    if datastore is None:
        return
    for port, out in child.outputs.items():
        if out.path:
            out.path = out.path.replace("${{default_datastore}}", datastore)
        else:
            out.path = f"azureml://datastores/{datastore}/paths/azureml/{child.name}/{port}"
            if out.type != "uri_file":   # a uri_file output is a file path, not a folder
                out.path += "/"


def _component_label(comp: Component) -> str:
    return f"{comp.name}:{comp.version}" if comp.version else comp.name

