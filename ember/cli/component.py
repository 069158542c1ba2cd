from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Components.", no_args_is_help=True)

_COLUMNS = ["name", "version", "display_name", "type", "archived", "description"]


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           version: str = typer.Option(None, "--version", "-v"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    from ember.specs.components import load_component_spec

    comp = load_component_spec(file, list(set_))
    if name:
        comp.name = name
    if version:
        comp.version = version
    with client() as c:
        emit(plain(c.components.create_or_update(comp)), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"),
         version: str = typer.Option(None, "--version", "-v"),
         output: str = OutputOpt) -> None:
    with client() as c:
        emit(plain(c.components.get(name, version)), output)


@app.command("list")
def list_(name: str = typer.Option(None, "--name", "-n"),
          include_archived: bool = typer.Option(False, "--include-archived"),
          output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(x) for x in c.components.list(name, include_archived=include_archived)],
             output, _COLUMNS)


@app.command("archive")
def archive(name: str = typer.Option(..., "--name", "-n"),
            version: str = typer.Option(..., "--version", "-v"),
            output: str = OutputOpt) -> None:
    with client() as c:
        emit(plain(c.components.archive(name, version)), output)


@app.command("restore")
def restore(name: str = typer.Option(..., "--name", "-n"),
            version: str = typer.Option(..., "--version", "-v"),
            output: str = OutputOpt) -> None:
    with client() as c:
        emit(plain(c.components.restore(name, version)), output)
