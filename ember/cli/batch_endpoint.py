from __future__ import annotations

from pathlib import Path

import typer

from ember.cli.common import client, plain
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Batch endpoints (score files with a batch scoring job).",
                  no_args_is_help=True)

_COLUMNS = ["name", "default_deployment", "description"]
_JOB_COLUMNS = ["name", "status", "display_name", "creation_time"]


@app.command("create")
def create(file: Path = typer.Option(None, "--file", "-f"),
           name: str = typer.Option(None, "--name", "-n"),
           set_: list[str] = typer.Option([], "--set"),
           output: str = OutputOpt) -> None:
    from ember.entities.batch_endpoints import BatchEndpoint
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
           yes: bool = typer.Option(False, "--yes", "-y"), output: str = OutputOpt) -> None:
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
           deployment_name: str = typer.Option(None, "--deployment-name", "-d"),
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
              deployment_name: str = typer.Option(None, "--deployment-name", "-d"),
              output: str = OutputOpt) -> None:
    with client() as c:
        emit([plain(j) for j in c.batch_endpoints.list_jobs(name, deployment_name)], output,
             _JOB_COLUMNS)
