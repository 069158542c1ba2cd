from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Components.", no_args_is_help=True)

_COLUMNS = ["name", "version", "display_name", "type", "archived", "description"]
_REGISTRY_COLUMNS = ["name", "version", "display_name", "type", "description"]
RegistryNameOpt = typer.Option(
    None, "--registry-name", help="A registry instead of the workspace: 'azureml' holds Ember's "
    "built-in fine-tuning and evaluation components (read-only).")


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
         label: str = typer.Option(None, "--label", "-l", help="'latest'"),
         registry_name: str = RegistryNameOpt,
         output: str = OutputOpt) -> None:
    with client(registry_name) as c:
        emit(plain(c.components.get(name, version, label=label)), output)


@app.command("list")
def list_(name: str = typer.Option(None, "--name", "-n"),
          include_archived: bool = typer.Option(False, "--include-archived"),
          registry_name: str = RegistryNameOpt,
          output: str = OutputOpt) -> None:
    with client(registry_name) as c:
        found = c.components.list(name, include_archived=include_archived)
        emit([plain(x) for x in found], output,
             _REGISTRY_COLUMNS if registry_name else _COLUMNS)


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
