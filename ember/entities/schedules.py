"""Schedules: a trigger (cron or recurrence) that submits a job (``az ml schedule``)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.monitors import MonitorDefinition

FREQUENCIES = ("minute", "hour", "day", "week", "month")
WEEK_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class TimeZone(str, enum.Enum):
    """azure-ai-ml's TimeZone: Windows zone names (the common ones; any Windows or IANA name
    is accepted as a plain string)."""

    UTC = "UTC"
    GMT_STANDARD_TIME = "GMT Standard Time"
    W_EUROPE_STANDARD_TIME = "W. Europe Standard Time"
    CENTRAL_EUROPE_STANDARD_TIME = "Central Europe Standard Time"
    ROMANCE_STANDARD_TIME = "Romance Standard Time"
    EASTERN_STANDARD_TIME = "Eastern Standard Time"
    CENTRAL_STANDARD_TIME = "Central Standard Time"
    MOUNTAIN_STANDARD_TIME = "Mountain Standard Time"
    PACIFIC_STANDARD_TIME = "Pacific Standard Time"
    INDIA_STANDARD_TIME = "India Standard Time"
    CHINA_STANDARD_TIME = "China Standard Time"
    TOKYO_STANDARD_TIME = "Tokyo Standard Time"
    AUS_EASTERN_STANDARD_TIME = "AUS Eastern Standard Time"


@dataclass
class RecurrencePattern:
    hours: list[int] = field(default_factory=list)
    minutes: list[int] = field(default_factory=list)
    week_days: list[str] | None = None
    month_days: list[int] | None = None


@dataclass
class CronTrigger:
    expression: str = ""
    start_time: str | None = None
    end_time: str | None = None
    time_zone: str = "UTC"
    type: str = "cron"


@dataclass
class RecurrenceTrigger:
    frequency: str = "day"
    interval: int = 1
    schedule: RecurrencePattern | None = None
    start_time: str | None = None
    end_time: str | None = None
    time_zone: str = "UTC"
    type: str = "recurrence"


Trigger = CronTrigger | RecurrenceTrigger


@dataclass
class JobSchedule:
    """``create_job`` is, on the server, the job's submission body (what ``POST /jobs`` takes)
    or ``azureml:<existing job>``; ``create_job_overrides`` (inputs, tags, experiment_name,
    display_name, settings) apply to it at each trigger. The SDK also accepts a Job entity,
    which the client turns into a body."""

    name: str
    trigger: Trigger = field(default_factory=CronTrigger)
    create_job: Any = None
    create_job_overrides: dict[str, Any] = field(default_factory=dict)
    # A model monitor's definition (``MonitorSchedule``): each trigger runs a monitor job.
    create_monitor: MonitorDefinition | None = None
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    is_enabled: bool = True
    provisioning_state: str = "Succeeded"
    creation_time: float = 0.0
    # When the next trigger is due (epoch seconds), None once end_time has passed.
    next_fire_time: float | None = None
    # Who made the schedule (Azure's creation_context.created_by): its jobs' submitter.
    created_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(self.create_job, str | dict) or self.create_job is None:
            d["create_job"] = self.create_job
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSchedule:
        d = dict(d)
        d["trigger"] = trigger_from_dict(d.get("trigger") or {})
        if isinstance(d.get("create_monitor"), dict):
            d["create_monitor"] = MonitorDefinition.from_dict(d["create_monitor"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class ScheduleFire:
    """One trigger of a schedule: the job it made (or why none was made)."""

    schedule: str
    fire_time: float
    job_name: str
    missed: bool = False
    error: str | None = None
    # Its job made (or refused, with ``error``); False only between the claim and the submit.
    done: bool = False


def trigger_from_dict(d: dict[str, Any]) -> Trigger:
    d = dict(d)
    if d.get("type") == "recurrence":
        pattern = d.get("schedule")
        d["schedule"] = RecurrencePattern(**pattern) if isinstance(pattern, dict) else pattern
        return RecurrenceTrigger(**d)
    return CronTrigger(**d)


@dataclass
class MonitorSchedule(JobSchedule):
    """azure-ai-ml's ``MonitorSchedule``: a schedule whose ``create_monitor`` runs a model
    monitor at each trigger (a JobSchedule with ``create_monitor`` set)."""

    def __post_init__(self) -> None:
        if self.create_monitor is None:
            raise ValueError("MonitorSchedule needs create_monitor=MonitorDefinition(...)")
