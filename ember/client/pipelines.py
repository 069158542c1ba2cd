"""Submitting a pipeline job from the SDK: local code and data uploaded, then one POST."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ember.artifacts.uris import is_remote_uri
from ember.client.components import upload_component_code
from ember.client.http import Http
from ember.client.uploads import upload
from ember.entities.jobs import JobInput
from ember.entities.pipelines import PipelineJob, pipeline_from_plain, pipeline_to_plain
from ember.entities.sweeps import SamplingAlgorithm, SweepJob, sweep_from_dict, sweep_to_dict


def _local(path: str | None) -> bool:
    return bool(path) and not str(path).startswith("azureml:") and not is_remote_uri(str(path))


def _upload_input(http: Http, inp: JobInput, what: str, show: bool | None) -> None:
    if not inp.is_literal and _local(inp.path):
        inp.path = upload(http, "data", Path(str(inp.path)), what, show)


def pipeline_body(http: Http, pipeline: PipelineJob, show_progress: bool | None) -> dict[str, Any]:
    """Upload what the pipeline names locally (code folders, input files); the JSON body."""
    p = copy.deepcopy(pipeline)
    _upload_pipeline(http, p, show_progress)
    body = pipeline_to_plain(p)
    body["type"] = "pipeline"
    return body


def _upload_pipeline(http: Http, p: PipelineJob, show_progress: bool | None) -> None:
    for name, inp in p.inputs.items():
        _upload_input(http, inp, f"pipeline input {name!r}", show_progress)
    for step in p.jobs.values():
        if step.pipeline is not None:
            inner = pipeline_from_plain(step.pipeline)
            _upload_pipeline(http, inner, show_progress)
            step.pipeline = pipeline_to_plain(inner)
        elif step.sweep is not None:
            sweep = sweep_from_dict(step.sweep)
            step.sweep = sweep_body(http, sweep, show_progress)
            if step.component is not None and sweep.trial_component is not None:
                uploaded = sweep_from_dict(step.sweep).trial_component
                assert uploaded is not None
                step.component.code = uploaded.code
                step.component.additional_includes = uploaded.additional_includes
        elif step.component is not None:
            step.component = upload_component_code(http, step.component, show_progress)
        if step.job is not None:
            if step.job.code and not step.job.code.startswith("codes/"):
                step.job.code = upload(http, "code", Path(step.job.code),
                                       f"code of step {step.name!r}", show_progress)
            for name, inp in step.job.inputs.items():
                _upload_input(http, inp, f"input {name!r} of step {step.name!r}", show_progress)
        for name, binding in step.inputs.items():
            if binding.path is not None and _local(binding.path):
                binding.path = upload(http, "data", Path(binding.path),
                                      f"input {name!r} of step {step.name!r}", show_progress)


def sweep_body(http: Http, sweep: SweepJob, show_progress: bool | None) -> dict[str, Any]:
    """Upload the trial's local code and the sweep's local inputs; the JSON body."""
    s = copy.deepcopy(sweep)
    if isinstance(s.sampling_algorithm, str):   # azure-ai-ml takes "bayesian" as an attribute
        s.sampling_algorithm = SamplingAlgorithm(s.sampling_algorithm.strip().lower())
    for name, inp in s.inputs.items():
        _upload_input(http, inp, f"sweep input {name!r}", show_progress)
    if s.trial_component is not None:
        s.trial_component = upload_component_code(http, s.trial_component, show_progress)
    if s.trial is not None:
        if s.trial.code and not s.trial.code.startswith("codes/"):
            s.trial.code = upload(http, "code", Path(s.trial.code), "trial code",
                                  show_progress)
        for name, inp in s.trial.inputs.items():
            _upload_input(http, inp, f"trial input {name!r}", show_progress)
    return sweep_to_dict(s)
