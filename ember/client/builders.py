"""Build jobs in Python the azure-ai-ml way: ``command()``, ``Input``, ``Output``, ``load_job``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ember.entities.environments import Environment
from ember.entities.jobs import LITERAL_TYPES, Job, JobInput, JobOutput


def Input(*, type: str = "uri_folder", path: str | os.PathLike[str] | None = None,  # noqa: N802
          mode: str | None = None, optional: bool = False, default: Any = None) -> JobInput:
    """A job input: data (``uri_file``/``uri_folder``/...) by path, or a typed literal."""
    if type in LITERAL_TYPES:
        return JobInput(type=type, value=default, optional=optional)
    return JobInput(type=type, path=None if path is None else _abs(path), mode=mode,
                    optional=optional)


def Output(*, type: str = "uri_folder", path: str | None = None,  # noqa: N802
           mode: str = "rw_mount") -> JobOutput:
    return JobOutput(type=type, path=path, mode=mode)


def _abs(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if text.startswith("azureml:") or "://" in text:
        return text
    return str(Path(text).expanduser().resolve())


def _literal(value: Any) -> JobInput:
    if isinstance(value, JobInput):
        return value
    kind = ("boolean" if isinstance(value, bool) else "integer" if isinstance(value, int)
            else "number" if isinstance(value, float) else "string")
    return JobInput(type=kind, value=value)


def command(*, command: str, code: str | os.PathLike[str] | None = None,
            environment: str | Environment | None = None, inputs: dict[str, Any] | None = None,
            outputs: dict[str, JobOutput] | None = None, compute: str = "local",
            environment_variables: dict[str, str] | None = None, name: str = "",
            display_name: str = "", experiment_name: str = "", description: str = "",
            tags: dict[str, str] | None = None, timeout: float | None = None) -> Job:
    """A command job, ready for ``client.jobs.create_or_update``."""
    if isinstance(environment, str) and environment.startswith("azureml:"):
        environment = environment.removeprefix("azureml:")
    return Job(name=name, command=command, code=None if code is None else _abs(code),
               environment=environment, inputs={k: _literal(v) for k, v in
                                                (inputs or {}).items()},
               outputs=dict(outputs or {}), compute=compute,
               environment_variables=dict(environment_variables or {}),
               display_name=display_name, experiment_name=experiment_name,
               description=description, tags=dict(tags or {}), timeout=timeout)


def load_job(source: str | os.PathLike[str], params_override: list[dict[str, Any]] | None = None,
             overrides: list[str] | None = None) -> Job:
    """Load an Azure ML v2 job YAML (``--set``-style ``overrides`` like ``a.b=c``)."""
    from ember.specs.jobs import load_job_spec

    sets = list(overrides or [])
    for d in params_override or []:
        sets += [f"{k}={v}" for k, v in d.items()]
    return load_job_spec(Path(source), sets)
