"""Schedules: the same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ember.entities.schedules import (
    CronTrigger,
    JobSchedule,
    RecurrencePattern,
    RecurrenceTrigger,
    ScheduleFire,
)
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


class TestScheduleStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        store.workspaces.create(Workspace(name="w1", creation_time=time.time()))
        return "w1"

    def test_round_trip_list_and_delete(self, store: SqlStore, ws: str) -> None:
        s = JobSchedule(name="nightly", trigger=RecurrenceTrigger(
            "week", 2, RecurrencePattern([4], [0, 30], ["monday"]), time_zone="UTC"),
            create_job={"command": "echo hi"}, create_job_overrides={"tags": {"a": "b"}},
            display_name="N", description="d", tags={"t": "1"}, properties={"p": "q"},
            creation_time=10.0, next_fire_time=100.0)
        store.schedules.create(ws, s)
        assert store.schedules.get(ws, "nightly") == s
        with pytest.raises(AlreadyExistsError):
            store.schedules.create(ws, s)
        off = JobSchedule(name="off", trigger=CronTrigger("0 * * * *"), create_job="azureml:j",
                          is_enabled=False, creation_time=1.0)
        store.schedules.create(ws, off)
        assert [x.name for x in store.schedules.list_schedules(ws)] == ["nightly", "off"]
        assert [x.name for x in store.schedules.list_schedules(ws, enabled=False)] == ["off"]
        off.description = "changed"
        store.schedules.update(ws, off)
        assert store.schedules.get(ws, "off").description == "changed"
        store.schedules.delete(ws, "off")
        for call in (lambda: store.schedules.get(ws, "off"),
                     lambda: store.schedules.delete(ws, "off"),
                     lambda: store.schedules.update(ws, off)):
            with pytest.raises(NotFoundError):
                call()

    def test_a_trigger_is_claimed_once(self, store: SqlStore, ws: str) -> None:
        s = JobSchedule(name="s", trigger=CronTrigger("* * * * *"), create_job={},
                        creation_time=0.0, next_fire_time=60.0)
        store.schedules.create(ws, s)
        store.schedules.create(ws, JobSchedule(name="later", create_job={}, creation_time=0.0,
                                               next_fire_time=600.0))
        assert [x.name for _, x in store.schedules.due(100.0)] == ["s"]
        fire = ScheduleFire("s", 60.0, "s-19700101T000100Z")
        assert store.schedules.claim_fire(ws, "s", 60.0, 120.0, fire)
        assert not store.schedules.claim_fire(ws, "s", 60.0, 120.0, fire)   # CAS lost
        assert store.schedules.get(ws, "s").next_fire_time == 120.0
        assert not store.schedules.record_fire(ws, fire)   # (schedule, time) is unique
        assert store.schedules.record_fire(ws, ScheduleFire("s", 70.0, "j2", error=None))
        assert [f.fire_time for _, f in store.schedules.pending_fires()] == [60.0, 70.0]
        store.schedules.set_fire_result(ws, "s", 70.0, "bad job")
        assert [(w, f.fire_time) for w, f in store.schedules.pending_fires()] == [(ws, 60.0)]
        assert [(f.job_name, f.error) for f in store.schedules.fires(ws, "s")] == [
            ("s-19700101T000100Z", None), ("j2", "bad job")]
        assert store.schedules.due(100.0) == []
