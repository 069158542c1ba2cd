"""When a schedule's triggers fall: cron and recurrence in the schedule's time zone.

Candidates are local wall times, turned into instants by zoneinfo: a wall time skipped by a
spring-forward change maps (fold=0) onto the instant just after the gap, and a wall time that
occurs twice on a fall-back day is produced once (its first occurrence), so each fires once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from tzlocal.windows_tz import win_tz

from ember.entities.schedules import FREQUENCIES, WEEK_DAYS, CronTrigger, RecurrenceTrigger, Trigger
from ember.errors import InvalidInputError

UTC = dt.timezone.utc
_SEARCH_DAYS = 4000   # a pattern that matches nothing within ~11 years never fires


def zone(name: str) -> ZoneInfo:
    """A Windows zone name (Azure's form, e.g. "Pacific Standard Time") or an IANA name."""
    iana = win_tz.get(name, name)
    try:
        return ZoneInfo("UTC" if iana in ("UTC", "Etc/UTC") else iana)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"unknown time zone {name!r}: give a Windows zone name "
                                f"(\"Pacific Standard Time\") or an IANA one") from None


def parse_time(text: str, tz: ZoneInfo) -> dt.datetime:
    """ISO 8601; without an offset it is a wall time in the schedule's zone."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{text!r} is not an ISO 8601 time "
                                "(e.g. 2024-07-10T10:00:00)") from None
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


def check_trigger(trigger: Trigger) -> None:
    """Raise InvalidInputError for what no time computation could use."""
    tz = zone(trigger.time_zone)
    for t in (trigger.start_time, trigger.end_time):
        if t:
            parse_time(t, tz)
    if isinstance(trigger, CronTrigger):
        if (len(trigger.expression.split()) != 5
                or not croniter.is_valid(_cron(trigger.expression))):
            raise InvalidInputError(f"cron expression {trigger.expression!r} is not valid "
                                    "(five fields: MIN HOUR DAY MONTH DOW)")
        return
    if trigger.frequency not in FREQUENCIES or trigger.interval < 1:
        raise InvalidInputError(f"recurrence: frequency {trigger.frequency!r} (one of "
                                f"{', '.join(FREQUENCIES)}) every {trigger.interval} (>= 1)")
    p = trigger.schedule
    if p is not None and (any(not 0 <= h <= 23 for h in p.hours)
                          or any(not 0 <= m <= 59 for m in p.minutes)
                          or any(not 1 <= d <= 31 for d in p.month_days or [])
                          or any(str(d).lower() not in WEEK_DAYS for d in p.week_days or [])):
        raise InvalidInputError("recurrence schedule: hours 0-23, minutes 0-59, month_days "
                                f"1-31, week_days from {', '.join(WEEK_DAYS)}")


def _cron(expression: str) -> str:
    # Azure ignores the DAY and MONTH fields (treats them as *).
    fields = expression.split()
    if len(fields) == 5:
        fields[2] = fields[3] = "*"
    return " ".join(fields)


def next_fire(trigger: Trigger, after: float, created: float) -> float | None:
    """The first trigger strictly after ``after`` (epoch seconds), at or after start_time
    (default: the creation time), and not after end_time; None when there is none."""
    tz = zone(trigger.time_zone)
    start = (parse_time(trigger.start_time, tz).timestamp() if trigger.start_time
             else float(int(created)))
    end = parse_time(trigger.end_time, tz).timestamp() if trigger.end_time else None
    floor = max(after, start - 1e-6)
    for t in _candidates(trigger, tz, start, floor):
        if end is not None and t > end:
            return None
        if t > floor:
            return t
    return None


def first_fire(trigger: Trigger, created: float) -> float | None:
    """With no start_time the first job runs at once (the creation time); with one in the past,
    at the next calculated time after now; otherwise at the first slot from start_time."""
    if not trigger.start_time:
        end = (parse_time(trigger.end_time, zone(trigger.time_zone)).timestamp()
               if trigger.end_time else None)
        now = float(int(created))
        return None if end is not None and now > end else now
    return next_fire(trigger, created, created)


def _candidates(trigger: Trigger, tz: ZoneInfo, start: float, floor: float
                ) -> Iterator[float]:
    # Begin a day before the floor's wall time: fold and gap mapping can move an instant by
    # an hour or two, never a day.
    begin = dt.datetime.fromtimestamp(floor, tz).replace(tzinfo=None) - dt.timedelta(days=1)
    if isinstance(trigger, CronTrigger):
        it = croniter(_cron(trigger.expression), begin)
        last = -1.0
        for _ in range(_SEARCH_DAYS * 24 * 60):
            t = it.get_next(dt.datetime).replace(tzinfo=tz).timestamp()
            if t > last:   # a gap's wall times collapse onto one instant: keep it once
                last = t
                yield t
        return
    yield from _recurrence(trigger, tz, start, floor)


def _recurrence(trigger: RecurrenceTrigger, tz: ZoneInfo, start: float, floor: float
                ) -> Iterator[float]:
    step = max(1, int(trigger.interval))
    if trigger.frequency in ("minute", "hour") and not (trigger.schedule and
                                                        trigger.schedule.minutes):
        unit = 60.0 if trigger.frequency == "minute" else 3600.0
        k = max(0, int((floor - start) // (unit * step)))
        while True:
            yield start + k * unit * step
            k += 1
    s = dt.datetime.fromtimestamp(start, tz)
    pattern = trigger.schedule
    hours = sorted(pattern.hours) if pattern and pattern.hours else [s.hour]
    minutes = sorted(pattern.minutes) if pattern and pattern.minutes else [s.minute]
    if trigger.frequency == "hour":
        hours = list(range(24))
    week_days = ({WEEK_DAYS.index(d.lower()) for d in pattern.week_days}
                 if pattern and pattern.week_days else {s.weekday()})
    month_days = set(pattern.month_days) if pattern and pattern.month_days else {s.day}
    day = max(s.date(), dt.datetime.fromtimestamp(floor, tz).date() - dt.timedelta(days=1))
    last = -1.0
    for _ in range(_SEARCH_DAYS):
        if _day_matches(trigger.frequency, step, s.date(), day, week_days, month_days):
            for h in hours:
                if trigger.frequency == "hour" and (h - s.hour) % step:
                    continue
                for m in minutes:
                    t = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=tz).timestamp()
                    if t > last and t >= start:
                        last = t
                        yield t
        day += dt.timedelta(days=1)


def _day_matches(frequency: str, step: int, first: dt.date, day: dt.date,
                 week_days: set[int], month_days: set[int]) -> bool:
    if frequency in ("minute", "hour"):
        return True
    if frequency == "day":
        return (day - first).days % step == 0
    if frequency == "week":
        weeks = ((day - dt.timedelta(days=day.weekday()))
                 - (first - dt.timedelta(days=first.weekday()))).days // 7
        return day.weekday() in week_days and weeks % step == 0
    months = (day.year - first.year) * 12 + day.month - first.month
    return day.day in month_days and months % step == 0   # day 31 skips shorter months
