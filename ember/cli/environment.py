from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Environments.", no_args_is_help=True)


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           version: str = typer.Option(None, "--version", "-v"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    from ember.specs.environments import load_environment_spec

    env = load_environment_spec(file, list(set_))
    if name:
        env.name = name
    if version:
        env.version = version
    with client() as c:
        emit(plain(c.environments.create_or_update(env)), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"),
         version: str = typer.Option(None, "--version", "-v"),
         output: str = OutputOpt) -> None:
    with client() as c:
        emit(plain(c.environments.get(name, version)), output)


@app.command("list")
def list_(name: str = typer.Option(None, "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(e) for e in c.environments.list(name)], output,
             ["name", "version", "image", "description"])
