"""JSON bodies of the REST API ⇄ entities, on the SDK side."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ember.entities.data import DataAsset
from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobInput, JobOutput, StatusChange

_ENV_FIELDS = set(Environment.__dataclass_fields__)
_JOB_FIELDS = set(Job.__dataclass_fields__)


def environment_from_json(d: dict[str, Any]) -> Environment:
    return Environment(**{k: v for k, v in d.items() if k in _ENV_FIELDS})


def data_from_json(d: dict[str, Any]) -> DataAsset:
    fields = set(DataAsset.__dataclass_fields__)
    return DataAsset(**{k: v for k, v in d.items() if k in fields})


def job_from_json(d: dict[str, Any]) -> Job:
    data = {k: v for k, v in d.items() if k in _JOB_FIELDS}
    env = data.get("environment")
    if isinstance(env, dict):
        data["environment"] = environment_from_json(env)
    data["inputs"] = {k: JobInput(**v) for k, v in (data.get("inputs") or {}).items()}
    data["outputs"] = {k: JobOutput(**v) for k, v in (data.get("outputs") or {}).items()}
    data["status_history"] = [StatusChange(**s) for s in data.get("status_history") or []]
    return Job(**data)


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
    }
