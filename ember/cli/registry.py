"""``ember registry``: registries share models, components and environments across workspaces
(``ember model create --registry-name R``, then
``azureml://registries/R/models/<name>/labels/latest`` from any workspace)."""

from __future__ import annotations

import typer

from ember.cli.common import NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Registries: models, components and environments shared across "
                       "workspaces.", no_args_is_help=True)

_COLUMNS = ["name", "description", "creation_time"]


@app.command("create")
def create(name: str = typer.Option(..., "--name", "-n"),
           description: str = typer.Option("", "--description"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Create a registry (server admins; 'azureml' is the built-in one)."""
    with client() as c:
        emit(plain(c.registries.create(name, description)), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    """'azureml' and the registries you have a role in."""
    with client() as c:
        emit([plain(r) for r in c.registries.list()], output, _COLUMNS)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit(plain(c.registries.get(name)), output)
