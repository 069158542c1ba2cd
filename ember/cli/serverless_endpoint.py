"""``ember serverless-endpoint``: a language model behind keys and an OpenAI-compatible URL
(``az ml serverless-endpoint``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Serverless endpoints (a catalog or workspace language model behind "
                       "keys, with OpenAI's API at <scoring_uri>/v1).", no_args_is_help=True)

_COLUMNS = ["name", "model_id", "provisioning_state", "scoring_uri"]


def _keys(primary: str, secondary: str) -> dict[str, str]:
    return {"primaryKey": primary, "secondaryKey": secondary}   # az's names


@app.command("create")
def create(file: Path = typer.Option(..., "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Create an endpoint from YAML (name, model_id); waits until its model answers unless
    --no-wait."""
    from ember.specs.serverless_endpoints import load_serverless_endpoint_spec

    ep = load_serverless_endpoint_spec(file, list(set_))
    if name:
        ep.name = name
    with client() as c:
        poller = c.serverless_endpoints.begin_create_or_update(ep)
        emit(plain(c.serverless_endpoints.get(ep.name) if no_wait else poller.result()),
             output)


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    """The endpoint, with its usage per key (requests, prompt and completion tokens)."""
    with client() as c:
        emit(plain(c.serverless_endpoints.get(name)), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(e) for e in c.serverless_endpoints.list()], output, _COLUMNS)


@app.command("update")
def update(name: str = typer.Option(None, "--name", "-n"),
           file: Path = typer.Option(None, "--file", "-f"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Change the description, tags, properties or rate_limits (from --file, or --set on the
    endpoint as it is, e.g. --set rate_limits.requests_per_minute=60)."""
    from ember.errors import InvalidInputError
    from ember.specs.serverless_endpoints import (load_serverless_endpoint_spec,
                                                  overridden_serverless_endpoint)

    with client() as c:
        if file:
            new = load_serverless_endpoint_spec(file, list(set_))
            if name:
                new.name = name
        elif name:
            new = overridden_serverless_endpoint(c.serverless_endpoints.get(name), list(set_))
        else:
            raise InvalidInputError("give --name or --file")
        emit(plain(c.serverless_endpoints.begin_create_or_update(new).result()), output)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y"),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Delete the endpoint (its model stops; its keys stop working)."""
    if not yes:
        typer.confirm(f"Delete serverless endpoint {name!r}?", abort=True)
    with client() as c:
        c.serverless_endpoints.begin_delete(name).result()
    emit({"name": name, "deleted": True}, output)


@app.command("get-credentials")
def get_credentials(name: str = typer.Option(..., "--name", "-n"),
                    output: str = OutputOpt) -> None:
    """The endpoint's keys (primaryKey, secondaryKey)."""
    with client() as c:
        keys = c.serverless_endpoints.get_keys(name)
    emit(_keys(keys.primary_key, keys.secondary_key), output)


@app.command("regenerate-keys")
def regenerate_keys(name: str = typer.Option(..., "--name", "-n"),
                    key_type: str = typer.Option("primary", "--key-type",
                                                 help="primary or secondary"),
                    no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Replace the primary or secondary key (the other keeps working); prints both keys."""
    with client() as c:
        keys = c.serverless_endpoints.begin_regenerate_keys(name, key_type=key_type).result()
    emit(_keys(keys.primary_key, keys.secondary_key), output)
