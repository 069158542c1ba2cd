from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import (EndpointNameOpt, EndpointNameOptional, LocalOpt, NoWaitOpt, client,
                              local_notice, plain)
from ember.cli.output import OutputOpt, emit
from ember.entities.online_endpoints import OnlineDeployment
from ember.errors import EmberError

app = typer.Typer(help="Deployments of online endpoints.", no_args_is_help=True)

_COLUMNS = ["name", "endpoint_name", "model", "instance_count", "provisioning_state"]
# What `update --set` may change without -f: the deployment's own settings, not its identity
# nor what the server reports.
_FIXED = ("name", "endpoint_name", "provisioning_state", "error", "generation", "creation_time")


EnvironmentOpt = typer.Option(
    None, "--environment", help="the environment to run in, instead of the file's: "
    "azureml:<name>:<version>, azureml:<name>@latest or a curated one "
    "(azureml://registries/azureml/environments/<name>/labels/latest)")


def _from_file(file: Path, name: str | None, endpoint: str | None,
               set_: list[str]) -> OnlineDeployment:
    from ember.specs.online_endpoints import load_online_deployment_spec

    d = load_online_deployment_spec(file, set_)
    if name:
        d.name = name
    if endpoint:
        d.endpoint_name = endpoint
    return d


def _with_overrides(current: OnlineDeployment, set_: list[str]) -> OnlineDeployment:
    """``update --set k=v`` without ``-f``: the existing deployment with ``set_`` applied."""
    from ember.errors import InvalidInputError
    from ember.specs.overrides import apply_overrides

    data = current.to_dict()
    source = f"online deployment {current.endpoint_name}/{current.name}"
    for item in set_:
        top = item.partition("=")[0].split(".")[0].strip()
        if top in _FIXED or top not in data:
            settable = sorted(k for k in data if k not in _FIXED)
            raise InvalidInputError(f"--set {item}: '{top}' is not a setting of an online "
                                    f"deployment that update can change; these are: "
                                    f"{', '.join(settable)}")
    apply_overrides(data, set_, source)
    try:
        changed = OnlineDeployment.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"--set: {exc}") from None
    if not isinstance(changed.instance_count, int) or changed.instance_count < 1:
        raise InvalidInputError(f"--set instance_count: must be an integer of 1 or more, not "
                                f"{changed.instance_count!r}")
    return changed


def _roll(d: OnlineDeployment, all_traffic: bool, no_wait: bool, output: str) -> None:
    with client() as c:
        poller = c.online_deployments.begin_create_or_update(d, all_traffic=all_traffic)
        if no_wait:
            emit(plain(c.online_deployments.get(d.name, d.endpoint_name)), output)
            return
        if output == "table":
            typer.echo(f"Rolling out {d.endpoint_name}/{d.name} "
                       f"({d.instance_count} instance(s))...", err=True)
        shown = 0

        def progress() -> None:
            # an environment build takes minutes: pass its output on as it comes
            nonlocal shown
            lines = build_lines(c.online_deployments.get_logs(d.name, d.endpoint_name,
                                                              lines=BUILD_TAIL))
            for line in lines[shown:] if len(lines) >= shown else lines:
                typer.echo(f"  {line}", err=True)
            shown = len(lines)

        while True:
            try:
                done = poller.result(timeout=2.0)
            except TimeoutError:
                progress()
                continue
            except EmberError:
                progress()
                raise
            break
        progress()
        emit(plain(done), output)


BUILD_TAIL = 2000
BUILD_HEADER = "--- environment build ---"


def build_lines(logs: str) -> list[str]:
    """The environment build section of a deployment's logs (see the server's get_logs)."""
    if BUILD_HEADER not in logs:
        return []
    section = logs.split(BUILD_HEADER + "\n", 1)[1]
    return [ln for ln in section.split("\n--- ", 1)[0].splitlines() if ln.strip()]


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           endpoint_name: str = EndpointNameOptional,
           all_traffic: bool = typer.Option(False, "--all-traffic",
                                            help="send 100% of traffic here once ready"),
           no_wait: bool = NoWaitOpt, local: bool = LocalOpt,
           set_: list[str] = typer.Option([], "--set"),
           environment: str = EnvironmentOpt,
           output: str = OutputOpt) -> None:
    """Create a deployment and wait until its workers are ready."""
    local_notice(local)
    d = _from_file(file, name, endpoint_name, list(set_))
    if environment:
        d.environment = environment
    _roll(d, all_traffic, no_wait, output)


@app.command("update")
def update(file: Path = typer.Option(None, "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           endpoint_name: str = EndpointNameOptional,
           instance_count: int = typer.Option(None, "--instance-count"),
           no_wait: bool = NoWaitOpt, local: bool = LocalOpt,
           set_: list[str] = typer.Option([], "--set", help="e.g. instance_count=2; without "
                                          "-f it changes the existing deployment"),
           environment: str = EnvironmentOpt,
           output: str = OutputOpt) -> None:
    """Replace the deployment's workers (new model, code, settings or instance count)
    without dropping requests: new workers start, traffic moves, old ones drain."""
    from ember.errors import InvalidInputError

    local_notice(local)
    if file is None and not (name and endpoint_name):
        raise InvalidInputError("give -f, or --name and --endpoint-name with --set k=v or "
                                "--instance-count to change the existing deployment")
    with client() as c:
        if file is not None:
            d = _from_file(file, name, endpoint_name, list(set_))
            c.online_deployments.get(d.name, d.endpoint_name)   # update: it must exist
        else:
            d = _with_overrides(c.online_deployments.get(name, endpoint_name), list(set_))
    if instance_count:
        d.instance_count = instance_count
    if environment:
        d.environment = environment
    _roll(d, False, no_wait, output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"),
         endpoint_name: str = EndpointNameOpt, local: bool = LocalOpt,
         output: str = OutputOpt) -> None:
    local_notice(local)
    with client() as c:
        shown = plain(c.online_deployments.get(name, endpoint_name))
        shown["instances"] = c.online_deployments.instances(name, endpoint_name)
        emit(shown, output)


@app.command("list")
def list_(endpoint_name: str = EndpointNameOpt, local: bool = LocalOpt,
          output: str = OutputOpt) -> None:
    local_notice(local)
    with client() as c:
        emit([plain(d) for d in c.online_deployments.list(endpoint_name)], output, _COLUMNS)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           endpoint_name: str = EndpointNameOpt,
           yes: bool = typer.Option(False, "--yes", "-y"),
           no_wait: bool = NoWaitOpt, local: bool = LocalOpt,
           output: str = OutputOpt) -> None:
    local_notice(local)
    if not yes:
        typer.confirm(f"Delete online deployment {endpoint_name}/{name}?", abort=True)
    with client() as c:
        c.online_deployments.begin_delete(name, endpoint_name)
    emit({"name": name, "endpoint_name": endpoint_name, "deleted": True}, output)


@app.command("get-logs")
def get_logs(name: str = typer.Option(..., "--name", "-n"),
             endpoint_name: str = EndpointNameOpt,
             lines: int = typer.Option(100, "--lines", "-l"),
             local: bool = LocalOpt) -> None:
    """The newest lines of each worker's log (what the scoring script printed or raised)."""
    local_notice(local)
    with client() as c:
        typer.echo(c.online_deployments.get_logs(name, endpoint_name, lines))
