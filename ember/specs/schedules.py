"""Schedule YAML (``az ml schedule create -f schedule.yml``) → JobSchedule.

``trigger`` is ``type: cron`` (``expression``) or ``type: recurrence`` (``frequency``,
``interval``, ``schedule: {hours, minutes, week_days, month_days}``), each with optional
``start_time``, ``end_time`` and ``time_zone`` (Windows or IANA names). The reference tables'
spellings ``timezone`` and ``pattern`` are accepted too. ``create_job`` is a job file, an
inline job, ``azureml:<existing job>``, or ``{job: <file or azureml:...>, <overrides>}``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from tzlocal.windows_tz import win_tz

from ember.entities.schedules import (
    FREQUENCIES,
    WEEK_DAYS,
    CronTrigger,
    JobSchedule,
    RecurrencePattern,
    RecurrenceTrigger,
    Trigger,
)
from ember.specs._schema import Ctx, Section, asset_name, load_spec, plain
from ember.specs.monitors import monitor_from_section

SCHEDULE_KEYS = ("$schema", "name", "display_name", "description", "tags", "properties",
                 "trigger", "create_job", "create_monitor", "is_enabled")
TRIGGER_KEYS = ("type", "expression", "frequency", "interval", "schedule", "pattern",
                "start_time", "end_time", "time_zone", "timezone")
OVERRIDE_KEYS = ("type", "job", "inputs", "outputs", "settings", "experiment_name", "tags",
                 "display_name", "description")


def load_schedule_spec(path: Path, overrides: list[str] | None = None) -> JobSchedule:
    data, ctx = load_spec(path, overrides)
    return schedule_from_section(Section(ctx, data))


def schedule_from_section(sec: Section) -> JobSchedule:
    sec.check_keys(SCHEDULE_KEYS)
    monitor = None
    if sec.has("create_monitor"):
        if sec.has("create_job"):
            sec.fail("create_monitor", "a schedule has create_job or create_monitor, not both")
        monitor_sec = sec.section("create_monitor")
        assert monitor_sec is not None
        monitor = monitor_from_section(monitor_sec)
    elif not sec.has("create_job"):
        sec.fail("create_job", "is required (a job file, an inline job or azureml:<job>)",
                 "or create_monitor, for a model monitor")
    trigger_sec = sec.section("trigger", required=True)
    assert trigger_sec is not None
    job, job_overrides = create_job_of(sec) if monitor is None else (None, {})
    return JobSchedule(
        name=asset_name(sec, required=True),
        trigger=_trigger(trigger_sec),
        create_job=job, create_job_overrides=job_overrides, create_monitor=monitor,
        display_name=sec.get_str("display_name", nonempty=False) or "",
        description=sec.get_str("description", nonempty=False) or "",
        tags=sec.get_str_map("tags"), properties=sec.get_str_map("properties"),
        is_enabled=sec.get_bool("is_enabled", True))


def _trigger(sec: Section) -> Trigger:
    sec.check_keys(TRIGGER_KEYS)
    kind = sec.get_choice("type", ("cron", "recurrence"), None)
    if kind is None:
        sec.fail("type", "is required: cron or recurrence")
    tz_key = "timezone" if sec.has("timezone") else "time_zone"
    tz_name = sec.get_str(tz_key) or "UTC"
    try:
        tz = ZoneInfo(win_tz.get(tz_name, tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        sec.fail(tz_key, f"unknown time zone {tz_name!r}",
                 "a Windows name (\"Pacific Standard Time\") or an IANA one")
    times = {k: _time(sec, k, tz) for k in ("start_time", "end_time")}
    if times["start_time"] and times["end_time"] and times["end_time"] <= times["start_time"]:
        sec.fail("end_time", "must be after start_time")
    common: dict[str, Any] = {"start_time": sec.get_str("start_time"),
                              "end_time": sec.get_str("end_time"), "time_zone": tz_name}
    if kind == "cron":
        expression = sec.get_str("expression", required=True) or ""
        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            sec.fail("expression", f"{expression!r} is not a cron expression",
                     "five fields: MIN HOUR DAY MONTH DOW, e.g. \"0 * * * *\"")
        return CronTrigger(expression=expression, **common)
    frequency = sec.get_choice("frequency", FREQUENCIES, None)
    if frequency is None:
        sec.fail("frequency", f"is required: one of {', '.join(FREQUENCIES)}")
    interval = sec.get_int("interval", minimum=1) or 1
    key = "pattern" if sec.has("pattern") else "schedule"
    pattern_sec = sec.section(key)
    return RecurrenceTrigger(frequency=frequency, interval=interval,
                             schedule=_pattern(pattern_sec) if pattern_sec else None, **common)


def _time(sec: Section, key: str, tz: ZoneInfo) -> dt.datetime | None:
    text = sec.get_str(key)
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        sec.fail(key, f"{text!r} is not an ISO 8601 time", "e.g. 2024-07-10T10:00:00")
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


def _pattern(sec: Section) -> RecurrencePattern:
    sec.check_keys(("hours", "minutes", "week_days", "month_days"))
    hours = _ints(sec, "hours", 0, 23, required=True)
    minutes = _ints(sec, "minutes", 0, 59, required=True)
    month_days = _ints(sec, "month_days", 1, 31) or None
    week_days = sec.get("week_days")
    if week_days is not None:
        if isinstance(week_days, str):
            week_days = [week_days]
        if not isinstance(week_days, list) or any(
                not isinstance(d, str) or d.lower() not in WEEK_DAYS for d in week_days):
            sec.fail("week_days", "must be a list of week day names",
                     f"from: {', '.join(WEEK_DAYS)}")
        week_days = [d.lower() for d in week_days]
    return RecurrencePattern(hours=hours, minutes=minutes, week_days=week_days,
                             month_days=month_days)


def _ints(sec: Section, key: str, low: int, high: int, *, required: bool = False) -> list[int]:
    value = sec.get(key)
    if value is None:
        if required:
            sec.fail(key, "is required in a recurrence schedule")
        return []
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high
                         for v in values):
        sec.fail(key, f"must be a list of integers from {low} to {high}")
    return [int(v) for v in values]


def create_job_of(sec: Section) -> tuple[Any, dict[str, Any]]:
    """``sec``'s ``create_job``: a job (file or inline) or ``azureml:<job>``, and overrides."""
    value = sec.get("create_job")
    if isinstance(value, str):
        return _job_ref(sec, "create_job", value), {}
    sub = sec.section("create_job")
    assert sub is not None
    if not sub.has("job"):
        return _inline_job(sub), {}   # a whole job written in place
    sub.check_keys(OVERRIDE_KEYS)
    ref = sub.get_str("job") or ""
    over = {k: plain(v) for k, v in sub.data.items() if k not in ("job", "type")}
    if "tags" in over:
        sub.get_str_map("tags")
    return _job_ref(sub, "job", ref), over


def _job_ref(sec: Section, key: str, value: str) -> Any:
    if value.startswith("azureml:"):
        if len(value) == len("azureml:"):
            sec.fail(key, "names no job", "azureml:<existing job name>")
        return value
    from ember.specs.any_job import load_any_job_spec

    path = Path(sec.local_path(key, value, kind="file"))
    return load_any_job_spec(path)


def _inline_job(sub: Section) -> Any:
    data = sub.data
    ctx: Ctx = sub.ctx
    if data.get("type") == "pipeline":
        from ember.specs.pipelines import pipeline_from_dict

        return pipeline_from_dict(data, ctx.source, ctx.base_dir)
    from ember.specs.jobs import job_from_dict

    return job_from_dict(dict(data), ctx.source, ctx.base_dir)
