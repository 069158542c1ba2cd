"""``client.jobs``: create_or_update, get, list, stream, begin_cancel, download."""

from __future__ import annotations

import builtins

import codecs
import os
import sys
import time
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from ember.artifacts.store import safe_relpath
from ember.artifacts.uris import is_remote_uri
from ember.client.convert import job_from_json, job_to_json
from ember.client.http import Http
from ember.client.uploads import progress, upload
from ember.client.pipelines import pipeline_body, sweep_body
from ember.entities.jobs import Job, JobStatus
from ember.entities.pipelines import PipelineJob
from ember.entities.sweeps import SweepJob

STREAM_POLL_SECONDS = 0.25


def job_with_url(http: Http, body: dict[str, Any]) -> Job:
    """The job of a response body, its ``studio_url`` set: the job's REST URL on the server
    until Ember has a studio (see :class:`~ember.entities.jobs.Job`)."""
    job = job_from_json(body)
    job.studio_url = http.base_url + http.ws(f"/jobs/{urllib.parse.quote(job.name, safe='')}")
    return job


class JobOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def create_or_update(self, job: Job | PipelineJob | SweepJob, *, experiment_name: str | None = None,
                         show_progress: bool | None = None) -> Job:
        """Upload the job's local code and inputs, then submit it. Returns the Queued job.

        A :class:`~ember.entities.pipelines.PipelineJob` (YAML ``type: pipeline`` or
        ``@pipeline``) is submitted whole; its steps become child jobs."""
        if isinstance(job, PipelineJob):
            pipeline = replace(job, experiment_name=experiment_name or job.experiment_name
                               or Path.cwd().name or "Default")
            body = pipeline_body(self._http, pipeline, show_progress)
            return self._submit(body)
        if isinstance(job, SweepJob):
            sweep = replace(job, experiment_name=experiment_name or job.experiment_name
                            or Path.cwd().name or "Default")
            body = sweep_body(self._http, sweep, show_progress)
            return self._submit(body)
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
        return self._submit(body)

    def _submit(self, body: dict[str, Any]) -> Job:
        return job_with_url(self._http, self._http.json("POST", self._http.ws("/jobs"), json=body))

    def get(self, name: str) -> Job:
        return job_with_url(self._http, self._http.json("GET", self._http.ws(f"/jobs/{name}")))

    def list(self, *, parent_job_name: str | None = None, max_results: int = 100) -> list[Job]:
        params: dict[str, str | int] = {"max_results": max_results}
        if parent_job_name:
            params["parent_job_name"] = parent_job_name
        return [job_with_url(self._http, j) for j in
                self._http.json("GET", self._http.ws("/jobs"), params=params)]

    def steps(self, name: str) -> builtins.list[dict[str, Any]]:
        """A pipeline's steps in definition order: ``step``, ``status`` (``NotStarted`` before
        it runs), ``job``, ``depends_on``, ``reused_from``, ``component``."""
        return self._http.json("GET", self._http.ws(f"/jobs/{name}/steps"))  # type: ignore[no-any-return]

    def trials(self, name: str) -> builtins.list[dict[str, Any]]:
        """A sweep's trials: ``trial``, ``status``, ``job``, ``parameters``, ``objective``,
        ``best``."""
        return self._http.json("GET", self._http.ws(f"/jobs/{name}/trials"))  # type: ignore[no-any-return]

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
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        offset = 0
        out.write(f"RunId: {name}\n")
        out.flush()
        first = self.get(name)
        if first.type in ("pipeline", "sweep"):
            self._follow_children(first, out)
            return self._summary(name, out)
        while True:
            resp = self._http.request("GET", self._http.ws(f"/jobs/{name}/logs"),
                                      params={"offset": offset})
            chunk = resp.content
            size = int(resp.headers["X-Ember-Log-Size"])
            status = resp.headers["X-Ember-Job-Status"]
            if chunk:
                offset += len(chunk)
                out.write(decoder.decode(chunk))
                out.flush()
            if status in JobStatus.TERMINAL and offset >= size:
                out.write(decoder.decode(b"", final=True))
                break
            if not chunk:
                time.sleep(STREAM_POLL_SECONDS)
        return self._summary(name, out)

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
