from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import EndpointNameOpt, EndpointNameOptional, NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Model deployments of batch endpoints.", no_args_is_help=True)

_COLUMNS = ["name", "endpoint_name", "model", "instance_count"]


def _put(file: Path, name: str | None, endpoint: str | None, set_: list[str],
         set_default: bool, output: str, must_exist: bool) -> None:
    from ember.specs.batch_endpoints import load_batch_deployment_spec

    d = load_batch_deployment_spec(file, set_)
    if name:
        d.name = name
    if endpoint:
        d.endpoint_name = endpoint
    with client() as c:
        if must_exist:
            c.batch_deployments.get(d.name, d.endpoint_name)
        emit(plain(c.batch_deployments.create_or_update(d, set_default=set_default)), output)


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           endpoint_name: str = EndpointNameOptional,
           set_default: bool = typer.Option(False, "--set-default"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Create a deployment (the endpoint's default when it is the first, or --set-default)."""
    _put(file, name, endpoint_name, list(set_), set_default, output, False)


@app.command("update")
def update(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           endpoint_name: str = EndpointNameOptional,
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    _put(file, name, endpoint_name, list(set_), False, output, True)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"),
         endpoint_name: str = EndpointNameOpt,
         output: str = OutputOpt) -> None:
    with client() as c:
        emit(plain(c.batch_deployments.get(name, endpoint_name)), output)


@app.command("list")
def list_(endpoint_name: str = EndpointNameOpt,
          output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(d) for d in c.batch_deployments.list(endpoint_name)], output, _COLUMNS)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           endpoint_name: str = EndpointNameOpt,
           yes: bool = typer.Option(False, "--yes", "-y"), no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    if not yes:
        typer.confirm(f"Delete batch deployment {endpoint_name}/{name}?", abort=True)
    with client() as c:
        c.batch_deployments.begin_delete(name, endpoint_name)
    emit({"name": name, "endpoint_name": endpoint_name, "deleted": True}, output)
