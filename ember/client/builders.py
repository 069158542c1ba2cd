"""Build jobs in Python the azure-ai-ml way: ``command()``, ``Input``, ``Output``, ``load_job``."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.entities.components import Component, ComponentInput, ComponentOutput
from ember.entities.environments import Environment
from ember.entities.jobs import LITERAL_TYPES, Job, JobInput, JobOutput, literal_type
from ember.specs._job_settings import check_run_settings

if TYPE_CHECKING:
    from ember.entities.finetuning import FineTuningJob
    from ember.entities.pipelines import PipelineJob


@dataclass
class CommandJob(Job):
    """A command job built in Python (``command()``, a component called outside a pipeline).

    ``search_space_inputs`` holds the inputs given something other than a literal or an
    ``Input`` (a search-space distribution such as ``Uniform``): they are not in ``inputs``,
    and :meth:`sweep` turns them into the sweep's search space.
    """

    search_space_inputs: dict[str, Any] = field(default_factory=dict)

    def sweep(self, **kwargs: Any) -> Any:
        """A sweep job over this command (see :func:`ember.client.sweeps.sweep_job`)."""
        from ember.client.sweeps import sweep_job

        return sweep_job(self, **kwargs)

    def __call__(self, **inputs: Any) -> Any:
        """As in azure-ai-ml: inside a ``@pipeline`` function, a step running this command
        (its data inputs given a path stay bound unless rebound here); outside, a copy of the
        job with ``inputs`` rebound."""
        from ember.client.dsl import ComponentFunc, building

        if not building():
            job = replace(self, inputs=dict(self.inputs))
            for name, value in inputs.items():
                job.inputs[name] = _literal(value)
            return job
        bound: dict[str, Any] = {k: v for k, v in self.inputs.items()
                                 if not v.is_literal and v.path}
        bound.update(inputs)
        return ComponentFunc(self.as_component())(**bound)

    def as_component(self) -> Component:
        """This command as an (unregistered) command component: its inputs become declared
        inputs (literal values as defaults), its outputs declared outputs."""
        declared = {k: ComponentInput(type=v.type, optional=v.optional,
                                      default=v.value if v.is_literal else None)
                    for k, v in self.inputs.items()}
        base = re.sub(r"[^a-z0-9_]", "_", (self.name or self.display_name or "command").lower())
        return Component(
            name=base if base[:1].isalpha() else f"command_{base}", command=self.command,
            code=self.code, environment=self.environment, inputs=declared,
            outputs={k: ComponentOutput(type=o.type) for k, o in self.outputs.items()},
            is_deterministic=self.is_deterministic, description=self.description,
            display_name=self.display_name, distribution=copy.deepcopy(self.distribution),
            resources=copy.deepcopy(self.resources))


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
    return JobInput(type=literal_type(value) or "string", value=value)


def command(*, command: str, code: str | os.PathLike[str] | None = None,
            environment: str | Environment | None = None, inputs: dict[str, Any] | None = None,
            outputs: dict[str, JobOutput] | None = None, compute: str = "local",
            environment_variables: dict[str, str] | None = None, name: str = "",
            display_name: str = "", experiment_name: str = "", description: str = "",
            tags: dict[str, str] | None = None, timeout: float | None = None,
            distribution: dict[str, Any] | None = None, instance_count: int | None = None,
            instance_type: str | None = None) -> CommandJob:
    """A command job, ready for ``client.jobs.create_or_update``.

    ``distribution`` is a dict as in the YAML (``{"type": "pytorch",
    "process_count_per_instance": 2}``); ``instance_count``/``instance_type`` go to its
    ``resources``. Used as a pipeline step (or :meth:`CommandJob.as_component`), the
    component keeps them.

    An input given a search-space distribution (anything but a literal, None, a path or an
    ``Input``) goes to ``search_space_inputs`` for :meth:`CommandJob.sweep`.
    """
    if isinstance(environment, str) and environment.startswith("azureml:"):
        environment = environment.removeprefix("azureml:")
    job_inputs: dict[str, JobInput] = {}
    search_space: dict[str, Any] = {}
    for key, value in (inputs or {}).items():
        if value is None or isinstance(value, (JobInput, str, int, float, bool, os.PathLike)):
            job_inputs[key] = _literal(value)
        else:
            search_space[key] = value
    resources = {k: v for k, v in (("instance_count", instance_count),
                                   ("instance_type", instance_type)) if v is not None} or None
    check_run_settings("command()", distribution=distribution, resources=resources)
    return CommandJob(name=name, command=command, code=None if code is None else _abs(code),
                      environment=environment, inputs=job_inputs,
                      outputs=dict(outputs or {}), compute=compute,
                      environment_variables=dict(environment_variables or {}),
                      display_name=display_name, experiment_name=experiment_name,
                      description=description, tags=dict(tags or {}), timeout=timeout,
                      search_space_inputs=search_space,
                      distribution=None if distribution is None else dict(distribution),
                      resources=resources)


def load_job(source: str | os.PathLike[str], params_override: list[dict[str, Any]] | None = None,
             overrides: list[str] | None = None) -> Job | PipelineJob | FineTuningJob:
    """Load an Azure ML v2 job YAML (``--set``-style ``overrides`` like ``a.b=c``):
    a command job, a ``type: pipeline`` job as a PipelineJob, or a ``type: finetuning`` job
    as a FineTuningJob."""
    from ember.specs.jobs import load_job_spec
    from ember.specs.pipelines import load_pipeline_spec
    from ember.specs.yamlio import load_yaml

    sets = list(overrides or [])
    for d in params_override or []:
        sets += [f"{k}={v}" for k, v in d.items()]
    path = Path(source)
    data = load_yaml(path)
    kind = data.get("type") if hasattr(data, "get") else None
    for text in sets:
        if text.partition("=")[0].strip() == "type":
            kind = text.partition("=")[2].strip()
    if kind == "pipeline":
        return load_pipeline_spec(path, sets)
    if kind == "finetuning":
        from ember.specs.finetuning import load_finetuning_spec

        return load_finetuning_spec(path, sets)
    return load_job_spec(path, sets)
