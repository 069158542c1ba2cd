from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from ember.cli.common import DeploymentNameOpt, NoWaitOpt, client, plain
from ember.cli.output import OutputOpt, emit
from ember.entities.batch_endpoints import BatchEndpoint

app = typer.Typer(help="Batch endpoints (score files with a batch scoring job).",
                  no_args_is_help=True)

_COLUMNS = ["name", "default_deployment", "description"]
_JOB_COLUMNS = ["name", "status", "display_name", "creation_time"]


@app.command("create")
def create(file: Path = typer.Option(None, "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           set_: list[str] = typer.Option([], "--set"),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    from ember.errors import InvalidInputError
    from ember.specs.batch_endpoints import load_batch_endpoint_spec

    if file:
        ep = load_batch_endpoint_spec(file, list(set_))
    elif name:
        ep = BatchEndpoint(name=name)
    else:
        raise InvalidInputError("give --file or --name")
    if name:
        ep.name = name
    with client() as c:
        emit(plain(c.batch_endpoints.create_or_update(ep)), output)


@app.command("update")
def update(name: str = typer.Option(None, "--name", "-n"),
           file: Path = typer.Option(None, "--file", "-f"),
           description: str = typer.Option(None, "--description", "-d"),
           set_: list[str] = typer.Option([], "--set", help="description=..., tags.<k>=..., "
                                          "defaults.deployment_name=..."),
           no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    """Change the endpoint's description, tags or default deployment (from -f and/or --set)."""
    from ember.errors import InvalidInputError
    from ember.specs.batch_endpoints import load_batch_endpoint_spec

    if file is None and not name:
        raise InvalidInputError("give --name or --file")
    with client() as c:
        if file is not None:
            ep = load_batch_endpoint_spec(file, list(set_))
            if name:
                ep.name = name
            c.batch_endpoints.get(ep.name)   # update: it must exist
        else:
            ep = _with_overrides(c.batch_endpoints.get(name), list(set_))
        if description is not None:
            ep.description = description
        emit(plain(c.batch_endpoints.create_or_update(ep)), output)


def _with_overrides(current: BatchEndpoint, set_: list[str]) -> BatchEndpoint:
    """The endpoint with ``--set`` applied to its YAML form (the keys its YAML has)."""
    from ember.errors import InvalidInputError
    from ember.specs.overrides import apply_overrides

    data: dict[str, Any] = {"description": current.description, "tags": dict(current.tags),
                            "defaults": {"deployment_name": current.default_deployment}}
    for item in set_:
        key = item.partition("=")[0].strip()
        if not (key in ("description", "defaults.deployment_name") or
                (key.startswith("tags.") and len(key) > 5)):
            raise InvalidInputError(f"--set {item}: a batch endpoint's description, tags.<k> "
                                    "and defaults.deployment_name can change; nothing else")
    apply_overrides(data, set_, f"batch endpoint {current.name}")
    return replace(current, description=str(data["description"] or ""),
                   tags={str(k): str(v) for k, v in data["tags"].items()},
                   default_deployment=str(data["defaults"]["deployment_name"] or ""))


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit(plain(c.batch_endpoints.get(name)), output)


@app.command("list")
def list_(output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(e) for e in c.batch_endpoints.list()], output, _COLUMNS)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y"), no_wait: bool = NoWaitOpt,
           output: str = OutputOpt) -> None:
    if not yes:
        typer.confirm(f"Delete batch endpoint {name!r} and its deployments?", abort=True)
    with client() as c:
        c.batch_endpoints.begin_delete(name)
    emit({"name": name, "deleted": True}, output)


@app.command("invoke")
def invoke(name: str = typer.Option(..., "--name", "-n"),
           input_: str = typer.Option(..., "--input", "-i",
                                      help="local file/folder, azureml:data:1 or a URI"),
           input_type: str = typer.Option(None, "--input-type"),
           deployment_name: str = DeploymentNameOpt,
           mini_batch_size: int = typer.Option(None, "--mini-batch-size"),
           output_path: str = typer.Option(None, "--output-path"),
           stream: bool = typer.Option(False, "--stream", "-s",
                                       help="follow the job's log until it ends"),
           output: str = OutputOpt) -> None:
    """Start a batch scoring job; its `score` output holds predictions.csv."""
    with client() as c:
        job = c.batch_endpoints.invoke(name, input=input_, input_type=input_type,
                                       deployment_name=deployment_name,
                                       mini_batch_size=mini_batch_size, output_path=output_path)
        if stream:
            c.jobs.stream(job.name)
            job = c.jobs.get(job.name)
            if job.status != "Completed":
                emit(plain(job), output)
                raise typer.Exit(1)
        emit(plain(job), output)


@app.command("list-jobs")
def list_jobs(name: str = typer.Option(..., "--name", "-n"),
              deployment_name: str = DeploymentNameOpt,
              output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(j) for j in c.batch_endpoints.list_jobs(name, deployment_name)], output,
             _JOB_COLUMNS)
