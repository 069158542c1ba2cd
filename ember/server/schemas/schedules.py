"""Request/response types of schedules."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt

from ember.engine.monitors import MonitorRun
from ember.entities.schedules import (
    CronTrigger,
    JobSchedule,
    RecurrencePattern,
    RecurrenceTrigger,
    ScheduleFire,
    Trigger,
)
from ember.server.schemas.base import Body, Description, Properties, Tags


class PatternIn(Body):
    hours: list[StrictInt] = Field(default_factory=list, max_length=24)
    minutes: list[StrictInt] = Field(default_factory=list, max_length=60)
    week_days: list[str] | None = Field(None, max_length=7)
    month_days: list[StrictInt] | None = Field(None, max_length=31)


class TriggerIn(Body):
    type: Literal["cron", "recurrence"] = "cron"
    expression: str = Field("", max_length=200)
    frequency: Literal["minute", "hour", "day", "week", "month"] = "day"
    interval: StrictInt = Field(1, ge=1, le=10000)
    schedule: PatternIn | None = None
    start_time: str | None = Field(None, max_length=64)
    end_time: str | None = Field(None, max_length=64)
    time_zone: str = Field("UTC", max_length=100)

    def entity(self) -> Trigger:
        common: dict[str, Any] = {"start_time": self.start_time, "end_time": self.end_time,
                                  "time_zone": self.time_zone}
        if self.type == "cron":
            return CronTrigger(expression=self.expression, **common)
        pattern = RecurrencePattern(**self.schedule.model_dump()) if self.schedule else None
        return RecurrenceTrigger(frequency=self.frequency, interval=self.interval,
                                 schedule=pattern, **common)


class ScheduleIn(Body):
    """The whole schedule (``PUT``). ``create_job``: a job body as ``POST /jobs`` takes, or
    ``azureml:<existing job>``; ``create_job_overrides``: inputs, tags, experiment_name and
    settings applied at each trigger."""

    name: str | None = None          # the path's; when given here it must be the same
    trigger: TriggerIn
    create_job: dict[str, Any] | str | None = None
    create_job_overrides: dict[str, Any] = Field(default_factory=dict)
    # A model monitor (``MonitorSchedule``), checked as its YAML is: errors name the key.
    create_monitor: dict[str, Any] | None = None
    display_name: str = Field("", max_length=256)
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    is_enabled: bool = True

    def entity(self, name: str) -> JobSchedule:
        from ember.specs.monitors import monitor_from_dict

        monitor = (monitor_from_dict(self.create_monitor)
                   if self.create_monitor is not None else None)
        return JobSchedule(name=name, trigger=self.trigger.entity(), create_job=self.create_job,
                           create_job_overrides=self.create_job_overrides,
                           create_monitor=monitor,
                           display_name=self.display_name, description=self.description,
                           tags=self.tags, properties=self.properties,
                           is_enabled=self.is_enabled)


class ScheduleUpdate(Body):
    description: Description | None = None
    display_name: str | None = Field(None, max_length=256)
    tags: Tags | None = None


class TriggerNowIn(Body):
    scheduleTime: str | None = Field(None, max_length=64)   # noqa: N815 - Azure's REST name


class ScheduleOut(BaseModel):
    name: str
    trigger: dict[str, Any]
    create_job: Any
    create_job_overrides: dict[str, Any]
    create_monitor: dict[str, Any] | None = None
    display_name: str
    description: str
    tags: dict[str, str]
    properties: dict[str, str]
    is_enabled: bool
    provisioning_state: str
    creation_time: float
    next_fire_time: float | None
    created_by: str | None = None

    @classmethod
    def of(cls, s: JobSchedule) -> ScheduleOut:
        from ember.specs.monitors import monitor_to_dict

        d = s.to_dict()
        d["create_monitor"] = (monitor_to_dict(s.create_monitor)
                               if s.create_monitor is not None else None)
        alert = (d["create_monitor"] or {}).get("alert_notification")
        if alert and alert.get("webhooks"):   # their tokens stay on the server
            from ember.services.notifications import masked_url

            alert["webhooks"] = [masked_url(u) for u in alert["webhooks"]]
        return cls(**d)


class ScheduleFireOut(BaseModel):
    schedule: str
    fire_time: float
    job_name: str
    missed: bool
    error: str | None
    done: bool

    @classmethod
    def of(cls, f: ScheduleFire) -> ScheduleFireOut:
        return cls(schedule=f.schedule, fire_time=f.fire_time, job_name=f.job_name,
                   missed=f.missed, error=f.error, done=f.done)


class MonitorRunOut(BaseModel):
    """One trigger of a monitor schedule: its job and what the job wrote. ``signals``: the
    parsed ``signals.json`` (per signal: type, breached, breached_features, aggregate, metrics,
    histograms, rows, error), ``alerts``: ``alerts.json`` (breached, deliveries, jobs); each
    None until written. ``status`` is None when no job was made (``error`` says why) or it was
    deleted; ``read_error``: a results file that could not be read."""

    job_name: str
    trigger_time: float
    status: str | None
    missed: bool
    error: str | None
    signals: dict[str, Any] | None
    alerts: dict[str, Any] | None
    read_error: str | None

    @classmethod
    def of(cls, r: MonitorRun) -> MonitorRunOut:
        return cls(job_name=r.job_name, trigger_time=r.trigger_time, status=r.status,
                   missed=r.missed, error=r.error, signals=r.signals, alerts=r.alerts,
                   read_error=r.read_error)
