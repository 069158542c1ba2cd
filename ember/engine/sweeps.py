"""Sweep jobs: trials as child jobs, sampled with Optuna, stopped early by policy.

Each trial is a command job named ``<sweep>_<n>`` whose ``definition`` holds its trial number
and hyperparameters; ``${{search_space.h}}`` in the trial command becomes the sampled value,
and a same-named trial input gets it too. The objective is the **last** value the trial logged
for ``objective.primary_metric`` with ``mlflow.log_metric``; one logged value is one
"interval" for early termination, which is evaluated every time the sweep is advanced (on each
trial event and every orchestrator tick). Stopped trials end Canceled. The sweep ends when no
trial is active and the total, the grid or the sweep timeout is spent; it records the best
Completed trial (``best_child_run_id``) and takes that trial's outputs as its own.

After a server restart the sampler is rebuilt from the trials in the store.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ember.engine import names
from ember.engine.jobs import JobService
from ember.engine.orchestrator import Driver, Orchestrator
from ember.engine.sweep_policies import trials_to_stop
from ember.engine.sweep_sampling import TrialSampler
from ember.entities.components import overlay_run_settings
from ember.entities.jobs import LITERAL_TYPES, Job, JobInput, JobOutput, JobStatus
from ember.entities.names import check_name
from ember.entities.sweeps import SweepJob, sweep_from_dict, sweep_to_dict
from ember.errors import ConflictError, EmberError, InvalidInputError, NotFoundError
from ember.services.components import ComponentService
from ember.tracking.service import TrackingService

_SEARCH_REF = re.compile(r"\$\{\{\s*search_space\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
MAX_TRIALS_LISTED = 100_000
_NOT_STARTED = frozenset({JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.STARTING})
OBJECTIVE_PROPERTY = "objective"


class SweepService:
    def __init__(self, jobs: JobService, components: ComponentService,
                 orchestrator: Orchestrator) -> None:
        self.jobs = jobs
        self.components = components
        self.orchestrator = orchestrator

    def trials(self, workspace: str, name: str) -> list[dict[str, Any]]:
        """The sweep's trials in order: number, status, job, hyperparameters, objective (the
        primary metric's last value, once the trial has ended) and whether it is the best."""
        job = self.jobs.get(workspace, name, with_history=False)
        if job.type != "sweep":
            raise InvalidInputError(f"job {name!r} is a {job.type} job; only sweep jobs have "
                                    "trials")
        best = job.properties.get("best_child_run_id")
        trials = self.jobs.list(workspace, parent_job_name=name, max_results=MAX_TRIALS_LISTED,
                                with_history=False)
        rows: list[dict[str, Any]] = []
        for t in sorted(trials, key=lambda t: (t.definition or {}).get("trial", 0)):
            d = t.definition or {}
            rows.append({"trial": d.get("trial"), "status": t.status, "job": t.name,
                         "parameters": d.get("parameters") or {},
                         "objective": t.properties.get(OBJECTIVE_PROPERTY),
                         "best": t.name == best})
        return rows

    def create(self, workspace: str, sweep: SweepJob, *, parent: Job | None = None,
               step_name: str | None = None, record: bool = True,
               submitter: str | None = None) -> Job:
        """Check the trial (component, code, environment, inputs) and record the sweep job
        (Queued); the orchestrator starts its trials. Nothing is written when a check fails."""
        sweep.display_name = sweep.display_name or names.display_name()
        sweep.name = sweep.name or names.job_name(sweep.display_name)
        check_name("job", sweep.name)
        if sweep.trial_component_ref is not None:
            trial, body = self.components.resolve(workspace, sweep.trial_component_ref)
            if body is not None:
                raise InvalidInputError(f"trial: {sweep.trial_component_ref} is a pipeline "
                                        "component; a sweep's trial is a command component")
            sweep.trial_component, sweep.trial_component_ref = trial, None
        template = trial_template(sweep)
        # refused here, at submit, as each trial would be when it is started
        self.jobs.computes.check_job_compute(workspace, sweep.compute or "",
                                             f"sweep {sweep.name!r}")
        self.jobs.uploads.check_code(workspace, template.code)
        self.jobs.resolve_environment(workspace, template)
        shell = Job(name=sweep.name, command="", inputs={k: replace(v)
                                                          for k, v in sweep.inputs.items()})
        self.jobs.resolve_inputs(workspace, shell)
        sweep.inputs = shell.inputs
        job = Job(name=sweep.name, command="", type="sweep", display_name=sweep.display_name,
                  experiment_name=sweep.experiment_name or "Default",
                  description=sweep.description, tags=sweep.tags,
                  properties=sweep.properties, compute=sweep.compute or "local",
                  inputs=sweep.inputs,
                  outputs={k: replace(v) for k, v in sweep.outputs.items()},
                  definition=sweep_to_dict(sweep), submitter=submitter)
        if parent is not None:
            job.parent_job_name = parent.name
            job.step_name = step_name
            job.experiment_name = parent.experiment_name
        if not record:
            return job
        self.jobs.check_unused_name(workspace, sweep.name)
        created = self.jobs.record(workspace, job)
        self.orchestrator.submitted(workspace, created)
        return created


def trial_template(sweep: SweepJob) -> Job:
    """The trial's command job before sampling (a fresh copy every time), with the trial's
    (or its component's) ``distribution`` and ``resources``, the sweep's resources on top."""
    job = _trial_job(sweep)
    _, job.resources = overlay_run_settings(None, job.resources, None, sweep.resources)
    return job


def _trial_job(sweep: SweepJob) -> Job:
    if sweep.trial is not None:
        job = copy.deepcopy(sweep.trial)
        job.inputs = {**{k: replace(v) for k, v in sweep.inputs.items()}, **job.inputs}
        job.outputs = {**{k: replace(v) for k, v in sweep.outputs.items()}, **job.outputs}
        return job
    comp = sweep.trial_component
    if comp is None:
        raise InvalidInputError("the sweep's trial component is not resolved")
    inputs: dict[str, JobInput] = {}
    for name, spec in comp.inputs.items():
        if name in sweep.inputs:
            inputs[name] = replace(sweep.inputs[name])
        elif spec.default is not None:
            inputs[name] = JobInput(type=spec.type, value=spec.default)
        else:
            inputs[name] = JobInput(type=spec.type, optional=True)
    outputs = {k: JobOutput(type=o.type) for k, o in comp.outputs.items()}
    for k, o in sweep.outputs.items():
        outputs[k] = replace(o, type=outputs[k].type if k in outputs else o.type)
    return Job(name="", command=comp.command, code=comp.code,
               environment=copy.deepcopy(comp.environment), inputs=inputs, outputs=outputs,
               component=f"{comp.name}:{comp.version}" if comp.version else comp.name,
               is_deterministic=False, distribution=copy.deepcopy(comp.distribution),
               resources=copy.deepcopy(comp.resources))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _typed(value: Any, type_: str) -> Any:
    if type_ == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if type_ == "string":
        return _text(value)
    return value


@dataclass
class _State:
    sampler: TrialSampler
    told: set[str] = field(default_factory=set)
    numbers: dict[str, int] = field(default_factory=dict)   # trial job -> sampler number
    exhausted: bool = False
    judged_upto: int = 0   # the last interval early termination has judged
    ended_series: dict[str, list[float]] = field(default_factory=dict)


class SweepDriver(Driver):
    def __init__(self, jobs: JobService, tracking: TrackingService,
                 orchestrator: Orchestrator) -> None:
        self.jobs = jobs
        self.tracking = tracking
        self.orchestrator = orchestrator
        self._states: dict[str, _State] = {}
        self._guard = threading.Lock()

    def advance(self, workspace: str, job: Job) -> list[str]:
        assert job.definition is not None
        sweep = sweep_from_dict(job.definition)
        trials = self._trials(workspace, job.name)
        if job.status == JobStatus.CANCEL_REQUESTED:
            self.cancel(workspace, job, "the sweep was canceled")
            return [t.name for t in trials]
        if job.status == JobStatus.QUEUED:
            self.jobs.move(workspace, job.name, JobStatus.RUNNING,
                           allowed_from=frozenset({JobStatus.QUEUED}))
            job = self.jobs.get(workspace, job.name)
        state = self._state(job, sweep, trials)
        series = self._all_series(workspace, sweep, state, trials)
        self._tell_finished(workspace, state, trials, series)
        timed_out = (job.start_time is not None
                     and time.time() - job.start_time >= sweep.limits.effective_timeout)
        active = [t for t in trials if t.status not in JobStatus.TERMINAL]
        if timed_out:
            for t in active:
                self._cancel_trial(workspace, t.name, f"the sweep's limits.timeout of "
                                   f"{sweep.limits.effective_timeout:g} s was reached")
        else:
            self._early_terminate(workspace, sweep, state, trials, series)
            self._start_trials(workspace, job, sweep, state, trials)
        trials = self._trials(workspace, job.name)
        if any(t.status not in JobStatus.TERMINAL for t in trials):
            return [t.name for t in trials]
        done = (timed_out or state.exhausted or len(trials) >= sweep.limits.max_total_trials)
        if done:
            self._finish(workspace, job, sweep, trials, timed_out=timed_out)
        return [t.name for t in trials]

    # --- trials -----------------------------------------------------------------------------

    def _trials(self, workspace: str, name: str) -> list[Job]:
        trials = self.jobs.list(workspace, parent_job_name=name, max_results=MAX_TRIALS_LISTED,
                                with_history=False)
        return sorted(trials, key=lambda t: (t.definition or {}).get("trial", 0))

    def _state(self, job: Job, sweep: SweepJob, trials: list[Job]) -> _State:
        with self._guard:
            state = self._states.get(job.name)
            if state is None:
                sampler = TrialSampler(sweep.search_space, sweep.sampling_algorithm,
                                       sweep.objective.goal)
                history = [((t.definition or {}).get("parameters") or {},
                            _objective(t), _sampler_state(t)) for t in trials]
                numbers = sampler.restore(history) if history else []
                state = _State(sampler,
                               told={t.name for t in trials if t.status in JobStatus.TERMINAL},
                               numbers={t.name: n for t, n in zip(trials, numbers)})
                self._states[job.name] = state
            return state

    def _all_series(self, workspace: str, sweep: SweepJob, state: _State,
                    trials: list[Job]) -> dict[str, list[float]]:
        """Each trial's reported values; an ended trial's are read once and kept."""
        out: dict[str, list[float]] = {}
        for t in trials:
            if t.status in _NOT_STARTED:   # no command has run: nothing reported yet (and a
                out[t.name] = []           # big sweep's queue is not read on every tick)
                continue
            kept = state.ended_series.get(t.name)
            if kept is None:
                kept = self._series(workspace, t.name, sweep)
                if t.status in JobStatus.TERMINAL:
                    state.ended_series[t.name] = kept
            out[t.name] = kept
        return out

    def _series(self, workspace: str, trial: str, sweep: SweepJob) -> list[float]:
        try:
            points, _ = self.tracking.get_metric_history(workspace, trial,
                                                         sweep.objective.primary_metric)
        except NotFoundError:
            return []
        return [float(v) for _step, _ts, v in points if v is not None]

    def _tell_finished(self, workspace: str, state: _State, trials: list[Job],
                       series: dict[str, list[float]]) -> None:
        for t in trials:
            if t.status not in JobStatus.TERMINAL or t.name in state.told:
                continue
            value = series[t.name][-1] if series[t.name] else None
            number = state.numbers.get(t.name)
            if number is not None:
                state.sampler.tell(number, value, _sampler_state(t, value))
            state.told.add(t.name)
            if value is not None:
                t.properties = {**t.properties, OBJECTIVE_PROPERTY: repr(value)}
                self.jobs.update(workspace, t)

    def _early_terminate(self, workspace: str, sweep: SweepJob, state: _State,
                         trials: list[Job], series: dict[str, list[float]]) -> None:
        """Judge interval n once every running trial has reported n values, each n once and
        in order (intervals passed between two looks are judged too), so trials are compared
        at the same interval whatever their pace or the orchestrator's."""
        policy = sweep.early_termination
        if policy is None:
            return
        finished = {t.name for t in trials if t.status in JobStatus.TERMINAL}
        running = [t.name for t in trials if t.name not in finished]
        if not running:
            return
        horizon = min(len(series[name]) for name in running)
        stopped: set[str] = set()
        while state.judged_upto < horizon:
            state.judged_upto += 1
            n = state.judged_upto
            view = {name: values[:n] if name in running and name not in stopped else values
                    for name, values in series.items() if values}
            stop = trials_to_stop(policy, sweep.objective.goal, view, finished | stopped)
            for name in sorted(stop - stopped):
                self._cancel_trial(workspace, name, f"early termination: {policy.type} policy "
                                   f"stopped the trial at report {n} of "
                                   f"{sweep.objective.primary_metric}")
            stopped |= stop

    def _start_trials(self, workspace: str, job: Job, sweep: SweepJob, state: _State,
                      trials: list[Job]) -> None:
        active = sum(t.status not in JobStatus.TERMINAL for t in trials)
        total = len(trials)
        while (not state.exhausted and active < sweep.limits.effective_concurrency
               and total < sweep.limits.max_total_trials):
            asked = state.sampler.ask()
            if asked is None:
                state.exhausted = True
                break
            number, params = asked
            trial = self._trial_job(job, sweep, number, params)
            state.numbers[trial.name] = number
            self.orchestrator.adopt(workspace, job.name, trial.name)
            try:
                self.jobs.check(workspace, trial)
                self.jobs.resolve_outputs(trial)
                self.jobs.record(workspace, trial)
            except ConflictError:
                pass   # recorded before a restart
            except EmberError as exc:
                trial.command = trial.command or "true"
                self.jobs.resolve_outputs(trial)
                self.jobs.record(workspace, trial, status=JobStatus.FAILED, error=exc.message,
                                 reason=f"the trial could not start: {exc.message}")
            active += 1
            total += 1

    def _trial_job(self, job: Job, sweep: SweepJob, number: int,
                   params: dict[str, Any]) -> Job:
        trial = trial_template(sweep)
        trial.name = f"{job.name}_{number}"
        trial.display_name = f"{job.display_name or job.name} trial {number}"
        trial.parent_job_name = job.name
        trial.experiment_name = job.experiment_name
        trial.experiment_id = job.experiment_id
        trial.compute = sweep.compute or job.compute or "local"
        trial.timeout = sweep.limits.trial_timeout or trial.timeout
        trial.is_deterministic = False
        trial.definition = {"trial": number, "parameters": params}
        trial.command = _SEARCH_REF.sub(lambda m: _text(params.get(m.group(1), m.group(0))),
                                        trial.command)
        for name, value in params.items():
            if name in trial.inputs:
                inp = trial.inputs[name]
                kind = inp.type if inp.type in LITERAL_TYPES else "string"
                trial.inputs[name] = JobInput(type=kind, value=_typed(value, kind))
        return trial

    def _cancel_trial(self, workspace: str, name: str, reason: str) -> None:
        try:
            self.jobs.cancel(workspace, name, reason=reason)
        except ConflictError:
            pass   # it ended meanwhile

    # --- the end ----------------------------------------------------------------------------

    def _finish(self, workspace: str, job: Job, sweep: SweepJob, trials: list[Job], *,
                timed_out: bool = False) -> None:
        """Record the best Completed trial. The sweep ends Completed, or Canceled when its
        ``limits.timeout`` ended it (reference: the timeout "cancels sweep and trials"; the
        best trial so far is still recorded), or Failed when no trial gave an objective."""
        scored = [(v, t) for t in trials if t.status == JobStatus.COMPLETED
                  and (v := self._final(workspace, t, sweep)) is not None]
        for value, t in scored:
            # A trial that ended after this tick's first look was never told: its row in the
            # trial table still needs its objective.
            if t.properties.get(OBJECTIVE_PROPERTY) is None:
                t.properties = {**t.properties, OBJECTIVE_PROPERTY: repr(value)}
                self.jobs.update(workspace, t)
        allowed = frozenset({JobStatus.RUNNING, JobStatus.QUEUED})
        with self._guard:
            self._states.pop(job.name, None)
        if timed_out:
            if scored:
                self._record_best(workspace, job, sweep, scored)
            self.jobs.move(workspace, job.name, JobStatus.CANCELED, allowed_from=allowed,
                           reason=f"limits.timeout of {sweep.limits.effective_timeout:g} s "
                                  "reached")
            return
        if not scored:
            self.jobs.move(workspace, job.name, JobStatus.FAILED, allowed_from=allowed,
                           reason="no trial completed with an objective",
                           error=f"no trial completed having logged "
                                 f"'{sweep.objective.primary_metric}' "
                                 f"({len(trials)} trials ran)")
            return
        value, best = self._record_best(workspace, job, sweep, scored)
        self.jobs.move(workspace, job.name, JobStatus.COMPLETED, allowed_from=allowed,
                       reason=f"best trial {best.name}: {sweep.objective.primary_metric} = "
                              f"{value}")

    def _record_best(self, workspace: str, job: Job, sweep: SweepJob,
                     scored: list[tuple[float, Job]]) -> tuple[float, Job]:
        pick = max if sweep.objective.goal == "maximize" else min
        value, best = pick(scored, key=lambda vt: vt[0])
        job.properties = {**job.properties, "best_child_run_id": best.name,
                          "best_objective": repr(value),
                          "best_parameters": _json((best.definition or {}).get("parameters"))}
        job.outputs = {k: replace(o, path=best.outputs[k].path) if k in best.outputs else o
                       for k, o in job.outputs.items()}
        self.jobs.update(workspace, job)
        return value, best

    def _final(self, workspace: str, trial: Job, sweep: SweepJob) -> float | None:
        series = self._series(workspace, trial.name, sweep)
        return series[-1] if series else None

    def cancel(self, workspace: str, job: Job, reason: str) -> None:
        """Queued trials first, each one status write (the scheduler starts no trial of a
        sweep being cancelled), then the ones whose processes must be stopped."""
        why = "the sweep was canceled"
        trials = self._trials(workspace, job.name)
        moved_on: set[str] = set()   # Queued when listed, but started or ended meanwhile
        for trial in trials:
            if trial.status == JobStatus.QUEUED and not self.jobs.move(
                    workspace, trial.name, JobStatus.CANCELED, reason=why,
                    allowed_from=frozenset({JobStatus.QUEUED})):
                moved_on.add(trial.name)
        for trial in trials:
            if trial.status not in JobStatus.TERMINAL and trial.status != JobStatus.QUEUED:
                self._cancel_trial(workspace, trial.name, why)
            elif trial.name in moved_on and \
                    self.jobs.get_status(workspace, trial.name) not in JobStatus.TERMINAL:
                self._cancel_trial(workspace, trial.name, why)   # started meanwhile
        self.jobs.move(workspace, job.name, JobStatus.CANCELED, reason=reason,
                       allowed_from=frozenset({JobStatus.CANCEL_REQUESTED}))
        with self._guard:
            self._states.pop(job.name, None)


def _objective(trial: Job) -> float | None:
    text = trial.properties.get(OBJECTIVE_PROPERTY)
    return float(text) if text is not None else None


def _sampler_state(trial: Job, value: float | None = None) -> str:
    if trial.status == JobStatus.COMPLETED:
        return "completed"
    if trial.status == JobStatus.CANCELED:
        return "pruned"
    if trial.status == JobStatus.FAILED:
        return "failed"
    return "running"


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)
