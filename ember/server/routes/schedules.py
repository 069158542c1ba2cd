"""Schedules (``/schedules``, ARM's schedule verbs): create or update, get, list, update,
enable, disable, trigger now, delete (only when disabled), the jobs each one made, and a
monitor schedule's runs with their results."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query

from ember.entities.auth import READ, WRITE
from ember.errors import InvalidInputError
from ember.server.deps import WorkspaceContext, check_access, declare, submitting_user
from ember.server.schemas.jobs import JobOut
from ember.server.schemas.schedules import (
    MonitorRunOut,
    ScheduleFireOut,
    ScheduleIn,
    ScheduleOut,
    ScheduleUpdate,
    TriggerNowIn,
)

router = APIRouter(tags=["schedules"])
S = "/schedules"


@router.put(S + "/{name}")
async def create_or_update_schedule(name: str, body: ScheduleIn,
                                    ctx: WorkspaceContext = Depends(check_access)
                                    ) -> ScheduleOut:
    """Create or replace the schedule; with no ``start_time`` its first job runs at once."""
    if body.name not in (None, name):
        raise InvalidInputError(f"the body names schedule {body.name!r} but the path {name!r}")
    schedule = body.entity(name)
    schedule.created_by = submitting_user(ctx)
    return ScheduleOut.of(await ctx.run(ctx.platform.schedules.create_or_update, ctx.name,
                                        schedule))


@router.get(S)
async def list_schedules(list_view_type: str = "enabled_only",
                         ctx: WorkspaceContext = Depends(check_access)) -> list[ScheduleOut]:
    """``list_view_type``: enabled_only (the default), disabled_only or all."""
    return [ScheduleOut.of(s) for s in await ctx.run(ctx.platform.schedules.list, ctx.name,
                                                      list_view_type)]


@router.get(S + "/{name}")
async def get_schedule(name: str, ctx: WorkspaceContext = Depends(check_access)) -> ScheduleOut:
    return ScheduleOut.of(await ctx.run(ctx.platform.schedules.get, ctx.name, name))


@router.patch(S + "/{name}")
async def update_schedule(name: str, body: ScheduleUpdate,
                          ctx: WorkspaceContext = Depends(check_access)) -> ScheduleOut:
    """Description, display name and tags; a whole change is a ``PUT``."""
    return ScheduleOut.of(await ctx.run(
        lambda: ctx.platform.schedules.update_metadata(
            ctx.name, name, description=body.description, display_name=body.display_name,
            tags=body.tags)))


@router.post(S + "/{name}/enable", **declare(WRITE))
async def enable_schedule(name: str, ctx: WorkspaceContext = Depends(check_access)
                          ) -> ScheduleOut:
    return ScheduleOut.of(await ctx.run(ctx.platform.schedules.enable, ctx.name, name))


@router.post(S + "/{name}/disable", **declare(WRITE))
async def disable_schedule(name: str, ctx: WorkspaceContext = Depends(check_access)
                           ) -> ScheduleOut:
    return ScheduleOut.of(await ctx.run(ctx.platform.schedules.disable, ctx.name, name))


@router.post(S + "/{name}/trigger", **declare(WRITE))
async def trigger_schedule(name: str, body: TriggerNowIn | None = None,
                           ctx: WorkspaceContext = Depends(check_access)) -> JobOut:
    """Fire now (or at ``scheduleTime``, ISO 8601): the job is submitted at once."""
    when = None
    if body is not None and body.scheduleTime:
        try:
            t = dt.datetime.fromisoformat(body.scheduleTime.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(f"scheduleTime {body.scheduleTime!r} is not ISO 8601"
                                    ) from None
        when = (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()
    return JobOut.of(await ctx.run(ctx.platform.schedules.trigger, ctx.name, name, when))


@router.delete(S + "/{name}")
async def delete_schedule(name: str, ctx: WorkspaceContext = Depends(check_access)
                          ) -> dict[str, str]:
    """Only a disabled schedule (409 otherwise); the jobs it made stay."""
    await ctx.run(ctx.platform.schedules.delete, ctx.name, name)
    return {"name": name}


@router.get(S + "/{name}/jobs", **declare(READ))
async def schedule_history(name: str, ctx: WorkspaceContext = Depends(check_access)
                           ) -> list[ScheduleFireOut]:
    """The schedule's triggers, oldest first: each one's job (or why it made none)."""
    return [ScheduleFireOut.of(f)
            for f in await ctx.run(ctx.platform.schedules.history, ctx.name, name)]


@router.get(S + "/{name}/monitor-runs", **declare(READ))
async def monitor_runs(name: str, top: int = Query(20, ge=1, le=1000),
                       ctx: WorkspaceContext = Depends(check_access)) -> list[MonitorRunOut]:
    """A monitor schedule's last ``top`` runs, newest first: each one's job, status, trigger
    time, ``signals.json`` and ``alerts.json`` (null until written). 400 for a schedule
    without ``create_monitor``."""
    return [MonitorRunOut.of(r)
            for r in await ctx.run(ctx.platform.monitors.runs, ctx.name, name, top)]
