"""``ember schedule``: cron and recurrence triggers that submit jobs (``az ml schedule``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from ember.cli.common import NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Schedules (a cron or recurrence trigger that submits a job).",
                  no_args_is_help=True)

_COLUMNS = ["name", "is_enabled", "next_fire", "trigger"]


def _row(s: Any) -> dict[str, Any]:
    d: dict[str, Any] = plain(s)
    t = s.next_fire_time
    d["next_fire"] = (dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()
                      if t is not None else None)
    trig = s.trigger
    d["trigger"] = (f"cron {trig.expression}" if trig.type == "cron"
                    else f"every {trig.interval} {trig.frequency}") + f" ({trig.time_zone})"
    return d


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Create (or replace) a schedule from YAML."""
    from ember.specs.schedules import load_schedule_spec

    s = load_schedule_spec(file, list(set_))
    if name:
        s.name = name
    with client() as c:
        emit(_row(c.schedules.begin_create_or_update(s).result()), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit(_row(c.schedules.get(name)), output)


@app.command("list")
def list_(list_view_type: str = typer.Option("enabled_only", "--list-view-type",
                                             help="enabled_only, disabled_only or all"),
          output: str = OutputOpt) -> None:
    with client() as c:
        emit([_row(s) for s in c.schedules.list(list_view_type=list_view_type)], output,
             _COLUMNS)


@app.command("update")
def update(name: str = typer.Option(..., "--name", "-n"),
           set_: list[str] = typer.Option([], "--set",
                                          help="description=..., display_name=..., tags.k=v"),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Change the description, display name or tags (a whole change: create --file)."""
    from ember.errors import InvalidInputError

    changes: dict[str, Any] = {}
    with client() as c:
        tags: dict[str, str] | None = None
        for item in set_:
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidInputError(f"--set {item!r}: expected key=value")
            if key in ("description", "display_name"):
                changes[key] = value
            elif key.startswith("tags."):
                tags = tags if tags is not None else dict(c.schedules.get(name).tags)
                tags[key[5:]] = value
            else:
                raise InvalidInputError(f"--set {key}: only description, display_name and "
                                        "tags.<key> can be updated; use create --file")
        emit(_row(c.schedules.update(name, tags=tags, **changes)), output)


@app.command("enable")
def enable(name: str = typer.Option(..., "--name", "-n"), no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    with client() as c:
        emit(_row(c.schedules.begin_enable(name).result()), output)


@app.command("disable")
def disable(name: str = typer.Option(..., "--name", "-n"), no_wait: bool = NoWaitOpt,
            output: str = OutputOpt) -> None:
    with client() as c:
        emit(_row(c.schedules.begin_disable(name).result()), output)


@app.command("trigger")
def trigger(name: str = typer.Option(..., "--name", "-n"),
            schedule_time: str = typer.Option(None, "--schedule-time",
                                              help="ISO 8601 (default: now)"),
            output: str = OutputOpt) -> None:
    """Fire the schedule now; prints the job it made."""
    with client() as c:
        job = c.schedules.trigger(name, schedule_time)
    emit({"name": job.name, "status": job.status, "display_name": job.display_name}, output)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y"),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Delete a disabled schedule (the jobs it made stay)."""
    if not yes:
        typer.confirm(f"Delete schedule {name!r}?", abort=True)
    with client() as c:
        c.schedules.begin_delete(name).result()
    emit({"name": name, "deleted": True}, output)
