"""Fine-tuning jobs from the SDK: azure-ai-ml's ``create_finetuning_job`` and the request body.

``create_finetuning_job`` builds the same :class:`CustomModelFineTuningJob` the YAML loader
builds from the equivalent ``type: finetuning`` file; ``client.jobs.create_or_update`` uploads
its local data files (as for any job's inputs) and sends it with one POST.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from ember.artifacts.uris import is_remote_uri
from ember.client.http import Http
from ember.client.uploads import upload
from ember.entities.codec import to_plain
from ember.entities.finetuning import (
    DATA_TYPE,
    REGISTERED_MODEL,
    CustomModelFineTuningJob,
    FineTuningJob,
    ModelOutput,
    normal_task,
)
from ember.entities.jobs import JobInput
from ember.specs.finetuning import check_finetuning, ignored_setting

__all__ = ["FineTuningTaskType", "create_finetuning_job", "finetuning_body"]


class FineTuningTaskType:
    """azure-ai-ml's task names (``azure.ai.ml.finetuning.FineTuningTaskType``). Ember
    fine-tunes the first two; the others are refused when the job is built."""

    CHAT_COMPLETION = "ChatCompletion"
    TEXT_COMPLETION = "TextCompletion"
    TEXT_CLASSIFICATION = "TextClassification"
    QUESTION_ANSWERING = "QuestionAnswering"
    TEXT_SUMMARIZATION = "TextSummarization"
    TOKEN_CLASSIFICATION = "TokenClassification"
    TEXT_TRANSLATION = "TextTranslation"
    IMAGE_CLASSIFICATION = "ImageClassification"
    IMAGE_INSTANCE_SEGMENTATION = "ImageInstanceSegmentation"
    IMAGE_OBJECT_DETECTION = "ImageObjectDetection"
    VIDEO_MULTI_OBJECT_TRACKING = "VideoMultiObjectTracking"


def create_finetuning_job(*, model: str | JobInput, task: str,
                          training_data: str | os.PathLike[str] | JobInput,
                          output_model_name_prefix: str,
                          validation_data: str | os.PathLike[str] | JobInput | None = None,
                          hyperparameters: dict[str, Any] | None = None,
                          compute: str | None = None, instance_types: list[str] | None = None,
                          job_tier: str | None = None, **kwargs: Any) -> CustomModelFineTuningJob:
    """azure-ai-ml's factory: a fine-tuning job of ``model`` (a model reference: the catalog's
    ``azureml://registries/azureml/models/<name>/versions/<v>`` or a workspace model
    ``azureml:<name>:<version>``) on ``training_data`` (a local jsonl file, uploaded when the
    job is submitted, a data asset or a URI), registered as ``output_model_name_prefix``.

    ``hyperparameters`` are Azure's strings (numbers are taken as their text). ``compute``,
    ``instance_types`` and ``job_tier`` are kept and not used (a SpecNotice warning says so):
    the job runs on this machine. ``kwargs``: ``name``, ``display_name``, ``experiment_name``,
    ``description``, ``tags``, ``properties``. Raises SpecError naming the argument's YAML key
    for anything the YAML loader would refuse."""
    for what, value in (("model", model), ("task", task), ("training_data", training_data),
                        ("output_model_name_prefix", output_model_name_prefix)):
        if not value:
            raise ValueError(f"{what} is required")
    source = "create_finetuning_job()"
    if compute:
        ignored_setting(source, None, f"compute '{compute}'",
                        "a fine-tuning job runs on this machine (local compute)")
    if instance_types:
        ignored_setting(source, None, "resources",
                        "local compute has no VM sizes; the job uses this machine's CPU or GPU")
    if job_tier:
        ignored_setting(source, None, "queue_settings",
                        "local compute has no job tiers or priorities")
    job = CustomModelFineTuningJob(
        task=normal_task(task),
        model=model if isinstance(model, JobInput) else JobInput(type="mlflow_model",
                                                                 path=str(model)),
        training_data=_data(training_data),
        validation_data=None if validation_data is None else _data(validation_data),
        hyperparameters={k: _text(v) for k, v in (hyperparameters or {}).items()},
        outputs={REGISTERED_MODEL: ModelOutput(type="mlflow_model",
                                               name=output_model_name_prefix)},
        compute=compute,
        resources={"instance_types": list(instance_types)} if instance_types else None,
        queue_settings={"job_tier": job_tier} if job_tier else None,
        **kwargs)
    check_finetuning(job, source)
    return job


def _data(value: str | os.PathLike[str] | JobInput) -> JobInput:
    if isinstance(value, JobInput):
        return value
    text = os.fspath(value)
    if not (text.startswith("azureml:") or is_remote_uri(text)):
        text = str(Path(text).expanduser().resolve())
    return JobInput(type=DATA_TYPE, path=text)


def _text(value: Any) -> Any:
    # Numbers as their text, as the YAML loader takes them; anything else is left for the
    # check to refuse with the YAML's message.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def finetuning_body(http: Http, job: FineTuningJob, show_progress: bool | None) -> dict[str, Any]:
    """Check the job, upload its local data files; the JSON body of ``POST /jobs``."""
    check_finetuning(job, f"fine-tuning job {job.name or '(new)'}")
    ft = copy.deepcopy(job)
    for key in ("training_data", "validation_data"):
        inp: JobInput | None = getattr(ft, key)
        if inp is None or not inp.path or inp.path.startswith("azureml:") \
                or is_remote_uri(inp.path):
            continue
        inp.path = upload(http, "data", Path(inp.path), key, show_progress)
    body = to_plain(ft)
    body["type"] = ft.type
    return body
