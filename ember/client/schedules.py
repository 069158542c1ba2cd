"""``client.schedules``: create, get, list, enable, disable, trigger, delete (azure-ai-ml
shape), and a monitor schedule's runs (``monitor_runs``)."""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from ember.client.convert import job_from_json
from ember.client.http import Http
from ember.client.jobs import JobOperations
from ember.client.online_endpoints import Poller
from ember.entities.jobs import Job
from ember.entities.schedules import JobSchedule, ScheduleFire
from ember.specs.monitors import monitor_from_dict, monitor_to_dict

LIST_VIEW_TYPES = {"enabledonly": "enabled_only", "enabled_only": "enabled_only",
                   "disabledonly": "disabled_only", "disabled_only": "disabled_only",
                   "all": "all"}


def schedule_from_json(d: dict[str, Any]) -> JobSchedule:
    monitor = d.get("create_monitor")
    made = JobSchedule.from_dict({**d, "create_monitor": None})
    if isinstance(monitor, dict):
        made.create_monitor = monitor_from_dict(monitor)
    return made


class ScheduleOperations:
    def __init__(self, http: Http, jobs: JobOperations) -> None:
        self._http = http
        self._jobs = jobs

    def _url(self, name: str = "", tail: str = "") -> str:
        return self._http.ws("/schedules" + (f"/{quote(name, safe='')}" if name else "") + tail)

    def begin_create_or_update(self, schedule: JobSchedule) -> Poller[JobSchedule]:
        """Create or replace the schedule. A Job ``create_job`` is sent whole (its local code
        and inputs uploaded now); ``azureml:<job>`` names an existing job."""
        job = schedule.create_job
        body_job = (job if isinstance(job, str | dict) or job is None
                    else self._jobs.submission_body(job))
        trigger = asdict(schedule.trigger)
        trigger["time_zone"] = str(getattr(trigger["time_zone"], "value", trigger["time_zone"]))
        monitor = None
        if schedule.create_monitor is not None:
            monitor = monitor_to_dict(schedule.create_monitor)
            for body, given in zip((monitor.get("alert_notification") or {}).get("actions", []),
                                   schedule.create_monitor.alert_notification.actions):
                if not isinstance(given.create_job, str | dict):   # a Job: its code uploaded
                    body["create_job"] = self._jobs.submission_body(given.create_job)
        body = {"trigger": trigger, "create_job": body_job, "create_monitor": monitor,
                "create_job_overrides": schedule.create_job_overrides,
                "display_name": schedule.display_name, "description": schedule.description,
                "tags": schedule.tags, "properties": schedule.properties,
                "is_enabled": schedule.is_enabled}
        made = schedule_from_json(self._http.json("PUT", self._url(schedule.name), json=body))
        return Poller(lambda _timeout: made)

    def get(self, name: str) -> JobSchedule:
        return schedule_from_json(self._http.json("GET", self._url(name)))

    def list(self, *, list_view_type: Any = "enabled_only") -> builtins.list[JobSchedule]:
        """``list_view_type``: ScheduleListViewType's EnabledOnly (default), DisabledOnly, All
        (or those names as strings)."""
        key = str(getattr(list_view_type, "value", list_view_type)).lower().replace("_", "")
        view = LIST_VIEW_TYPES.get(key, key)
        return [schedule_from_json(d) for d in self._http.json(
            "GET", self._url(), params={"list_view_type": view})]

    def update(self, name: str, *, description: str | None = None,
               display_name: str | None = None,
               tags: dict[str, str] | None = None) -> JobSchedule:
        body = {"description": description, "display_name": display_name, "tags": tags}
        return schedule_from_json(self._http.json(
            "PATCH", self._url(name), json={k: v for k, v in body.items() if v is not None}))

    def begin_enable(self, name: str) -> Poller[JobSchedule]:
        done = schedule_from_json(self._http.json("POST", self._url(name, "/enable")))
        return Poller(lambda _timeout: done)

    def begin_disable(self, name: str) -> Poller[JobSchedule]:
        done = schedule_from_json(self._http.json("POST", self._url(name, "/disable")))
        return Poller(lambda _timeout: done)

    def begin_delete(self, name: str) -> Poller[None]:
        """Only a disabled schedule can be deleted (ConflictError otherwise)."""
        self._http.request("DELETE", self._url(name))
        return Poller(lambda _timeout: None)

    def trigger(self, name: str, schedule_time: str | dt.datetime | None = None) -> Job:
        """Fire the schedule now (or as at ``schedule_time``); returns the job it made."""
        when = schedule_time.isoformat() if isinstance(schedule_time, dt.datetime) \
            else schedule_time
        return job_from_json(self._http.json("POST", self._url(name, "/trigger"),
                                             json={"scheduleTime": when}))

    def list_jobs(self, name: str) -> builtins.list[ScheduleFire]:
        """The schedule's triggers, oldest first, with the job each made."""
        return [ScheduleFire(**d) for d in self._http.json("GET", self._url(name, "/jobs"))]

    def monitor_runs(self, name: str, top: int = 20) -> builtins.list[dict[str, Any]]:
        """A monitor schedule's last ``top`` runs, newest first, as the REST API returns them:
        ``job_name``, ``status``, ``trigger_time`` (epoch seconds), ``signals`` (its
        ``signals.json``) and ``alerts`` (its ``alerts.json``), each None until written.
        InvalidInputError for a schedule that is not a monitor."""
        return list(self._http.json("GET", self._url(name, "/monitor-runs"),
                                    params={"top": top}))
