from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Deployments of online endpoints.", no_args_is_help=True)

_COLUMNS = ["name", "endpoint_name", "model", "instance_count", "provisioning_state"]


def _apply(file: Path, name: str | None, endpoint: str | None, set_: list[str],
           instance_count: int | None) -> object:
    from ember.specs.online_endpoints import load_online_deployment_spec

    d = load_online_deployment_spec(file, set_)
    if name:
        d.name = name
    if endpoint:
        d.endpoint_name = endpoint
    if instance_count:
        d.instance_count = instance_count
    return d


def _roll(file: Path, name: str | None, endpoint: str | None, set_: list[str],
          instance_count: int | None, all_traffic: bool, no_wait: bool, output: str,
          must_exist: bool) -> None:
    from ember.entities.online_endpoints import OnlineDeployment

    d = _apply(file, name, endpoint, set_, instance_count)
    assert isinstance(d, OnlineDeployment)
    with client() as c:
        if must_exist:
            c.online_deployments.get(d.name, d.endpoint_name)   # update: it must exist
        poller = c.online_deployments.begin_create_or_update(d, all_traffic=all_traffic)
        if no_wait:
            emit(plain(c.online_deployments.get(d.name, d.endpoint_name)), output)
            return
        if output == "table":
            typer.echo(f"Rolling out {d.endpoint_name}/{d.name} "
                       f"({d.instance_count} instance(s))...", err=True)
        emit(plain(poller.result()), output)


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           endpoint_name: str = typer.Option(None, "--endpoint-name", "-e"),
           all_traffic: bool = typer.Option(False, "--all-traffic",
                                            help="send 100% of traffic here once ready"),
           no_wait: bool = typer.Option(False, "--no-wait"),
           set_: list[str] = typer.Option([], "--set"),
           output: str = OutputOpt) -> None:
    """Create a deployment and wait until its workers are ready."""
    _roll(file, name, endpoint_name, list(set_), None, all_traffic, no_wait, output, False)


@app.command("update")
def update(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           endpoint_name: str = typer.Option(None, "--endpoint-name", "-e"),
           instance_count: int = typer.Option(None, "--instance-count"),
           no_wait: bool = typer.Option(False, "--no-wait"),
           set_: list[str] = typer.Option([], "--set"),
           output: str = OutputOpt) -> None:
    """Replace the deployment's workers (new model, code, settings or instance count)
    without dropping requests: new workers start, traffic moves, old ones drain."""
    _roll(file, name, endpoint_name, list(set_), instance_count, False, no_wait, output, True)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"),
         endpoint_name: str = typer.Option(..., "--endpoint-name", "-e"),
         output: str = OutputOpt) -> None:
    with client() as c:
        shown = plain(c.online_deployments.get(name, endpoint_name))
        shown["instances"] = c.online_deployments.instances(name, endpoint_name)
        emit(shown, output)


@app.command("list")
def list_(endpoint_name: str = typer.Option(..., "--endpoint-name", "-e"),
          output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(d) for d in c.online_deployments.list(endpoint_name)], output, _COLUMNS)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           endpoint_name: str = typer.Option(..., "--endpoint-name", "-e"),
           yes: bool = typer.Option(False, "--yes", "-y"),
           output: str = OutputOpt) -> None:
    if not yes:
        typer.confirm(f"Delete online deployment {endpoint_name}/{name}?", abort=True)
    with client() as c:
        c.online_deployments.begin_delete(name, endpoint_name)
    emit({"name": name, "endpoint_name": endpoint_name, "deleted": True}, output)


@app.command("get-logs")
def get_logs(name: str = typer.Option(..., "--name", "-n"),
             endpoint_name: str = typer.Option(..., "--endpoint-name", "-e"),
             lines: int = typer.Option(100, "--lines", "-l")) -> None:
    """The newest lines of each worker's log (what the scoring script printed or raised)."""
    with client() as c:
        typer.echo(c.online_deployments.get_logs(name, endpoint_name, lines))
