from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, client
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Datastores (named roots for azureml://datastores/<name>/paths/...).",
                  no_args_is_help=True)


@app.command("create")
def create(name: str = typer.Option(..., "--name", "-n"),
           root: str = typer.Option(..., "--root", help="A local folder or an fsspec URL."),
           description: str = typer.Option("", "--description"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Register (or replace) a datastore."""
    local = Path(root).expanduser()
    if "://" not in root:
        root = str(local.resolve())
    with client() as c:
        emit(c.datastores.create_or_update(name, root, description=description), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit(c.datastores.get(name), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    with client() as c:
        emit(c.datastores.list(), output, ["name", "type", "root", "is_default"])
