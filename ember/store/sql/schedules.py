"""SQL schedules: the JSON spec plus the columns the scheduler loop queries and updates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ember.entities.schedules import JobSchedule, ScheduleFire
from ember.errors import NotFoundError
from ember.store.schedules import ScheduleStore
from ember.store.sql import tables as t
from ember.store.sql.base import SqlRepo, is_duplicate, raise_duplicate

S = t.schedules
F = t.schedule_fires
_COLUMNS = ("name", "is_enabled", "next_fire_time", "creation_time")


def _missing(workspace: str, name: str) -> NotFoundError:
    return NotFoundError(f"schedule {name!r} does not exist in workspace {workspace!r}")


def _spec(s: JobSchedule) -> dict[str, Any]:
    spec = s.to_dict()
    for key in _COLUMNS:
        spec.pop(key)
    return spec


def _schedule(row: Any) -> JobSchedule:
    return JobSchedule.from_dict({**dict(row.spec), "name": row.name,
                                  "is_enabled": row.is_enabled,
                                  "next_fire_time": row.next_fire_time,
                                  "creation_time": row.creation_time})


def _fire(row: Any) -> ScheduleFire:
    return ScheduleFire(schedule=row.schedule, fire_time=row.fire_time, job_name=row.job_name,
                        missed=row.missed, error=row.error, done=row.done)


class SqlScheduleStore(SqlRepo, ScheduleStore):
    def create(self, workspace: str, schedule: JobSchedule) -> JobSchedule:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(S).values(
                    workspace=workspace, name=schedule.name, spec=_spec(schedule),
                    is_enabled=schedule.is_enabled, next_fire_time=schedule.next_fire_time,
                    creation_time=schedule.creation_time))
        except IntegrityError as exc:
            raise_duplicate(exc, f"schedule {schedule.name!r}")
        return schedule

    def get(self, workspace: str, name: str) -> JobSchedule:
        with self.engine.connect() as conn:
            row = conn.execute(select(S).where(S.c.workspace == workspace,
                                               S.c.name == name)).first()
        if row is None:
            raise _missing(workspace, name)
        return _schedule(row)

    def list_schedules(self, workspace: str, enabled: bool | None = None) -> list[JobSchedule]:
        q = select(S).where(S.c.workspace == workspace).order_by(S.c.name)
        if enabled is not None:
            q = q.where(S.c.is_enabled == enabled)
        with self.engine.connect() as conn:
            return [_schedule(r) for r in conn.execute(q).all()]

    def update(self, workspace: str, schedule: JobSchedule) -> JobSchedule:
        with self.engine.begin() as conn:
            if not conn.execute(update(S).where(S.c.workspace == workspace,
                                                S.c.name == schedule.name)
                                .values(spec=_spec(schedule), is_enabled=schedule.is_enabled,
                                        next_fire_time=schedule.next_fire_time)).rowcount:
                raise _missing(workspace, schedule.name)
        return schedule

    def delete(self, workspace: str, name: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(delete(S).where(S.c.workspace == workspace,
                                                S.c.name == name)).rowcount:
                raise _missing(workspace, name)
            conn.execute(delete(F).where(F.c.workspace == workspace, F.c.schedule == name))

    def due(self, now: float) -> list[tuple[str, JobSchedule]]:
        q = (select(S).where(S.c.is_enabled.is_(True), S.c.next_fire_time.is_not(None),
                             S.c.next_fire_time <= now)
             .order_by(S.c.next_fire_time))
        with self.engine.connect() as conn:
            return [(r.workspace, _schedule(r)) for r in conn.execute(q).all()]

    def claim_fire(self, workspace: str, name: str, expected_next: float,
                   new_next: float | None, fire: ScheduleFire) -> bool:
        try:
            with self.engine.begin() as conn:
                moved = conn.execute(update(S).where(
                    S.c.workspace == workspace, S.c.name == name, S.c.is_enabled.is_(True),
                    S.c.next_fire_time == expected_next).values(next_fire_time=new_next))
                if not moved.rowcount:
                    return False
                conn.execute(insert(F).values(workspace=workspace, **_fire_values(fire)))
        except IntegrityError as exc:
            if is_duplicate(exc):
                return False
            raise
        return True

    def record_fire(self, workspace: str, fire: ScheduleFire) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(F).values(workspace=workspace, **_fire_values(fire)))
        except IntegrityError as exc:
            if is_duplicate(exc):
                return False
            raise
        return True

    def set_fire_result(self, workspace: str, name: str, fire_time: float,
                        error: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(F).where(F.c.workspace == workspace, F.c.schedule == name,
                                         F.c.fire_time == fire_time).values(error=error, done=True))

    def pending_fires(self) -> list[tuple[str, ScheduleFire]]:
        q = select(F).where(F.c.done.is_(False)).order_by(F.c.fire_time)
        with self.engine.connect() as conn:
            return [(r.workspace, _fire(r)) for r in conn.execute(q).all()]

    def fires(self, workspace: str, name: str) -> list[ScheduleFire]:
        q = (select(F).where(F.c.workspace == workspace, F.c.schedule == name)
             .order_by(F.c.fire_time))
        with self.engine.connect() as conn:
            return [_fire(r) for r in conn.execute(q).all()]


def _fire_values(fire: ScheduleFire) -> dict[str, Any]:
    return {"schedule": fire.schedule, "fire_time": fire.fire_time, "job_name": fire.job_name,
            "missed": fire.missed, "error": fire.error, "done": fire.done}
