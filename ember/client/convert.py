"""JSON bodies of the REST API ⇄ entities, on the SDK side."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ember.entities.codec import from_plain
from ember.entities.data import DataAsset
from ember.entities.environments import Environment
from ember.entities.jobs import Job


def environment_from_json(d: dict[str, Any]) -> Environment:
    return from_plain(Environment, d)


def data_from_json(d: dict[str, Any]) -> DataAsset:
    return from_plain(DataAsset, d)


def job_from_json(d: dict[str, Any]) -> Job:
    job = from_plain(Job, d)
    job.submitter = (d.get("creation_context") or {}).get("created_by")
    return job


def job_to_json(job: Job) -> dict[str, Any]:
    env: Any = job.environment
    if isinstance(env, Environment):
        env = {k: v for k, v in asdict(env).items() if k != "creation_time"}
    return {
        "type": job.type, "name": job.name, "display_name": job.display_name,
        "experiment_name": job.experiment_name, "description": job.description,
        "tags": job.tags, "properties": job.properties, "command": job.command,
        "code": job.code, "environment": env,
        "environment_variables": {k: str(v) for k, v in job.environment_variables.items()},
        "compute": job.compute,
        "inputs": {k: asdict(v) for k, v in job.inputs.items()},
        "outputs": {k: asdict(v) for k, v in job.outputs.items()},
        "timeout": job.timeout,
        "distribution": job.distribution,
        "resources": job.resources,
    }
