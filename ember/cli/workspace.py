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


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y", help="Accepted for az users."),
           all_resources: bool = typer.Option(False, "--all-resources", help="Accepted for "
                                              "az users: the workspace's files are kept."),
           permanently_delete: bool = typer.Option(False, "--permanently-delete",
                                                   help="Accepted for az users."),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Delete a workspace (server admins): refused while a job runs or an endpoint serves in
    it. Its name stays taken; its jobs, runs and files are kept."""
    with client() as c:
        emit(c.workspaces.begin_delete(name).result(), output)
