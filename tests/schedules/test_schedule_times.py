"""Trigger times: cron and recurrence in time zones, across both DST changes."""

from __future__ import annotations

import datetime as dt

import pytest

from ember.engine.schedule_times import first_fire, next_fire
from ember.entities.schedules import CronTrigger, RecurrencePattern, RecurrenceTrigger, Trigger
from ember.errors import InvalidInputError

UTC = dt.timezone.utc


def ts(*a: int) -> float:
    return dt.datetime(*a, tzinfo=UTC).timestamp()


def fires(trigger: Trigger, after: float, n: int) -> list[str]:
    out = []
    for _ in range(n):
        nxt = next_fire(trigger, after, 0.0)
        assert nxt is not None
        out.append(dt.datetime.fromtimestamp(nxt, UTC).strftime("%m-%d %H:%M"))
        after = nxt
    return out


PACIFIC = "Pacific Standard Time"   # a Windows name, as Azure's YAML gives it


def test_cron_0230_on_spring_forward_day_fires_once() -> None:
    # 2026-03-08 02:30 does not exist in Los Angeles: it fires once, at 03:30 PDT (10:30Z)
    got = fires(CronTrigger("30 2 * * *", time_zone=PACIFIC), ts(2026, 3, 6), 4)
    assert got == ["03-06 10:30", "03-07 10:30", "03-08 10:30", "03-09 09:30"]


def test_cron_0130_on_fall_back_day_fires_once() -> None:
    # 2026-11-01 01:30 happens twice: it fires at the first (PDT, 08:30Z) only
    got = fires(CronTrigger("30 1 * * *", time_zone=PACIFIC), ts(2026, 10, 31), 3)
    assert got == ["10-31 08:30", "11-01 08:30", "11-02 09:30"]


def test_hourly_cron_over_fall_back_keeps_each_wall_time_once() -> None:
    got = fires(CronTrigger("30 * * * *", time_zone="America/Los_Angeles"),
                ts(2026, 11, 1, 7), 3)
    assert got == ["11-01 07:30", "11-01 08:30", "11-01 10:30"]


def test_cron_ignores_day_and_month_fields_as_azure_does() -> None:
    assert fires(CronTrigger("0 12 15 6 *"), ts(2026, 1, 1), 2) == ["01-01 12:00", "01-02 12:00"]


def test_daily_recurrence_in_a_zone_across_spring_forward() -> None:
    trig = RecurrenceTrigger("day", 1, RecurrencePattern([2], [30]), time_zone=PACIFIC,
                             start_time="2026-03-01T00:00:00")
    assert fires(trig, ts(2026, 3, 7), 3) == ["03-07 10:30", "03-08 10:30", "03-09 09:30"]


def test_weekly_and_monthly_recurrence() -> None:
    weekly = RecurrenceTrigger("week", 2, RecurrencePattern([9], [0], ["monday", "friday"]),
                               start_time="2026-03-02T00:00:00")
    assert fires(weekly, ts(2026, 3, 2), 4) == ["03-02 09:00", "03-06 09:00", "03-16 09:00",
                                                "03-20 09:00"]
    monthly = RecurrenceTrigger("month", 1, RecurrencePattern([0], [0], month_days=[31]),
                                start_time="2026-01-01T00:00:00")
    assert fires(monthly, ts(2026, 1, 2), 2) == ["01-31 00:00", "03-31 00:00"]   # skips Feb
    minutes = RecurrenceTrigger("minute", 5, start_time="2026-03-01T00:01:00")
    assert fires(minutes, ts(2026, 3, 6, 0, 2), 2) == ["03-06 00:06", "03-06 00:11"]


def test_start_time_in_the_past_fires_at_the_next_calculated_time() -> None:
    now = ts(2026, 5, 5, 10, 7)
    trig = CronTrigger("0 * * * *", start_time="2020-01-01T00:00:00")
    assert first_fire(trig, now) == ts(2026, 5, 5, 11)


def test_start_time_omitted_fires_at_once_and_end_time_stops() -> None:
    now = ts(2026, 5, 5, 10, 7)
    trig = CronTrigger("0 * * * *", end_time="2026-05-05T11:30:00Z")
    assert first_fire(trig, now) == now
    assert next_fire(trig, now, now) == ts(2026, 5, 5, 11)
    assert next_fire(trig, ts(2026, 5, 5, 11), now) is None


def test_a_future_start_time_is_the_first_slot() -> None:
    trig = CronTrigger("0 * * * *", start_time="2026-06-01T00:00:00", time_zone="UTC")
    assert first_fire(trig, ts(2026, 5, 1)) == ts(2026, 6, 1)


def test_unknown_zone() -> None:
    with pytest.raises(InvalidInputError, match="time zone"):
        next_fire(CronTrigger("0 * * * *", time_zone="Mars Standard Time"), 0.0, 0.0)
