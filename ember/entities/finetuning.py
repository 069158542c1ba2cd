"""Fine-tuning jobs (``type: finetuning``, reference §3): a language model, a task, data and
hyperparameters in; a LoRA adapter registered as a model out.

This module holds what a fine-tuning job *is*: the entity (shaped like azure-ai-ml's
``FineTuningJob`` / ``CustomModelFineTuningJob``), the vocabulary its fields take, and the rules a
valid one obeys (:func:`finetuning_problem`), shared by the YAML loader
(:mod:`ember.specs.finetuning`, which adds file and line), the SDK factory and the server. Its
plain form is :func:`ember.entities.codec.to_plain` / ``from_plain``.

- ``model`` is an input whose ``path`` names a registered model: a catalog model
  (``azureml://registries/azureml/models/<name>/versions/<v>`` or ``/labels/latest``) or a
  workspace model (``azureml:<name>:<version>``, ``azureml:<name>@latest``); ``type`` is
  ``mlflow_model`` or ``custom_model`` as Azure's examples write it (both mean the same here).
- ``training_data`` / ``validation_data``: ``uri_file`` inputs (a local file, a data asset
  ``azureml:<name>:<version>``, a datastore or http URI).
- ``hyperparameters``: names to strings, as Azure passes them (the training's own rules check
  names and values: :mod:`ember.finetune._hyperparameters`).
- ``outputs``: only ``registered_model`` (``name``: what the result is registered as).
- ``compute``, ``resources`` (``instance_types``) and ``queue_settings`` (``job_tier``) are kept
  as written and not acted on: local compute is this machine.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from ember.entities.jobs import JobInput

FINETUNING_TYPE = "finetuning"
# What Ember trains (causal language models); the training's data formats are these two.
TASKS = ("chat_completion", "text_completion")
# Every task Azure's schema takes (FineTuningVerticalSchema.task), for a clear refusal.
AZURE_TASKS = ("chat_completion", "text_completion", "text_classification",
               "question_answering", "text_summarization", "token_classification",
               "text_translation", "image_classification", "image_instance_segmentation",
               "image_object_detection", "video_multi_object_tracking")
MODEL_TYPES = ("mlflow_model", "custom_model")
DATA_TYPE = "uri_file"
MODEL_PROVIDERS = ("custom",)
AZURE_MODEL_PROVIDERS = ("custom", "azure_open_ai")
REGISTERED_MODEL = "registered_model"
# The job's properties that name what it registered (set before it is Completed).
REGISTERED_PROPERTY = "finetuning.registered_model"
MERGED_PROPERTY = "finetuning.merged_model"
JOB_TIERS = ("spot", "basic", "standard", "premium", "null")
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")
_REGISTRY_MODEL = re.compile(r"^azureml://registries/[^/]+/models/[^/]+"
                             r"(/versions/[^/]+|/labels/[^/]+)?/?$")
_WORKSPACE_MODEL = re.compile(r"^azureml:[A-Za-z0-9][A-Za-z0-9_.\-]*"
                              r"(:[A-Za-z0-9][A-Za-z0-9_.\-]*|@[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
MODEL_HINT = ("a registered model: azureml://registries/azureml/models/<name>/versions/<v> (the "
              "catalog) or azureml:<name>:<version> (a workspace model; register a local "
              "folder first with: ember model create --name <name> --path <folder> --type "
              "custom_model)")


def training_job_name(job: str) -> str:
    """The child command job that runs a fine-tuning job's training (deterministic, so a
    restarted server finds it instead of starting another)."""
    return f"{job}-train"


def task_name(task: str) -> str:
    """A task in the YAML's spelling: ``chat_completion`` as written, the SDK's
    ``FineTuningTaskType`` values (``ChatCompletion``) turned to snake case."""
    text = task.strip()
    if "_" not in text and not text.isupper():
        text = _CAMEL.sub("_", text)
    return text.lower()


def normal_task(task: str) -> str:
    """``task`` in the YAML's spelling when it is one of Azure's tasks, else as written (so
    an error names what the user wrote)."""
    name = task_name(task)
    return name if name in AZURE_TASKS else task


@dataclass
class ModelOutput:
    """The ``registered_model`` output: the model the result is registered as (``name``;
    default ``<base model name>-ft``). ``type`` is kept as written: the result is a PEFT LoRA
    adapter, registered as a ``custom_model`` whatever it says."""

    type: str = "mlflow_model"
    name: str | None = None


@dataclass(kw_only=True)
class FineTuningJob:
    """A fine-tuning job (see the module docstring for what each field takes)."""

    task: str
    model: JobInput
    training_data: JobInput
    validation_data: JobInput | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, ModelOutput] = field(default_factory=dict)
    model_provider: str = "custom"
    name: str = ""
    display_name: str = ""
    experiment_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    compute: str | None = None
    resources: dict[str, Any] | None = None
    queue_settings: dict[str, Any] | None = None
    type: str = FINETUNING_TYPE

    @property
    def registered_model_name(self) -> str | None:
        """``outputs.registered_model.name``, or None (the server names it after the base)."""
        out = self.outputs.get(REGISTERED_MODEL)
        return out.name if out is not None else None


@dataclass(kw_only=True)
class CustomModelFineTuningJob(FineTuningJob):
    """azure-ai-ml's class for ``model_provider: custom``: a catalog or workspace model
    fine-tuned here (what :func:`ember.finetuning.create_finetuning_job` returns)."""


@dataclass(frozen=True)
class FineTuningProblem:
    """Why a fine-tuning job is invalid: ``path`` is the dotted YAML key (``model.type``)."""

    path: str
    message: str
    hint: str | None = None


def finetuning_problem(job: FineTuningJob) -> FineTuningProblem | None:
    """The first rule ``job`` breaks, or None. Files are not looked at here (the YAML loader
    checks local paths, the server every reference)."""
    if job.type != FINETUNING_TYPE:
        return FineTuningProblem("type", f"expected 'type: finetuning', not {job.type!r}")
    if job.name and not _JOB_NAME.match(job.name):
        return FineTuningProblem("name", f"'{job.name}' is not a valid job name: letters, "
                                         "digits, '-' and '_', starting with a letter or digit")
    return (_task_problem(job.task) or _provider_problem(job.model_provider)
            or _model_problem(job.model)
            or _data_problem("training_data", job.training_data, required=True)
            or _data_problem("validation_data", job.validation_data, required=False)
            or _hyperparameters_problem(job.hyperparameters)
            or _outputs_problem(job.outputs) or _settings_problem(job))


def _task_problem(task: Any) -> FineTuningProblem | None:
    if not isinstance(task, str) or not task.strip():
        return FineTuningProblem("task", "is required: chat_completion or text_completion")
    name = task_name(task)
    if name in TASKS:
        return None
    supported = " and ".join(TASKS)
    if name in AZURE_TASKS:
        return FineTuningProblem("task", f"'{task}' is an Azure fine-tuning task that Ember "
                                         f"does not run; Ember fine-tunes {supported}",
                                 hint="train language models with chat data (messages) as "
                                      "chat_completion, or text/ground_truth lines as "
                                      "text_completion")
    close = difflib.get_close_matches(name, list(TASKS), n=1)
    return FineTuningProblem("task", f"'{task}' is not a fine-tuning task; Ember fine-tunes "
                                     f"{supported}",
                             hint=f"did you mean '{close[0]}'?" if close else None)


def _provider_problem(provider: Any) -> FineTuningProblem | None:
    if provider in MODEL_PROVIDERS:
        return None
    if provider == "azure_open_ai":
        return FineTuningProblem("model_provider", "azure_open_ai fine-tunes in an Azure "
                                 "OpenAI resource, which Ember is not",
                                 hint="model_provider: custom fine-tunes a catalog or "
                                      "workspace model here")
    return FineTuningProblem("model_provider", f"{provider!r} is not one of: "
                             f"{', '.join(MODEL_PROVIDERS)}")


def _model_problem(model: Any) -> FineTuningProblem | None:
    if not isinstance(model, JobInput) or not model.path:
        return FineTuningProblem("model", "is required", hint=f"model: {{path: ..., type: "
                                 f"mlflow_model}}, where path is {MODEL_HINT}")
    if model.type not in MODEL_TYPES:
        return FineTuningProblem("model.type", f"'{model.type}' is not one of: "
                                 f"{', '.join(MODEL_TYPES)}")
    if not is_model_reference(model.path):
        return FineTuningProblem("model.path", f"'{model.path}' is not a model reference",
                                 hint=f"give {MODEL_HINT}")
    return None


def is_model_reference(path: str) -> bool:
    """Whether ``path`` names a registered model (catalog or workspace), in a form the
    server resolves."""
    return bool(_REGISTRY_MODEL.match(path) or _WORKSPACE_MODEL.match(path))


def _data_problem(key: str, data: Any, *, required: bool) -> FineTuningProblem | None:
    if data is None or (isinstance(data, JobInput) and not data.path):
        if not required:
            return None
        return FineTuningProblem(key, "is required", hint="a jsonl file: a local path, "
                                 "azureml:<data asset>:<version> or a URI")
    if not isinstance(data, JobInput):
        return FineTuningProblem(key, f"must be a path or an input, not "
                                      f"{type(data).__name__}")
    if data.type != DATA_TYPE:
        return FineTuningProblem(f"{key}.type", f"'{data.type}' is not supported: the data "
                                 f"is one jsonl file, type {DATA_TYPE}")
    return None


def _hyperparameters_problem(hyperparameters: Any) -> FineTuningProblem | None:
    if not isinstance(hyperparameters, dict):
        return FineTuningProblem("hyperparameters", "must be a mapping of names to strings")
    for name, value in hyperparameters.items():
        if not isinstance(name, str) or not name:
            return FineTuningProblem("hyperparameters", f"names must be non-empty strings, "
                                                        f"not {name!r}")
        if not isinstance(value, str):
            kind = "a boolean" if isinstance(value, bool) else type(value).__name__
            return FineTuningProblem(f"hyperparameters.{name}", f"must be a string, not {kind}",
                                     hint=f"Azure passes hyperparameters as strings: write "
                                          f"{name}: \"{hyperparameter_text(value)}\"")
    return None


def hyperparameter_text(value: Any) -> str:
    """How a value reads as Azure's string form (``True`` → ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _outputs_problem(outputs: Any) -> FineTuningProblem | None:
    if not isinstance(outputs, dict):
        return FineTuningProblem("outputs", "must be a mapping: {registered_model: {name: "
                                            "..., type: mlflow_model}}")
    for key, out in outputs.items():
        if key != REGISTERED_MODEL:
            return FineTuningProblem(f"outputs.{key}", "is not an output of a fine-tuning job",
                                     hint=f"its one output is {REGISTERED_MODEL}: {{name: ..., "
                                          "type: mlflow_model}")
        if not isinstance(out, ModelOutput):
            return FineTuningProblem(f"outputs.{key}", "must be a mapping {name, type}")
        if out.type not in MODEL_TYPES:
            return FineTuningProblem(f"outputs.{key}.type", f"'{out.type}' is not one of: "
                                     f"{', '.join(MODEL_TYPES)}")
        if out.name is not None and not _ASSET_NAME.match(out.name):
            return FineTuningProblem(f"outputs.{key}.name", f"'{out.name}' is not a valid "
                                     "model name: start with a letter or digit, then "
                                     "letters, digits, '-', '_', '.'")
    return None


def _settings_problem(job: FineTuningJob) -> FineTuningProblem | None:
    types = (job.resources or {}).get("instance_types")
    if types is not None and (not isinstance(types, list)
                              or not all(isinstance(t, str) for t in types)):
        return FineTuningProblem("resources.instance_types", "must be a list of VM size names")
    tier = (job.queue_settings or {}).get("job_tier")
    if tier is not None and (not isinstance(tier, str) or tier.lower() not in JOB_TIERS):
        return FineTuningProblem("queue_settings.job_tier", f"{tier!r} is not one of: "
                                 "Spot, Basic, Standard, Premium")
    return None
