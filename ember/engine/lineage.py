"""Lineage: which job produced a piece of data, and from which inputs.

A URI names its producer when it is a job output: ``azureml://jobs/<job>/outputs/<o>`` or a
default output path ``azureml://datastores/<ds>/paths/azureml/<job>/<o>/...``; explicit
output paths are matched against the jobs of the workspace that declared them. A reused step
points at the job that actually ran.
"""

from __future__ import annotations

import re
from typing import Any

from ember.artifacts.uris import DatastoreUri, JobOutputUri, is_azureml_uri, parse_azureml_uri
from ember.engine.jobs import JobService
from ember.entities.jobs import Job
from ember.errors import EmberError, NotFoundError

_DEFAULT_OUTPUT = re.compile(r"^azureml/(?P<job>[^/]+)/(?P<out>[^/]+)(/.*)?$")


def producer_of(jobs: JobService, workspace: str, uri: str) -> dict[str, Any] | None:
    """``{job, output, status, parent_job_name, step_name, inputs}`` for the job that wrote
    ``uri``, or None when no job did (an upload, an external URI)."""
    if not is_azureml_uri(uri):
        return None
    try:
        parsed = parse_azureml_uri(uri)
    except EmberError:
        return None
    name = output = None
    if isinstance(parsed, JobOutputUri):
        name, output = parsed.job, parsed.output
    elif isinstance(parsed, DatastoreUri):
        m = _DEFAULT_OUTPUT.match(parsed.path)
        if m:
            name, output = m["job"], m["out"]
    if name is None or output is None:
        return None
    try:
        job = jobs.get(workspace, name)
    except NotFoundError:
        return None
    if output not in job.outputs:
        return None
    if job.reused_from:
        try:
            job = jobs.get(workspace, job.reused_from)
        except NotFoundError:
            pass
    return describe(job, output)


def describe(job: Job, output: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for k, inp in job.inputs.items():
        inputs[k] = inp.value if inp.is_literal else inp.path
    return {"job": job.name, "output": output, "status": job.status,
            "parent_job_name": job.parent_job_name, "step_name": job.step_name,
            "component": job.component, "inputs": inputs}


def job_lineage(jobs: JobService, workspace: str, job: Job) -> dict[str, Any]:
    """For each output of ``job``: its URI and the job that produced it (the job itself, the
    earlier job it reused, or for a pipeline or sweep the step or trial that wrote it); for
    each data input: the job that produced it, if any."""
    ran = job
    if job.reused_from:
        try:
            ran = jobs.get(workspace, job.reused_from)
        except NotFoundError:
            pass
    outputs: dict[str, Any] = {}
    for o, out in job.outputs.items():
        # A pipeline's or sweep's output is a step's or trial's: name that job.
        found = producer_of(jobs, workspace, out.path) if out.path else None
        outputs[o] = {"path": out.path, "produced_by": found["job"] if found else ran.name}
    inputs: dict[str, Any] = {}
    for k, inp in job.inputs.items():
        if not inp.is_literal and inp.path:
            found = producer_of(jobs, workspace, inp.path)
            inputs[k] = {"path": inp.path,
                         "produced_by": found["job"] if found else None}
    return {"job": job.name, "outputs": outputs, "inputs": inputs}
