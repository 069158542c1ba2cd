from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Data assets.", no_args_is_help=True)


@app.command("create")
def create(file: Path = typer.Option(None, "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           version: str = typer.Option(None, "--version", "-v"),
           path: str = typer.Option(None, "--path", "-p"),
           type_: str = typer.Option(None, "--type", "-t"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Create a data asset version from YAML and/or flags (local paths are uploaded)."""
    from ember.entities.data import DataAsset
    from ember.errors import InvalidInputError
    from ember.specs.data import load_data_spec

    if file:
        asset = load_data_spec(file, list(set_))
    else:
        if not name or not path:
            raise InvalidInputError("give --file, or --name and --path")
        local = Path(path)
        asset = DataAsset(name=name, version="", path=str(local.resolve()) if local.exists()
                          else path, type=type_ or ("uri_file" if local.is_file()
                                                    else "uri_folder"))
    if name:
        asset.name = name
    if version:
        asset.version = version
    if path and file:
        asset.path = path
    if type_:
        asset.type = type_
    with client() as c:
        emit(plain(c.data.create_or_update(asset)), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"),
         version: str = typer.Option(None, "--version", "-v"),
         output: str = OutputOpt) -> None:
    """A data asset version, with the job that produced it (lineage), when one did."""
    with client() as c:
        asset = c.data.get(name, version)
        shown = plain(asset)
        shown["produced_by"] = c.jobs.producer_of(asset.path) if asset.path else None
        emit(shown, output)


@app.command("list")
def list_(name: str = typer.Option(None, "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(d) for d in c.data.list(name)], output,
             ["name", "version", "type", "path"])
