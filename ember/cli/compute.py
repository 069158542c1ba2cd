"""``ember compute``: compute targets (``az ml compute``): the built-in ``local`` (this machine)
and Ray clusters registered by their job-submission address."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

from ember.cli.common import NoWaitOpt, client
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Compute targets: 'local' (built in) and Ray clusters (type: ray).",
                  no_args_is_help=True)

_COLUMNS = ["name", "type", "provisioning_state", "address", "capacity"]


def _shown(compute: Any) -> dict[str, Any]:
    return dataclasses.asdict(compute)


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f",
                                     help="The compute's YAML (type: ray, address: ...)."),
           name: str = typer.Option(None, "--name", "-n", help="Over the file's name."),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Register (or replace) a compute from YAML; only 'type: ray' can be created."""
    from ember.client.compute import load_compute

    compute = load_compute(file)
    if name:
        compute = dataclasses.replace(compute, name=name)
    with client() as c:
        emit(_shown(c.compute.create_or_update(compute)), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit(_shown(c.compute.get(name)), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    with client() as c:
        emit([_shown(x) for x in c.compute.list()], output, _COLUMNS)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y"), no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Unregister the compute ('local' cannot be deleted)."""
    if not yes:
        typer.confirm(f"Delete compute {name!r}?", abort=True)
    with client() as c:
        c.compute.delete(name)
    emit({"name": name, "deleted": True}, output)
