"""The schedule pages: the list (``/ws/<ws>/schedules?show=enabled|disabled|all``) and a
schedule (``/ws/<ws>/schedules/<name>``: its trigger, job definition and the jobs it made,
newest first). Enable, disable and "Trigger now" are ``static/schedules.js`` calling the REST
API."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from ruamel.yaml import YAML

from ember.entities.auth import WRITE
from ember.errors import EmberError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, may, page_session

router = studio_router()
NAV = [NavItem("Schedules", "/schedules", 60)]

# the page's filter -> the REST list_view_type
SHOWS = {"enabled": "enabled_only", "disabled": "disabled_only", "all": "all"}
# the history rows whose job status is read (one GET each)
HISTORY_LIMIT = 100


def trigger_summary(trigger: dict[str, Any]) -> str:
    """A trigger in words: ``cron 0 3 * * 1`` or ``every 2 days at 03:00, 15:00``."""
    if trigger.get("type") != "recurrence":
        return f"cron {trigger.get('expression', '')}".strip()
    interval = int(trigger.get("interval") or 1)
    frequency = str(trigger.get("frequency") or "day")
    words = f"every {frequency}" if interval == 1 else f"every {interval} {frequency}s"
    pattern = trigger.get("schedule") or {}
    hours, minutes = pattern.get("hours") or [], pattern.get("minutes") or []
    if hours or minutes:
        times = [f"{h:02d}:{m:02d}" for h in (hours or [0]) for m in (minutes or [0])]
        words += " at " + ", ".join(times)
    if pattern.get("week_days"):
        words += " on " + ", ".join(d.capitalize() for d in pattern["week_days"])
    if pattern.get("month_days"):
        words += " on day " + ", ".join(str(d) for d in pattern["month_days"])
    return words


def job_text(create_job: Any) -> str:
    """The schedule's job definition as YAML (JSON if it will not dump), without the fields
    left empty."""
    if isinstance(create_job, str):
        return create_job
    if isinstance(create_job, dict):
        create_job = {k: v for k, v in create_job.items() if v not in (None, "", {}, [])}
    try:
        out = io.StringIO()
        yaml = YAML()
        yaml.default_flow_style = False
        yaml.dump(create_job, out)
        return out.getvalue()
    except Exception:   # noqa: BLE001 - an odd value is still shown, as JSON
        return json.dumps(create_job, indent=2, default=str)


@router.get("/ws/{workspace}/schedules")
async def schedule_list(request: Request, workspace: str, show: str = "all",
                        session: Session = Depends(page_session),
                        api: StudioApi = Depends(studio_api)) -> Response:
    show = show if show in SHOWS else "all"
    schedules = await api.get(api.ws("/schedules"), list_view_type=SHOWS[show])
    schedules.sort(key=lambda s: s["name"])
    for s in schedules:
        s["summary"] = trigger_summary(s["trigger"])
    return render(request, session, "schedules/list.html", title="Schedules",
                  schedules=schedules, show=show,
                  can_write=may(request, session, workspace, WRITE))


@router.get("/ws/{workspace}/schedules/{name}")
async def schedule_page(request: Request, workspace: str, name: str,
                        session: Session = Depends(page_session),
                        api: StudioApi = Depends(studio_api)) -> Response:
    base = api.ws(f"/schedules/{quote(name)}")
    schedule = await api.get(base)
    fires = sorted(await api.get(f"{base}/jobs"), key=lambda f: -f["fire_time"])
    history = await asyncio.gather(*(_fire_row(api, f) for f in fires[:HISTORY_LIMIT]))
    return render(request, session, "schedules/detail.html", title=f"Schedule {name}",
                  schedule=schedule, summary=trigger_summary(schedule["trigger"]),
                  job_text=job_text(schedule.get("create_monitor") or schedule["create_job"]),
                  history=history,
                  more=max(0, len(fires) - HISTORY_LIMIT),
                  can_write=may(request, session, workspace, WRITE))


async def _fire_row(api: StudioApi, fire: dict[str, Any]) -> dict[str, Any]:
    """A history row: the fire and its job's status (None when no job was made)."""
    row = dict(fire, status=None)
    if fire["job_name"] and not fire["error"] and fire["done"]:
        try:
            job = await api.get(api.ws(f"/jobs/{quote(fire['job_name'])}"))
            row["status"] = job.get("status")
        except EmberError:   # the job was deleted since
            row["status"] = None
    return row
