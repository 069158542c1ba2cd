"""What a finished fine-tuning job leaves behind: its registered models, or why it failed.

The training writes into the job's ``registered_model`` output folder ``adapter/`` (PEFT),
``merged/`` (when ``merge_lora_weights``), ``adapter.gguf`` and ``finetune.json``. The adapter is
registered as a ``custom_model`` named ``outputs.registered_model.name`` (default
``<base model>-ft``; the next version when the name exists) with the tags the serving layer
reads: ``base_model`` is the base's pinned reference (``azureml:<name>:<version>`` or the
catalog's ``azureml://registries/azureml/models/<name>/versions/<v>``), so every language-model
deployment of that base serves the adapter at once (``serving/llm_adapters.py``). A merged
model is registered as ``<name>-merged``, a full model of its own. Both name the job as the
producer (``job_name``) and carry ``finetuning_job`` and the data they were trained on.
"""

from __future__ import annotations

import json
import re

from ember.engine.jobs import JobService
from ember.entities.finetuning import (MERGED_PROPERTY, REGISTERED_MODEL, REGISTERED_PROPERTY,
                                       FineTuningJob)
from ember.entities.codec import from_plain
from ember.entities.jobs import Job
from ember.entities.models import Model
from ember.errors import EmberError, NotFoundError
from ember.services.language_models import TASK_CHAT, TASK_TEXT
from ember.services.models import ModelService

JOB_TAG = "finetuning_job"
BASE_MODEL_TAG = "base_model"   # what serving/llm_adapters.py matches adapters by
# The job's task in the model card's vocabulary (the catalog's ``task`` tag).
CARD_TASKS = {"chat_completion": TASK_CHAT, "text_completion": TASK_TEXT}
_LOG_TAIL = 16 << 10
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")


def register_outputs(jobs: JobService, models: ModelService, workspace: str,
                     job: Job) -> dict[str, str]:
    """Register the adapter (and the merged model, when the training wrote one); returns the
    job properties that name them. A registration an earlier look already made (before a
    restart) is found by its ``finetuning_job`` tag, not made twice. Raises EmberError."""
    definition = job.definition or {}
    ft = from_plain(FineTuningJob, definition["finetuning"])
    target = str(definition["registered_model_name"])
    folder = (job.outputs[REGISTERED_MODEL].path or "").rstrip("/")
    base = str(definition["base_model"])
    data = definition.get("data") or {}
    tags = {BASE_MODEL_TAG: base, "task": CARD_TASKS.get(ft.task, ft.task),
            JOB_TAG: job.name, "training_data": str(data.get("training_data", ""))}
    if data.get("validation_data"):
        tags["validation_data"] = str(data["validation_data"])
    properties = _training_facts(jobs, workspace, f"{folder}/finetune.json")
    adapter = _register(models, workspace, job.name, Model(
        name=target, path=f"{folder}/adapter", type="custom_model", tags=tags,
        properties=properties, run_id=job.name,
        description=f"LoRA adapter of {base}, fine-tuned for {ft.task} by job {job.name}"))
    found = {REGISTERED_PROPERTY: adapter.id}
    store, rel = jobs.datastores.locate_uri(workspace, f"{folder}/merged", jobs.output_uri)
    if store.exists(rel):
        merged = _register(models, workspace, job.name, Model(
            name=f"{target}-merged", path=f"{folder}/merged", type="custom_model",
            tags={**tags, "adapter": adapter.id}, properties=properties, run_id=job.name,
            description=f"{base} with the LoRA adapter {adapter.id} merged into its weights "
                        f"(job {job.name})"))
        found[MERGED_PROPERTY] = merged.id
    declared = ft.outputs.get(REGISTERED_MODEL)
    if declared is not None and declared.type == "mlflow_model":
        jobs.append_server_log(workspace, job.name, (
            "[ember] outputs.registered_model.type mlflow_model: the result is a PEFT LoRA "
            "adapter, registered as a custom_model (LLM deployments of its base serve it)\n"
        ).encode())
    jobs.append_server_log(workspace, job.name, ("[ember] registered " + ", ".join(
        found.values()) + "\n").encode())
    return found


def _register(models: ModelService, workspace: str, job_name: str, model: Model) -> Model:
    try:
        versions = models.list_versions(workspace, model.name, include_archived=True)
    except NotFoundError:
        versions = []
    done = next((m for m in versions if m.tags.get(JOB_TAG) == job_name), None)
    return done if done is not None else models.create(workspace, model)


def _training_facts(jobs: JobService, workspace: str, uri: str) -> dict[str, str]:
    """A few lines of ``finetune.json`` as model properties (steps, losses); none when it is
    missing or unreadable (the registration does not depend on it)."""
    try:
        store, rel = jobs.datastores.locate_uri(workspace, uri, jobs.output_uri)
        with store.open_read(rel) as fh:
            facts = json.loads(fh.read(1 << 20))
    except (EmberError, OSError, ValueError):
        return {}
    wanted = {"finetuning.steps": facts.get("steps"),
              "finetuning.train_loss": facts.get("train_loss_last"),
              "finetuning.eval_loss": facts.get("eval_loss_last"),
              "finetuning.resumed_from": facts.get("resumed_from")}
    return {k: str(v) for k, v in wanted.items() if v is not None}


def training_error(jobs: JobService, workspace: str, child: Job) -> str:
    """Why the training failed, in one line: the training's own ``error:`` line (a bad data
    line, a hyperparameter), else the last exception of a traceback, else the runner's
    reason."""
    why = child.error or "it failed"
    try:
        _, size, _ = jobs.read_log(workspace, child.name, 0, 1)
        tail, _, _ = jobs.read_log(workspace, child.name, max(0, size - _LOG_TAIL), _LOG_TAIL)
    except EmberError:
        tail = b""
    lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines()]
    said = [line[len("error: "):] for line in lines if line.startswith("error: ")]
    raised = [line for line in lines if _EXCEPTION_LINE.match(line)]
    if said:
        why = said[-1]
    elif raised:
        why = raised[-1]
    return f"training failed: {why} (the log of job {child.name} has the details)"
