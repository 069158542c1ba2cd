from __future__ import annotations

import typer

from ember.cli.common import NoWaitOpt, client
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Workspaces.", no_args_is_help=True)


@app.command("show")
def show(output: str = OutputOpt) -> None:
    """The current workspace, with its mlflow_tracking_uri."""
    with client() as c:
        emit(c.workspace(), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    with client() as c:
        emit(c.workspaces.list(), output, ["name", "display_name", "description"])


@app.command("create")
def create(name: str = typer.Option(..., "--name", "-n"),
           description: str = typer.Option("", "--description"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Create a workspace (the tenancy unit: its own jobs, assets, runs and datastores)."""
    with client() as c:
        emit(c.workspaces.create(name, description=description), output)
