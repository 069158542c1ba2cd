"""Schedules: create, enable, disable and delete them, and fire their triggers.

The loop (``start``) asks the store for due schedules and fires each one by a compare-and-set
of ``next_fire_time`` together with a (schedule, fire time) record, so that several server
processes on one database fire each trigger once. A trigger whose time passed while no server
ran fires once at the next tick, however many slots were missed, and its job says so.
"""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ember.engine.jobs import JobService
from ember.engine.monitors import MonitorService
from ember.engine.schedule_times import check_trigger, first_fire, next_fire
from ember.entities.jobs import Job, JobInput, JobOutput, JobStatus
from ember.entities.pipelines import PipelineJob
from ember.entities.schedules import JobSchedule, ScheduleFire
from ember.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from ember.services.notifications import check_webhook_url, unmasked_url
from ember.store.schedules import ScheduleStore

log = logging.getLogger("ember.schedules")

# Submits a job body (what ``POST /jobs`` takes) or a Job entity as the jobs routes do.
# Submits a job body (what ``POST /jobs`` takes) or an entity as the jobs routes do, as the
# given submitter.
Submit = Callable[[str, "dict[str, Any] | Job | PipelineJob", "str | None"], Job]
TRIGGER_TIME = "${{creation_context.trigger_time}}"
JOB_NAME = "${{name}}"
# A due trigger older than this when fired was missed (the loop ticks every second or so).
MISSED_AFTER_SECONDS = 30.0
LIST_VIEWS = {"enabled_only": True, "disabled_only": False, "all": None}


def job_name(schedule: str, fire_time: float) -> str:
    """Azure's triggered-job display name, ``<schedule>-YYYYMMDDThhmmssZ``."""
    return f"{schedule}-{_stamp(fire_time)}"


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


class ScheduleService:
    def __init__(self, store: ScheduleStore, jobs: JobService, submit: Submit, *,
                 monitors: MonitorService | None = None,
                 clock: Callable[[], float] = time.time, interval: float = 1.0) -> None:
        self._store = store
        self._monitors = monitors
        self._jobs = jobs
        self._submit = submit
        # Tests drive the clock; the loop reads it at each tick.
        self.clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- CRUD ---------------------------------------------------------------------------------

    def create_or_update(self, workspace: str, schedule: JobSchedule) -> JobSchedule:
        check_trigger(schedule.trigger)
        try:
            old_schedule: JobSchedule | None = self._store.get(workspace, schedule.name)
        except NotFoundError:
            old_schedule = None
        if schedule.create_monitor is not None:
            alert = schedule.create_monitor.alert_notification
            known = (old_schedule.create_monitor.alert_notification.webhooks
                     if old_schedule is not None and old_schedule.create_monitor else [])
            # A webhook sent back as the API showed it keeps its secrets.
            alert.webhooks = [unmasked_url(u, known) for u in alert.webhooks]
            for url in alert.webhooks:
                check_webhook_url(url)
            if schedule.create_job:
                raise InvalidInputError(f"schedule {schedule.name!r} has both create_job and "
                                        "create_monitor")
            if self._monitors is None:
                raise InvalidInputError("this server does not run monitors")
            self._monitors.check(workspace, schedule.create_monitor)
        elif schedule.create_job is None or schedule.create_job == "":
            raise InvalidInputError(f"schedule {schedule.name!r} has no create_job")
        elif isinstance(schedule.create_job, str) and not schedule.create_job.startswith("azureml:"):
            raise InvalidInputError("create_job must be a job or azureml:<existing job>")
        now = self.clock()
        old = old_schedule
        schedule.creation_time = old.creation_time if old else now
        if old is not None and old.created_by:
            schedule.created_by = old.created_by
        schedule.provisioning_state = "Succeeded"
        try:
            schedule.next_fire_time = (first_fire(schedule.trigger, now)
                                       if schedule.is_enabled else None)
        except (ValueError, OverflowError) as exc:   # times beyond what datetime holds
            raise InvalidInputError(f"schedule {schedule.name!r}: {exc}") from None
        if old is None:
            return self._store.create(workspace, schedule)
        return self._store.update(workspace, schedule)

    def get(self, workspace: str, name: str) -> JobSchedule:
        return self._store.get(workspace, name)

    def list(self, workspace: str, view: str = "enabled_only") -> builtins.list[JobSchedule]:
        key = view.lower().replace("-", "_")
        key = {"enabledonly": "enabled_only", "disabledonly": "disabled_only"}.get(key, key)
        if key not in LIST_VIEWS:
            raise InvalidInputError(f"list_view_type {view!r}: use enabled_only, disabled_only "
                                    "or all")
        return self._store.list_schedules(workspace, LIST_VIEWS[key])

    def update_metadata(self, workspace: str, name: str, *, description: str | None = None,
                        display_name: str | None = None,
                        tags: dict[str, str] | None = None) -> JobSchedule:
        s = self._store.get(workspace, name)
        if description is not None:
            s.description = description
        if display_name is not None:
            s.display_name = display_name
        if tags is not None:
            s.tags = dict(tags)
        return self._store.update(workspace, s)

    def enable(self, workspace: str, name: str) -> JobSchedule:
        s = self._store.get(workspace, name)
        if not s.is_enabled:   # slots passed while disabled are not fired
            s.is_enabled = True
            s.next_fire_time = next_fire(s.trigger, self.clock(), s.creation_time)
            self._store.update(workspace, s)
        return s

    def disable(self, workspace: str, name: str) -> JobSchedule:
        s = self._store.get(workspace, name)
        s.is_enabled, s.next_fire_time = False, None
        return self._store.update(workspace, s)

    def delete(self, workspace: str, name: str) -> None:
        if self._store.get(workspace, name).is_enabled:
            raise ConflictError(f"schedule {name!r} is enabled: disable it first "
                                f"(ember schedule disable -n {name})")
        self._store.delete(workspace, name)

    def history(self, workspace: str, name: str) -> builtins.list[ScheduleFire]:
        self._store.get(workspace, name)
        return self._store.fires(workspace, name)

    # -- firing -------------------------------------------------------------------------------

    def trigger(self, workspace: str, name: str, schedule_time: float | None = None) -> Job:
        """Fire now (``az ml schedule trigger``), outside the schedule's clock."""
        s = self._store.get(workspace, name)
        t = float(int(schedule_time if schedule_time is not None else self.clock()))
        fire = ScheduleFire(name, t, job_name(name, t))
        if not self._store.record_fire(workspace, fire):
            raise ConflictError(f"schedule {name!r} was already triggered at {_iso(t)}")
        job = self._fire(workspace, s, fire)
        if job is None:
            raise InvalidInputError(f"schedule {name!r}: {self._last_error}")
        return job

    def tick(self, now: float | None = None) -> builtins.list[Job]:
        """Fire every due trigger; returns the jobs made (by this process)."""
        now = self.clock() if now is None else now
        made: builtins.list[Job] = []
        for workspace, s in self._store.due(now):
            due = s.next_fire_time
            assert due is not None
            following = next_fire(s.trigger, now, s.creation_time)
            missed = now - due > MISSED_AFTER_SECONDS
            fire = ScheduleFire(s.name, due, job_name(s.name, due), missed=missed)
            if not self._store.claim_fire(workspace, s.name, due, following, fire):
                continue   # another process fired it
            if missed:
                log.warning("schedule %s/%s: the trigger due at %s was missed while no server "
                            "ran; firing it once now", workspace, s.name, _iso(due))
            job = self._fire(workspace, s, fire)
            if job is not None:
                made.append(job)
        return made

    _last_error = ""

    def _fire(self, workspace: str, s: JobSchedule, fire: ScheduleFire) -> Job | None:
        try:
            spec = self._job_for(workspace, s, fire)
            job = self._submit(workspace, spec, s.created_by)
            self._store.set_fire_result(workspace, s.name, fire.fire_time, None)
            return job
        except AlreadyExistsError:   # made by an earlier try that stopped before marking it
            self._store.set_fire_result(workspace, s.name, fire.fire_time, None)
            return self._jobs.get(workspace, fire.job_name)
        except Exception as exc:   # noqa: BLE001 - a bad job must not stop the loop
            self._last_error = str(exc)
            log.error("schedule %s/%s: the job for %s was not submitted: %s", workspace,
                      s.name, _iso(fire.fire_time), exc)
            self._store.set_fire_result(workspace, s.name, fire.fire_time, str(exc))
            return None

    def _job_for(self, workspace: str, s: JobSchedule, fire: ScheduleFire
                 ) -> dict[str, Any] | Job | PipelineJob:
        marks = {"azureml.scheduleName": s.name,
                 "azureml.scheduleTriggerTime": _iso(fire.fire_time)}
        if fire.missed:
            marks["ember.missedTrigger"] = "true"
        if s.create_monitor is not None:
            assert self._monitors is not None
            return self._monitors.job_for(workspace, s, fire, marks)
        over = s.create_job_overrides
        trigger_time = _iso(fire.fire_time)
        if isinstance(s.create_job, str):
            source = self._jobs.get(workspace, s.create_job.removeprefix("azureml:"),
                                    with_history=False)
            if source.type == "pipeline":
                return self._pipeline_copy(source, fire, marks, over, trigger_time)
            job = self._copy_of(workspace, s.create_job.removeprefix("azureml:"))
            job.name = job.display_name = fire.job_name
            job.properties = {**job.properties, **marks}
            job.tags = {**job.tags, **over.get("tags", {})}
            job.experiment_name = over.get("experiment_name") or job.experiment_name
            job.command = job.command.replace(TRIGGER_TIME, trigger_time)
            macros = {TRIGGER_TIME: trigger_time, JOB_NAME: fire.job_name}
            for key, value in (over.get("inputs") or {}).items():
                job.inputs[key] = (JobInput(type=job.inputs[key].type, value=value)
                                   if key in job.inputs and job.inputs[key].is_literal
                                   else JobInput(type="string", value=value))
            job.inputs = {k: replace(i, value=_macro(i.value, macros))
                          for k, i in job.inputs.items()}
            return job
        body: dict[str, Any] = copy.deepcopy(s.create_job)
        body["name"] = body["display_name"] = fire.job_name
        body["properties"] = {**(body.get("properties") or {}), **marks}
        body["tags"] = {**(body.get("tags") or {}), **over.get("tags", {})}
        if fire.missed:
            body["tags"]["missed_trigger"] = trigger_time
        if over.get("experiment_name"):
            body["experiment_name"] = over["experiment_name"]
        if over.get("settings"):
            body["settings"] = {**(body.get("settings") or {}), **over["settings"]}
        inputs = body.setdefault("inputs", {})
        for key, value in (over.get("inputs") or {}).items():
            if isinstance(inputs.get(key), dict) and not isinstance(value, dict):
                inputs[key] = {**inputs[key], "value": value}
            else:
                inputs[key] = value
        # ${{name}} in outputs' paths is left to the job service, which resolves it the same
        result = _macro({**body, "inputs": _macro(inputs, {JOB_NAME: fire.job_name})},
                        {TRIGGER_TIME: trigger_time})
        assert isinstance(result, dict)
        return result

    @staticmethod
    def _pipeline_copy(source: Job, fire: ScheduleFire, marks: dict[str, str],
                       over: dict[str, Any], trigger_time: str) -> PipelineJob:
        """A pipeline job run again from its recorded definition, with the overrides."""
        from ember.entities.pipelines import pipeline_from_plain

        if not source.definition:
            raise InvalidInputError(f"create_job azureml:{source.name}: the pipeline job has "
                                    "no recorded definition to run again")
        pipeline = pipeline_from_plain(copy.deepcopy(source.definition))
        pipeline.name = pipeline.display_name = fire.job_name
        pipeline.properties = {**pipeline.properties, **marks}
        pipeline.tags = {**pipeline.tags, **over.get("tags", {})}
        if fire.missed:
            pipeline.tags["missed_trigger"] = trigger_time
        pipeline.experiment_name = over.get("experiment_name") or pipeline.experiment_name
        for key, value in (over.get("settings") or {}).items():
            if hasattr(pipeline.settings, key):
                setattr(pipeline.settings, key, value)
        macros = {TRIGGER_TIME: trigger_time, JOB_NAME: fire.job_name}
        for key, value in (over.get("inputs") or {}).items():
            old = pipeline.inputs.get(key)
            pipeline.inputs[key] = (JobInput(type=old.type, value=value)
                                    if old is not None and old.is_literal
                                    else JobInput(type="string", value=value))
        pipeline.inputs = {k: replace(i, value=_macro(i.value, macros))
                           for k, i in pipeline.inputs.items()}
        return pipeline

    def _copy_of(self, workspace: str, name: str) -> Job:
        src = self._jobs.get(workspace, name)
        if src.type != "command":
            raise InvalidInputError(f"create_job azureml:{name}: a {src.type} job can not be "
                                    "re-run by reference yet; give its YAML file instead")
        return Job(name="", command=src.command, experiment_name=src.experiment_name,
                   description=src.description, tags=dict(src.tags), code=src.code,
                   environment=src.environment,
                   environment_variables=dict(src.environment_variables),
                   compute=src.compute, inputs=dict(src.inputs),
                   outputs={k: JobOutput(type=o.type, mode=o.mode) for k, o in
                            src.outputs.items()},
                   timeout=src.timeout, distribution=src.distribution,
                   resources=src.resources, status=JobStatus.QUEUED)

    # -- the loop -----------------------------------------------------------------------------

    def recover(self) -> builtins.list[Job]:
        """Submit the jobs of fires claimed but never marked done (a process stopped between
        the two); a job already made under the fire's name is taken as it is."""
        made: builtins.list[Job] = []
        for workspace, fire in self._store.pending_fires():
            try:
                s = self._store.get(workspace, fire.schedule)
            except NotFoundError:
                continue
            log.warning("schedule %s/%s: the trigger at %s was claimed but its job not "
                        "confirmed; submitting it now", workspace, s.name, _iso(fire.fire_time))
            job = self._fire(workspace, s, fire)
            if job is not None:
                made.append(job)
        return made

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._run, name="ember-schedules", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:   # noqa: BLE001 - a database blip must not end the loop
                log.exception("schedules: tick failed")
            if self._stop.wait(self._interval):
                return


def _macro(value: Any, macros: dict[str, str]) -> Any:
    if isinstance(value, str):
        for token, text in macros.items():
            value = value.replace(token, text)
        return value
    if isinstance(value, dict):
        return {k: _macro(v, macros) for k, v in value.items()}
    if isinstance(value, list):
        return [_macro(v, macros) for v in value]
    return value
