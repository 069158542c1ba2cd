from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import (DeploymentNameOpt, LocalOpt, NoWaitOpt, client, local_notice,
                              plain)
from ember.cli.output import OutputOpt, emit, query_given

app = typer.Typer(help="Online endpoints (scoring URIs with keys and a traffic split).",
                  no_args_is_help=True)

_COLUMNS = ["name", "auth_mode", "traffic", "mirror_traffic", "scoring_uri"]


def parse_split(text: str, flag: str) -> dict[str, int]:
    """``"blue=90 green=10"`` (spaces or commas) → {"blue": 90, "green": 10}."""
    from ember.errors import InvalidInputError

    out: dict[str, int] = {}
    for item in text.replace(",", " ").split():
        name, sep, pct = item.partition("=")
        if not sep or not name or not pct.strip().isdigit():
            raise InvalidInputError(f"{flag} {item!r}: expected <deployment>=<percent>, e.g. "
                                    f"{flag} \"blue=90 green=10\"")
        out[name] = int(pct)
    return out


@app.command("create")
def create(file: Path = typer.Option(None, "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           auth_mode: str = typer.Option(None, "--auth-mode"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt, local: bool = LocalOpt,
           output: str = OutputOpt) -> None:
    """Create an endpoint (no traffic yet: add deployments, then update --traffic)."""
    local_notice(local)
    from ember.entities.online_endpoints import OnlineEndpoint
    from ember.errors import InvalidInputError
    from ember.specs.online_endpoints import load_online_endpoint_spec

    if file:
        ep = load_online_endpoint_spec(file, list(set_))
    elif name:
        ep = OnlineEndpoint(name=name)
    else:
        raise InvalidInputError("give --file or --name")
    if name:
        ep.name = name
    if auth_mode:
        ep.auth_mode = auth_mode
    with client() as c:
        emit(plain(c.online_endpoints.create_or_update(ep)), output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), local: bool = LocalOpt,
         output: str = OutputOpt) -> None:
    local_notice(local)
    with client() as c:
        emit(plain(c.online_endpoints.get(name)), output)


@app.command("list")
def list_(local: bool = LocalOpt, output: str = OutputOpt) -> None:
    local_notice(local)
    with client() as c:
        emit([plain(e) for e in c.online_endpoints.list()], output, _COLUMNS)


@app.command("update")
def update(name: str = typer.Option(None, "--name", "-n"),
           file: Path = typer.Option(None, "--file", "-f"),
           traffic: str = typer.Option(None, "--traffic", help='e.g. "blue=90 green=10"'),
           mirror_traffic: str = typer.Option(None, "--mirror-traffic", help='"green=10"'),
           description: str = typer.Option(None, "--description", "-d"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt, local: bool = LocalOpt,
           output: str = OutputOpt) -> None:
    """Change the traffic split, mirror traffic, description or tags."""
    local_notice(local)
    from ember.errors import InvalidInputError
    from ember.specs.online_endpoints import load_online_endpoint_spec

    new = load_online_endpoint_spec(file, list(set_)) if file else None
    name = name or (new.name if new else "")
    if not name:
        raise InvalidInputError("give --name or --file")
    with client() as c:
        emit(plain(c.online_endpoints.update(
            name,
            description=description if description is not None else
            (new.description if new else None),
            tags=new.tags if new else None,
            traffic=parse_split(traffic, "--traffic") if traffic is not None else
            (new.traffic if new else None),
            mirror_traffic=parse_split(mirror_traffic, "--mirror-traffic")
            if mirror_traffic is not None else (new.mirror_traffic if new else None))), output)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y"),
           no_wait: bool = NoWaitOpt, local: bool = LocalOpt,
           output: str = OutputOpt) -> None:
    """Delete the endpoint and every deployment on it."""
    local_notice(local)
    if not yes:
        typer.confirm(f"Delete online endpoint {name!r} and its deployments?", abort=True)
    with client() as c:
        c.online_endpoints.begin_delete(name)
    emit({"name": name, "deleted": True}, output)


@app.command("invoke")
def invoke(name: str = typer.Option(..., "--name", "-n"),
           request_file: Path = typer.Option(..., "--request-file", "-r"),
           deployment_name: str = DeploymentNameOpt, local: bool = LocalOpt,
           output: str = OutputOpt) -> None:
    """Score one request through the endpoint's scoring URI (with its primary key);
    --deployment-name sends it to that deployment whatever the traffic split says."""
    import json

    local_notice(local)
    with client() as c:
        text = c.online_endpoints.invoke(name, request_file, deployment_name=deployment_name)
    try:
        emit(json.loads(text), "json" if output == "table" and not query_given() else output)
    except ValueError:
        typer.echo(text)


@app.command("get-credentials")
def get_credentials(name: str = typer.Option(..., "--name", "-n"), local: bool = LocalOpt,
                    output: str = OutputOpt) -> None:
    """The endpoint's keys, under az's names (primaryKey, secondaryKey)."""
    local_notice(local)
    with client() as c:
        keys = c.online_endpoints.get_keys(name)
    emit({"primaryKey": keys.primary_key, "secondaryKey": keys.secondary_key}, output)


@app.command("regenerate-keys")
def regenerate_keys(name: str = typer.Option(..., "--name", "-n"),
                    key_type: str = typer.Option("primary", "--key-type"),
                    no_wait: bool = NoWaitOpt, local: bool = LocalOpt,
                    output: str = OutputOpt) -> None:
    """Replace the primary or secondary key (the other keeps working)."""
    local_notice(local)
    with client() as c:
        c.online_endpoints.regenerate_keys(name, key_type)
    emit({"name": name, "regenerated": key_type}, output)


@app.command("metrics")
def metrics(name: str = typer.Option(..., "--name", "-n"), local: bool = LocalOpt,
            output: str = OutputOpt) -> None:
    """Requests, errors and latency percentiles per deployment."""
    local_notice(local)
    with client() as c:
        found = c.online_endpoints.get_metrics(name)
    rows = [{"deployment": d, **m} for d, m in sorted(found.items())]
    emit(rows if output == "table" and not query_given() else found, output,
         ["deployment", "request_count", "error_count", "latency_ms_p50", "latency_ms_p95",
          "latency_ms_p99"])
