"""``client.jobs``: create_or_update, get, list, stream, begin_cancel, download, update,
archive, restore, delete."""

from __future__ import annotations

import builtins

import codecs
import os
import sys
import time
import urllib.parse
from dataclasses import replace
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import IO, Any

from ember.artifacts.paths import safe_relpath
from ember.artifacts.uris import is_remote_uri
from ember.client.convert import job_from_json, job_to_json
from ember.client.http import Http
from ember.client.uploads import progress, upload
from ember.entities.finetuning import (FINETUNING_TYPE, REGISTERED_PROPERTY, FineTuningJob,
                                       training_job_name)
from ember.entities.jobs import Job, JobStatus
from ember.entities.pipelines import PipelineJob
from ember.entities.sweeps import SweepJob
from ember.errors import InvalidInputError, NotFoundError

STREAM_POLL_SECONDS = 0.25
STREAM_WAIT_SECONDS = 5.0


def job_with_url(http: Http, body: dict[str, Any]) -> Job:
    """The job of a response body, its ``studio_url`` set: the job's page in the studio
    (see :class:`~ember.entities.jobs.Job`)."""
    job = job_from_json(body)
    job.studio_url = (f"{http.base_url}/ws/{urllib.parse.quote(http.workspace, safe='')}"
                      f"/jobs/{urllib.parse.quote(job.name, safe='')}")
    return job


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def changes_from_set(pairs: builtins.list[str], current_tags: dict[str, str], *,
                     flag: str = "--set", remove: Sequence[str] = ()) -> dict[str, Any]:
    """``display_name=..``, ``description=..``, ``tags.<k>=..`` pairs (az's ``--set`` and
    promptflow's ``run update --set``) as :meth:`JobOperations.update` arguments; a tag set
    or removed (``remove``: ``tags.<k>``) changes that key, the others stay."""
    changes: dict[str, Any] = {}
    tags = dict(current_tags)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(f"{flag} {pair!r}: write key=value")
        if key in ("display_name", "description"):
            changes[key] = value
        elif key.startswith("tags.") and len(key) > 5:
            tags[key[5:]] = value
        else:
            raise InvalidInputError(f"{flag} {key}: unknown key; only display_name, "
                                    "description and tags.<key> can be updated")
    for key in remove:
        if not key.startswith("tags.") or len(key) <= 5:
            raise InvalidInputError(f"--remove {key}: only tags.<key> can be removed")
        tags.pop(key[5:], None)
    if tags != current_tags:
        changes["tags"] = tags
    return changes


class JobOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def create_or_update(self, job: Job | PipelineJob | SweepJob | FineTuningJob, *,
                         experiment_name: str | None = None,
                         show_progress: bool | None = None) -> Job:
        """Upload the job's local code and inputs, then submit it. Returns the Queued job.

        A :class:`~ember.entities.pipelines.PipelineJob` (YAML ``type: pipeline`` or
        ``@pipeline``) is submitted whole; its steps become child jobs. A
        :class:`~ember.entities.finetuning.FineTuningJob` is recorded as a job of type
        ``finetuning`` whose training runs as its child."""
        return self._submit(self.submission_body(job, experiment_name=experiment_name,
                                                 show_progress=show_progress))

    def submission_body(self, job: Job | PipelineJob | SweepJob | FineTuningJob, *,
                        experiment_name: str | None = None,
                        show_progress: bool | None = None) -> dict[str, Any]:
        """What ``POST /jobs`` takes for ``job``, its local code and inputs uploaded (a
        schedule's ``create_job`` is sent in this form)."""
        # Each kind's machinery is imported for that kind: a command job's (or a flow run's)
        # CLI start-up carries none of the pipeline, sweep or fine-tuning modules.
        if isinstance(job, PipelineJob):
            from ember.client.pipelines import pipeline_body

            pipeline = replace(job, experiment_name=experiment_name or job.experiment_name
                               or Path.cwd().name or "Default")
            body = pipeline_body(self._http, pipeline, show_progress)
            return body
        if isinstance(job, SweepJob):
            from ember.client.pipelines import sweep_body

            sweep = replace(job, experiment_name=experiment_name or job.experiment_name
                            or Path.cwd().name or "Default")
            body = sweep_body(self._http, sweep, show_progress)
            return body
        if isinstance(job, FineTuningJob):
            from ember.client.finetuning import finetuning_body

            ft = replace(job, experiment_name=experiment_name or job.experiment_name
                         or Path.cwd().name or "Default")
            return finetuning_body(self._http, ft, show_progress)
        job = replace(job, inputs=dict(job.inputs))
        if experiment_name:
            job.experiment_name = experiment_name
        job.experiment_name = job.experiment_name or Path.cwd().name or "Default"
        if job.code and not job.code.startswith("codes/"):
            job.code = upload(self._http, "code", Path(job.code), "code", show_progress)
        for name, inp in job.inputs.items():
            if inp.is_literal or not inp.path or inp.path.startswith("azureml:"):
                continue
            if not is_remote_uri(inp.path):
                uri = upload(self._http, "data", Path(inp.path), f"input {name!r}",
                             show_progress)
                job.inputs[name] = replace(inp, path=uri)
        body = job_to_json(job)
        body["is_deterministic"] = job.is_deterministic
        return body

    def _submit(self, body: dict[str, Any]) -> Job:
        return job_with_url(self._http, self._http.json("POST", self._http.ws("/jobs"), json=body))

    def get(self, name: str) -> Job:
        return job_with_url(self._http, self._http.json("GET", self._http.ws(f"/jobs/{name}")))

    def list(self, *, parent_job_name: str | None = None, max_results: int = 100,
             include_archived: bool = False, archived_only: bool = False,
             status: str | Sequence[str] | None = None,
             experiment_name: str | Sequence[str] | None = None,
             type: str | Sequence[str] | None = None,
             tags: Mapping[str, str | None] | None = None,
             submitter: str | Sequence[str] | None = None,
             created_after: float | str | None = None,
             created_before: float | str | None = None, search: str | None = None,
             top_level_only: bool = False, order_by: str | None = None,
             skip: int = 0) -> list[Job]:
        """Newest first. Archived jobs are left out unless ``include_archived`` (all jobs) or
        ``archived_only`` (az's ``--include-archived`` / ``--archived-only``; azure-ai-ml's
        ``list_view_type``); a parent's children are all listed.

        Filters (a sequence: any of its values): ``status``, ``experiment_name``, ``type``,
        ``submitter``; ``tags`` ({key: value}, value None for "has the tag"; all of them);
        ``created_after`` / ``created_before`` (epoch seconds or ISO 8601); ``search`` (a
        substring of the name, display name, experiment or description); ``top_level_only``
        (no pipeline steps or sweep trials). ``order_by``: ``"<key> [asc|desc]"``, key one of
        creation_time, name, display_name, status, type, experiment_name, duration,
        submitter. ``skip``: the jobs before the page."""
        params: list[tuple[str, str | int]] = [("max_results", max_results)]
        if parent_job_name:
            params.append(("parent_job_name", parent_job_name))
        if include_archived:
            params.append(("include_archived", "true"))
        if archived_only:
            params.append(("archived_only", "true"))
        for key, value in (("status", status), ("experiment_name", experiment_name),
                           ("type", type), ("submitter", submitter)):
            params += [(key, v) for v in ([value] if isinstance(value, str) else value or [])]
        params += [("tag", k if v is None else f"{k}={v}") for k, v in (tags or {}).items()]
        for key, single in (("created_after", created_after), ("created_before", created_before),
                            ("search", search), ("order_by", order_by)):
            if single is not None:
                params.append((key, str(single)))
        if top_level_only:
            params.append(("top_level_only", "true"))
        if skip:
            params.append(("skip", skip))
        return [job_with_url(self._http, j) for j in
                self._http.json("GET", self._http.ws("/jobs"), params=params)]

    def update(self, name: str | Job, *, display_name: str | None = None,
               description: str | None = None, tags: dict[str, str] | None = None) -> Job:
        """Change a job's display name, description or tags (those given; ``tags`` replaces
        the job's tags: read them with :meth:`get` to change one). Given a :class:`Job`
        (azure-ai-ml changes these by sending the job back), its three fields are sent.
        Works on running and ended jobs; the job's MLflow run name and tags follow."""
        if isinstance(name, Job):
            job = name
            name = job.name
            display_name = job.display_name if display_name is None else display_name
            description = job.description if description is None else description
            tags = dict(job.tags) if tags is None else tags
        body: dict[str, Any] = {k: v for k, v in (("display_name", display_name),
                                                  ("description", description),
                                                  ("tags", tags)) if v is not None}
        return job_with_url(self._http, self._http.json(
            "PATCH", self._http.ws(f"/jobs/{_quoted(name)}"), json=body))

    def archive(self, name: str) -> Job:
        """Hide the job (and its children) from :meth:`list`; ``get`` still finds it."""
        return job_with_url(self._http, self._http.json(
            "POST", self._http.ws(f"/jobs/{_quoted(name)}/archive")))

    def restore(self, name: str) -> Job:
        """Undo :meth:`archive`."""
        return job_with_url(self._http, self._http.json(
            "POST", self._http.ws(f"/jobs/{_quoted(name)}/restore")))

    def delete(self, name: str) -> builtins.list[str]:
        """Delete an ended job (a pipeline or sweep with its children); returns the names
        deleted. Not in azure-ai-ml (Azure keeps every job); promptflow deletes runs. Its
        MLflow run is marked deleted and its files stay. ConflictError while it runs."""
        body = self._http.json("DELETE", self._http.ws(f"/jobs/{_quoted(name)}"))
        return list(body["deleted"])

    def steps(self, name: str) -> builtins.list[dict[str, Any]]:
        """A pipeline's steps in definition order: ``step``, ``status`` (``NotStarted`` before
        it runs), ``job``, ``depends_on``, ``reused_from``, ``component``."""
        return self._http.json("GET", self._http.ws(f"/jobs/{name}/steps"))  # type: ignore[no-any-return]

    def trials(self, name: str) -> builtins.list[dict[str, Any]]:
        """A sweep's trials: ``trial``, ``status``, ``job``, ``parameters``, ``objective``,
        ``best``."""
        return self._http.json("GET", self._http.ws(f"/jobs/{name}/trials"))  # type: ignore[no-any-return]

    def metrics(self, name: str, *, max_points: int = 1000,
                keys: builtins.list[str] | None = None) -> builtins.list[dict[str, Any]]:
        """Each metric of the job's run (or of ``keys``), downsampled on the server to at most
        ``max_points`` points keeping its shape: ``key``, ``total``, ``step``, ``timestamp``,
        ``value`` (lists of the same length; None for NaN)."""
        params: dict[str, Any] = {"max_points": max_points}
        if keys is not None:
            params["key"] = keys
        body = self._http.json("GET", self._http.ws(f"/jobs/{name}/metrics"), params=params)
        return body["metrics"]  # type: ignore[no-any-return]

    def lineage(self, name: str) -> dict[str, Any]:
        """Each output's producing job (itself, or the job it reused) and each data input's."""
        return self._http.json("GET", self._http.ws(f"/jobs/{name}/lineage"))  # type: ignore[no-any-return]

    def producer_of(self, uri: str) -> dict[str, Any] | None:
        """The job that produced ``uri`` and its inputs, or None."""
        body = self._http.json("GET", self._http.ws("/lineage"), params={"uri": uri})
        return body["produced_by"]  # type: ignore[no-any-return]

    def begin_cancel(self, name: str) -> Job:
        return job_with_url(self._http, self._http.json("POST",
                                                        self._http.ws(f"/jobs/{name}/cancel")))

    def stream(self, name: str, out: IO[str] | None = None) -> Job:
        """Follow the job's log to the end; returns the job in its final status."""
        out = out or sys.stdout
        out.write(f"RunId: {name}\n")
        out.flush()
        first = self.get(name)
        if first.type in ("pipeline", "sweep"):
            self._follow_children(first, out)
            return self._summary(name, out)
        if first.type == FINETUNING_TYPE:
            self._follow_training(first, out)
            return self._summary(name, out)
        self._follow_log(name, first.status, out)
        return self._summary(name, out)

    def _follow_log(self, name: str, status: str, out: IO[str]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        offset = 0
        while True:
            # A long poll: the server answers when the log grows or the status changes.
            started = time.monotonic()
            resp = self._http.request("GET", self._http.ws(f"/jobs/{name}/logs"),
                                      params={"offset": offset, "wait": STREAM_WAIT_SECONDS})
            chunk = resp.content
            size = int(resp.headers["X-Ember-Log-Size"])
            before, status = status, resp.headers["X-Ember-Job-Status"]
            if chunk:
                offset += len(chunk)
                out.write(decoder.decode(chunk))
                out.flush()
            if status in JobStatus.TERMINAL and offset >= size:
                out.write(decoder.decode(b"", final=True))
                break
            if not chunk and status == before and \
                    time.monotonic() - started < STREAM_POLL_SECONDS:
                time.sleep(STREAM_POLL_SECONDS)   # a server that does not wait: poll

    def _follow_training(self, job: Job, out: IO[str]) -> None:
        """A fine-tuning job: its training job's log, then its end (the registration of the
        result comes after the training job has ended)."""
        child = training_job_name(job.name)
        while True:
            try:
                self._follow_log(child, self.get(child).status, out)
                break
            except NotFoundError:   # not started yet, or the job ended before it could
                if self.get(job.name).status in JobStatus.TERMINAL:
                    return
                time.sleep(STREAM_POLL_SECONDS)
        while self.get(job.name).status not in JobStatus.TERMINAL:
            time.sleep(STREAM_POLL_SECONDS)

    def _follow_children(self, job: Job, out: IO[str]) -> None:
        """A pipeline's steps or a sweep's trials, one line per status change, to the end."""
        seen: dict[str, str] = {}
        while True:
            job = self.get(job.name)
            for child in sorted(self.list(parent_job_name=job.name, max_results=100_000),
                                key=lambda c: c.creation_time):
                if seen.get(child.name) == child.status:
                    continue
                seen[child.name] = child.status
                label = child.step_name or child.name
                extra = ""
                if child.reused_from:
                    extra = f" (reused {child.reused_from})"
                elif child.definition and "parameters" in child.definition:
                    extra = f" {child.definition['parameters']}"
                out.write(f"[{time.strftime('%H:%M:%S')}] {label}: {child.status}{extra}\n")
                out.flush()
            if job.status in JobStatus.TERMINAL:
                return
            time.sleep(STREAM_POLL_SECONDS * 2)

    def _summary(self, name: str, out: IO[str]) -> Job:
        job = self.get(name)
        out.write(f"\nExecution Summary\n=================\nRunId: {name}\n"
                  f"Status: {job.status}\n")
        if job.error:
            out.write(f"Error: {job.error}\n")
        if job.properties.get(REGISTERED_PROPERTY):
            out.write(f"Registered model: {job.properties[REGISTERED_PROPERTY]}\n")
        if job.properties.get("best_child_run_id"):
            out.write(f"Best trial: {job.properties['best_child_run_id']} "
                      f"(objective {job.properties.get('best_objective')})\n")
        out.flush()
        return job

    def download(self, name: str, download_path: str | os.PathLike[str] = ".", *,
                 output_name: str | None = None, all: bool = False,
                 show_progress: bool | None = None) -> builtins.list[Path]:
        """Named outputs land in ``<path>/named-outputs/<o>/``, default ones in ``artifacts/``."""
        root = Path(download_path)
        job = self.get(name)
        targets: builtins.list[tuple[str, Path]] = []
        if output_name:
            targets.append((output_name, root / "named-outputs" / output_name))
        else:
            targets.append(("default", root / "artifacts"))
            if all:
                targets += [(o, root / "named-outputs" / o) for o in job.outputs]
        written: builtins.list[Path] = []
        with progress(show_progress) as bar:
            for output, folder in targets:
                files = self._http.json("GET", self._http.ws(f"/jobs/{name}/files"),
                                        params={"output": output})
                task = bar.add_task(f"Downloading {output}",
                                    total=sum(f["size"] for f in files) or None)
                for f in files:
                    rel = safe_relpath(f["path"], allow_empty=False)
                    target = folder / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    quoted = urllib.parse.quote(rel)
                    with self._http.client.stream(
                            "GET", self._http.ws(f"/jobs/{name}/files/{quoted}"),
                            params={"output": output}) as resp:
                        if resp.status_code >= 400:
                            resp.read()
                            self._http.request("GET", self._http.ws(
                                f"/jobs/{name}/files/{quoted}"), params={"output": output})
                        with open(target, "wb") as fh:
                            for chunk in resp.iter_bytes(1 << 20):
                                fh.write(chunk)
                                bar.advance(task, len(chunk))
                    written.append(target)
        return written
