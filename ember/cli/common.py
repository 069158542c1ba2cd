"""What every command shares: the client, entity → plain dict for output, and the options
az users type on many commands (``--no-wait``, ``--local``, the name aliases)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import typer

from ember.client.mlclient import MLClient

T = TypeVar("T")

_options: dict[str, str | None] = {"endpoint": None, "workspace": None}


def configure(endpoint: str | None, workspace: str | None) -> None:
    _options["endpoint"] = endpoint
    _options["workspace"] = workspace


def endpoint() -> str | None:
    """The global ``--endpoint`` (or ``EMBER_ENDPOINT``); None: the embedded server."""
    return _options["endpoint"]


def client(registry_name: str | None = None, workspace: str | None = None) -> MLClient:
    """The SDK client of a command; ``workspace`` (a command's own ``--workspace``) wins over
    the global one."""
    return MLClient(endpoint=_options["endpoint"], workspace=workspace or _options["workspace"],
                    registry_name=registry_name)


def plain(entity: Any) -> dict[str, Any]:
    return asdict(entity) if hasattr(entity, "__dataclass_fields__") else dict(entity)


# az spells these both ways on different commands; Ember takes both everywhere.
EndpointNameOpt = typer.Option(..., "--endpoint-name", "--endpoint", "-e")
EndpointNameOptional = typer.Option(None, "--endpoint-name", "--endpoint", "-e")
DeploymentNameOpt = typer.Option(None, "--deployment-name", "--deployment", "-d")
NoWaitOpt = typer.Option(False, "--no-wait",
                         help="Return once the request is accepted (as az); don't wait.")
RegistryNameOpt = typer.Option(
    None, "--registry-name", help="A registry instead of the workspace: 'azureml' is the "
    "built-in, read-only model catalog; another name, a registry of 'ember registry list'.")
LocalOpt = typer.Option(False, "--local", help="Accepted for az users: Ember is local already.")


def local_notice(local: bool) -> None:
    """``--local`` deploys to a local Docker in az; Ember's endpoints are local processes."""
    if local:
        typer.echo("Notice: --local is not needed: Ember runs every endpoint on this machine; "
                   "continuing as usual.", err=True)


def load_spec_with_notices(load: Callable[[], T]) -> T:
    """Run a spec loader; print each :class:`~ember.specs.jobs.SpecNotice` it issued to stderr
    as one ``Notice:`` line (other warnings go on as they were)."""
    from ember.specs.jobs import SpecNotice

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load()
    for w in caught:
        if issubclass(w.category, SpecNotice):
            typer.echo(f"Notice: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return loaded
