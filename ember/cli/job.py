from __future__ import annotations

import sys
from pathlib import Path

import typer

from ember.cli.common import NoWaitOpt, client, load_spec_with_notices, plain
from ember.cli.output import OutputOpt, emit, query_given
from ember.entities.jobs import Job, JobStatus

app = typer.Typer(help="Submit and manage jobs.", no_args_is_help=True)

JOB_COLUMNS = ["name", "display_name", "status", "experiment_name", "type", "creation_time"]


def _summary(job: Job) -> dict[str, object]:
    d = plain(job)
    d.pop("definition", None)
    d["mlflow_run_id"] = job.name
    return d


STEP_COLUMNS = ["step", "status", "job", "depends_on", "reused_from"]


def _exit_for(job: Job) -> None:
    if job.status in (JobStatus.FAILED, JobStatus.CANCELED):
        raise typer.Exit(1)


@app.command("create")
def create(
    file: Path = typer.Option(..., "--file", "-f", help="Job YAML (Azure ML v2)."),
    set_: list[str] = typer.Option([], "--set", help="Override a key: a.b=c (repeatable)."),
    name: str = typer.Option("", "--name", "-n", help="Job name (default: generated)."),
    stream: bool = typer.Option(False, "--stream", help="Follow the logs until the job ends."),
    experiment_name: str = typer.Option("", "--experiment-name", "-e"),
    no_wait: bool = NoWaitOpt,
    output: str = OutputOpt,
) -> None:
    """Create a job from a YAML file (it returns once the job is queued, unless --stream)."""
    from ember.specs.any_job import load_any_job_spec

    job = load_spec_with_notices(lambda: load_any_job_spec(file, list(set_)))
    if name:
        job.name = name
    with client() as c:
        created = c.jobs.create_or_update(job, experiment_name=experiment_name or None)
        if stream and not no_wait:
            typer.echo(f"Job {created.name} created; streaming its logs.", err=True)
            final = c.jobs.stream(created.name)
            _exit_for(final)
            return
        emit(_summary(created), output)


TRIAL_COLUMNS = ["trial", "status", "job", "parameters", "objective"]


@app.command("show")
def show(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    """A job; for a pipeline also its step graph (each step's status, upstream steps, reuse)
    and the metrics its steps logged, side by side."""
    from ember.client.job_metrics import metrics_table, step_metrics

    with client() as c:
        job = c.jobs.get(name)
        summary = _summary(job)
        steps = c.jobs.steps(name) if job.type == "pipeline" else None
        metrics = step_metrics(c, name) if job.type == "pipeline" else {}
        trials = c.jobs.trials(name) if job.type == "sweep" else None
        lineage = c.jobs.lineage(name)
    if output.lower() != "table" or query_given():
        summary["lineage"] = lineage
        if steps is not None:
            summary["steps"] = steps
            summary["step_metrics"] = metrics
        if trials is not None:
            summary["trials"] = trials
        emit(summary, output)
        return
    emit(summary, output)
    produced = [{"output": o, "produced_by": d.get("produced_by"), "path": d.get("path")}
                for o, d in (lineage.get("outputs") or {}).items()]
    if produced:
        typer.echo("\nOutputs:")
        emit(produced, output, ["output", "produced_by", "path"])
    if steps is not None:
        typer.echo("\nSteps:")
        emit([{**row, "depends_on": ", ".join(row["depends_on"])} for row in steps], output,
             STEP_COLUMNS)
    if metrics:
        typer.echo("\nMetrics:")
        rows, columns = metrics_table(metrics)
        emit(rows, output, columns)
    if trials is not None:
        typer.echo("\nTrials:")
        emit(trials, output, TRIAL_COLUMNS)


@app.command("list")
def list_(parent_job_name: str = typer.Option(None, "--parent-job-name", "-p"),
          max_results: int = typer.Option(100, "--max-results", "-r"),
          include_archived: bool = typer.Option(False, "--include-archived",
                                                help="List archived jobs too."),
          archived_only: bool = typer.Option(False, "--archived-only",
                                             help="List archived jobs only."),
          status: list[str] = typer.Option([], "--status", help="Only jobs in this status "
                                           "(repeatable: any of them)."),
          experiment_name: list[str] = typer.Option([], "--experiment-name",
                                                    help="Only this experiment's (repeatable)."),
          job_type: list[str] = typer.Option([], "--type", help="command, pipeline, sweep, "
                                             "finetuning (repeatable)."),
          tag: list[str] = typer.Option([], "--tag", help="key or key=value (repeatable: "
                                        "all of them)."),
          submitter: list[str] = typer.Option([], "--submitter",
                                              help="Only this user's jobs (repeatable)."),
          search: str = typer.Option(None, "--search", help="A substring of the name, display "
                                     "name, experiment or description."),
          order_by: str = typer.Option(None, "--order-by", help="'<key> [asc|desc]': "
                                       "creation_time, name, display_name, status, type, "
                                       "experiment_name, duration, submitter."),
          output: str = OutputOpt) -> None:
    """Jobs, newest first; archived ones only when asked for."""
    tags = {k: (v if sep else None) for k, sep, v in (t.partition("=") for t in tag)}
    with client() as c:
        jobs = c.jobs.list(parent_job_name=parent_job_name, max_results=max_results,
                           include_archived=include_archived, archived_only=archived_only,
                           status=status or None, experiment_name=experiment_name or None,
                           type=job_type or None, tags=tags or None,
                           submitter=submitter or None, search=search, order_by=order_by)
        emit([_summary(j) for j in jobs], output, JOB_COLUMNS)


@app.command("update")
def update(name: str = typer.Option(..., "--name", "-n"),
           set_: list[str] = typer.Option([], "--set", help="display_name=..., "
                                          "description=..., tags.<k>=... (repeatable)"),
           remove: list[str] = typer.Option([], "--remove", help="tags.<k> (repeatable)"),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Change a job's display name, description or tags (a running job's too)."""
    from ember.client.jobs import changes_from_set

    with client() as c:
        changes = changes_from_set(list(set_), c.jobs.get(name).tags, remove=list(remove))
        emit(_summary(c.jobs.update(name, **changes)), output)


@app.command("archive")
def archive(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    """Hide a job (with its children) from `job list`; `job show` still finds it."""
    with client() as c:
        emit(_summary(c.jobs.archive(name)), output)


@app.command("restore")
def restore(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    """List an archived job again."""
    with client() as c:
        emit(_summary(c.jobs.restore(name)), output)


@app.command("delete")
def delete(name: str = typer.Option(..., "--name", "-n"),
           yes: bool = typer.Option(False, "--yes", "-y", help="Don't ask for confirmation."),
           no_wait: bool = NoWaitOpt, output: str = OutputOpt) -> None:
    """Delete an ended job (a pipeline or sweep with its children; not in az: Azure keeps
    jobs). Its MLflow run is marked deleted; its files stay."""
    if not yes:
        typer.confirm(f"Delete job {name!r} (and its child jobs)? This cannot be undone",
                      abort=True)
    with client() as c:
        emit({"name": name, "deleted": c.jobs.delete(name)}, output)


@app.command("stream")
def stream(name: str = typer.Option(..., "--name", "-n")) -> None:
    """Follow a job's logs to the end; exits 1 when it ends Failed or Canceled."""
    with client() as c:
        _exit_for(c.jobs.stream(name))


@app.command("cancel")
def cancel(name: str = typer.Option(..., "--name", "-n"), output: str = OutputOpt) -> None:
    with client() as c:
        emit(_summary(c.jobs.begin_cancel(name)), output)


@app.command("download")
def download(name: str = typer.Option(..., "--name", "-n"),
             output_name: str = typer.Option(None, "--output-name"),
             all_: bool = typer.Option(False, "--all", help="Default artifacts and every output."),
             download_path: Path = typer.Option(Path("."), "--download-path", "-p"),
             output: str = OutputOpt) -> None:
    """Download outputs: named ones to named-outputs/<o>/, default artifacts to artifacts/."""
    with client() as c:
        files = c.jobs.download(name, download_path, output_name=output_name, all=all_,
                                show_progress=sys.stderr.isatty())
    emit({"downloaded": len(files), "download_path": str(download_path)}, output)
