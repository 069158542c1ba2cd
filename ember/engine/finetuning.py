"""Fine-tuning jobs (``type: finetuning``): checked at submit, trained by a child command job,
registered before they are Completed.

A fine-tuning job is a composite of one child, as a sweep is of its trials: the job itself
(``type: finetuning``, what ``ember job show`` shows, with the task, model and hyperparameters
in its properties and the loss metrics in its MLflow run) and its training, a command job
``<job>-train`` that runs on the server's own Python (no environment to build, as a flow run):

    python -m ember.engine.finetuning_config --training-data ... --output-dir ...
    && MLFLOW_RUN_ID=<job> python -m ember.finetune.train --config logs/finetune_config.json

The scheduler, runner, logs, cancel and restart recovery of command jobs all apply to it
unchanged. :class:`FineTuningService` checks everything that can fail fast before anything is
written: the model (a catalog or workspace model whose files are a causal language model; a GGUF
file is fine, the training converts it once into ``$EMBER_HOME/finetune/trainable``), the data
(inputs resolved as any job's: data assets, uploads, URIs that must exist), the hyperparameters
(the training's own parser) and the training's packages. :class:`FineTuningDriver` (the
orchestrator's) starts the child, and when it has Completed registers the result
(:mod:`ember.engine._finetuning_models`) and only then moves the job to Completed, so a
Completed fine-tuning job always has its model registered; a registration that fails ends the
job Failed saying why. Every decision is read from the store, so after a restart the driver
picks the job up where it was (the child's name is deterministic, a registration already done
is found by its ``finetuning_job`` tag).

Resume: the training checkpoints into ``$EMBER_HOME/finetune/checkpoints/<key>``, where the key
hashes the workspace, the base model (its id and files), the task, the content of the data and
the parsed hyperparameters. Submitting the same spec again after a cancel, a failure or a
killed server therefore continues from the last checkpoint instead of starting over; two jobs
with the same key at once are refused (they would share the folder).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from ember.artifacts.uris import is_azureml_uri, is_remote_uri
from ember.engine import names
from ember.engine._finetuning_models import register_outputs, training_error
from ember.engine.finetuning_config import CONFIG_ENV
from ember.engine.jobs import JobService, default_output_uri
from ember.engine.orchestrator import Driver, Orchestrator
from ember.engine.reuse import DataHasher
from ember.entities.codec import to_plain
from ember.entities.finetuning import (
    FINETUNING_TYPE,
    REGISTERED_MODEL,
    FineTuningJob,
    task_name,
    training_job_name,
)
from ember.entities.jobs import Job, JobInput, JobOutput, JobStatus
from ember.entities.models import Model
from ember.entities.names import check_name
from ember.errors import (ConflictError, EmberError, InvalidInputError, NotFoundError,
                          UnsupportedError)
from ember.finetune._hyperparameters import parse_hyperparameters
from ember.finetune.convert import home_cache
from ember.services.language_models import (FORMAT_ADAPTER, FORMAT_GGUF, TASK_CHAT,
                                            TASK_EMBEDDINGS, LanguageModelInfo)
from ember.services.models import ModelService
from ember.specs.finetuning import check_finetuning
from ember.specs.references import local_path_of

log = logging.getLogger("ember.finetuning")
KEY_PROPERTY = "finetuning.checkpoint_key"
CONFIG_FILE = "logs/finetune_config.json"
_TRAINING_PACKAGES = ("torch", "transformers", "peft", "accelerate")
_ACTIVE = frozenset({JobStatus.QUEUED, *JobStatus.ACTIVE})


class FineTuningService:
    def __init__(self, jobs: JobService, models: ModelService, orchestrator: Orchestrator,
                 hasher: DataHasher, home: Path) -> None:
        self.jobs = jobs
        self.models = models
        self.orchestrator = orchestrator
        self.hasher = hasher
        self.home = Path(home)

    def create(self, workspace: str, spec: FineTuningJob, *,
               submitter: str | None = None) -> Job:
        """Check the job (see the module docstring) and record it Queued; the orchestrator
        starts its training. Nothing is written when a check fails. Raises InvalidInputError
        (bad spec, data, hyperparameters, a model that cannot be fine-tuned), NotFoundError
        (an unknown model or data asset), ConflictError (a name taken; the same training
        running), UnsupportedError (the training's packages are not installed)."""
        check_finetuning(spec, f"fine-tuning job {spec.name or '(new)'}")
        ft = copy.deepcopy(spec)
        ft.task = task_name(ft.task)
        ft.display_name = ft.display_name or names.display_name()
        ft.name = ft.name or names.job_name(ft.display_name)
        child = training_job_name(ft.name)
        check_name("job", ft.name)
        check_name("job", child)
        self.jobs.check_unused_name(workspace, ft.name)
        self.jobs.check_unused_name(workspace, child)
        try:
            hyperparameters = parse_hyperparameters(ft.hyperparameters)
        except InvalidInputError as exc:
            raise InvalidInputError(f"hyperparameters: {exc.message}") from None
        base, info = self._base_model(workspace, ft)
        target = ft.registered_model_name or f"{base.name}-ft"
        check_name("model", target)
        inputs = self._data(workspace, ft)
        key = self.checkpoint_key(workspace, base, info, ft.task, inputs, hyperparameters)
        self._refuse_same_training(workspace, key)
        output = default_output_uri(ft.name, REGISTERED_MODEL)
        config = {
            "task": ft.task, "base_model_path": str(info.path),
            "conversion_cache": str(home_cache(self.home)),   # shared with deployments
            "hyperparameters": dict(ft.hyperparameters),
            "checkpoint_dir": str(self.home / "finetune" / "checkpoints" / key),
            "mlflow": importlib.util.find_spec("mlflow") is not None,
        }
        properties = {**ft.properties, "finetuning.task": ft.task,
                      "finetuning.base_model": base.id,
                      "finetuning.hyperparameters": json.dumps(ft.hyperparameters,
                                                               sort_keys=True),
                      "finetuning.registered_model_name": target, KEY_PROPERTY: key}
        job = Job(
            name=ft.name, type=FINETUNING_TYPE, command=_command(ft.name, inputs),
            display_name=ft.display_name, experiment_name=ft.experiment_name or "Default",
            description=ft.description, tags=dict(ft.tags), properties=properties,
            compute=ft.compute or "local",
            inputs={"model": JobInput(type=ft.model.type, path=base.id, mode="direct"),
                    **inputs},
            outputs={REGISTERED_MODEL: JobOutput(type="uri_folder", path=output)},
            environment_variables={CONFIG_ENV: json.dumps(config, sort_keys=True)},
            is_deterministic=False, submitter=submitter,
            definition={"finetuning": to_plain(ft), "base_model": base.id,
                        "base_model_name": base.name, "registered_model_name": target,
                        "data": {k: v.path for k, v in
                                 (("training_data", ft.training_data),
                                  ("validation_data", ft.validation_data)) if v is not None}})
        created = self.jobs.record(workspace, job)
        self.orchestrator.submitted(workspace, created)
        return created

    def checkpoint_key(self, workspace: str, base: Model, info: LanguageModelInfo, task: str,
                       inputs: dict[str, JobInput], hyperparameters: dict[str, Any]) -> str:
        """What makes two trainings the same one (so the second resumes the first's
        checkpoints): workspace, base model and its files, task, data content, the parsed
        hyperparameters (defaults included, so ``"1"`` and ``"1.0"`` epochs are one key)."""
        facts = {"workspace": workspace, "model": base.id, "files": str(info.path),
                 "task": task, "hyperparameters": hyperparameters,
                 "data": {k: self._digest(workspace, inp.path or "")
                          for k, inp in sorted(inputs.items())}}
        text = json.dumps(facts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def _digest(self, workspace: str, path: str) -> str:
        if is_azureml_uri(path) or is_remote_uri(path):
            return self.hasher.digest(workspace, path)
        h = hashlib.sha256()
        with open(local_path_of(path), "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()

    def _base_model(self, workspace: str, ft: FineTuningJob) -> tuple[Model, LanguageModelInfo]:
        ref = ft.model.path or ""
        try:
            base, info = self.models.language_model(workspace, ref)
        except NotFoundError as exc:
            raise NotFoundError(f"model {ref}: {exc.message}") from None
        except UnsupportedError as exc:
            raise UnsupportedError(f"model {ref}: {exc.message}") from None
        except InvalidInputError as exc:
            raise InvalidInputError(f"model {ref}: {exc.message}; fine-tuning needs a "
                                    "language model") from None
        what = f"model {ref}"
        if info.format == FORMAT_ADAPTER:
            raise InvalidInputError(f"{what} is a LoRA adapter (of {info.base_model or 'another'}"
                                    " model); fine-tune its base model instead")
        if info.task == TASK_EMBEDDINGS:
            raise InvalidInputError(f"{what} is an embeddings model; fine-tuning trains "
                                    "chat and text-generation (causal) language models")
        # A GGUF model is fine-tuned through the trainable copy the training converts once.
        if not info.fine_tunable and info.format != FORMAT_GGUF:
            raise InvalidInputError(f"{what} ({info.architecture or 'unknown architecture'}) "
                                    "is not a causal language model, which LoRA fine-tuning "
                                    "needs")
        if ft.task == "chat_completion" and info.task != TASK_CHAT:
            raise InvalidInputError(f"{what} has no chat template, which task chat_completion "
                                    "needs to format the conversations; use task "
                                    "text_completion, or a chat model")
        needed = _TRAINING_PACKAGES + (("gguf",) if info.format == FORMAT_GGUF else ())
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        if missing:
            raise UnsupportedError(f"fine-tuning needs the Python package(s) "
                                   f"{', '.join(missing)} in the server's environment; install "
                                   "them with: pip install 'ember-ml[finetune]'")
        return base, info

    def _data(self, workspace: str, ft: FineTuningJob) -> dict[str, JobInput]:
        """The data inputs resolved as any job's (an asset to its path; a datastore URI must
        exist), each one file."""
        given = {"training_data": ft.training_data, "validation_data": ft.validation_data}
        inputs = {k: replace(v, mode=v.mode or "ro_mount") for k, v in given.items()
                  if v is not None}
        for key, inp in inputs.items():
            path = inp.path or ""
            if not path.startswith("azureml:") and not is_remote_uri(path):
                local = Path(local_path_of(path))
                if not local.is_absolute() or not local.is_file():
                    raise InvalidInputError(
                        f"{key}: {path} is not a file on the server (the CLI and SDK upload a "
                        "local file; over REST give a data asset or a datastore URI)")
        shell = Job(name=ft.name, command="", inputs=inputs)
        self.jobs.resolve_inputs(workspace, shell)
        for key, inp in shell.inputs.items():
            if inp.path and is_azureml_uri(inp.path):
                store, rel = self.jobs.datastores.locate_uri(workspace, inp.path,
                                                             self.jobs.output_uri)
                if store.isdir(rel):
                    raise InvalidInputError(f"{key}: {inp.path} is a folder; the data is one "
                                            "jsonl file")
        return shell.inputs

    def _refuse_same_training(self, workspace: str, key: str) -> None:
        for ws, job in self.jobs.list_in_status(_ACTIVE, with_history=False):
            if ws == workspace and job.type == FINETUNING_TYPE and \
                    job.properties.get(KEY_PROPERTY) == key:
                raise ConflictError(
                    f"fine-tuning job {job.name!r} is training the same model on the same data "
                    "with the same hyperparameters, and the two would share its checkpoints; "
                    "wait for it, or cancel it (this job then resumes from its checkpoints)")


def _command(name: str, inputs: dict[str, JobInput]) -> str:
    validation = (' --validation-data "${{inputs.validation_data}}"'
                  if "validation_data" in inputs else "")
    return ('python -m ember.engine.finetuning_config --training-data '
            f'"${{{{inputs.training_data}}}}"{validation} --output-dir '
            f'"${{{{outputs.{REGISTERED_MODEL}}}}}" --out {CONFIG_FILE} && '
            # The training's metrics go to the fine-tuning job's run, the one users look at
            # (the training job's run keeps its log).
            f"MLFLOW_RUN_ID={name} python -m ember.finetune.train --config {CONFIG_FILE}")


class FineTuningDriver(Driver):
    """Runs a fine-tuning job: its training child, then the registration of the result."""

    def __init__(self, jobs: JobService, models: ModelService,
                 orchestrator: Orchestrator) -> None:
        self.jobs = jobs
        self.models = models
        self.orchestrator = orchestrator

    def advance(self, workspace: str, job: Job) -> list[str]:
        child_name = training_job_name(job.name)
        if job.status == JobStatus.CANCEL_REQUESTED:
            reason = job.status_history[-1].reason if job.status_history else ""
            self.cancel(workspace, job, reason)
            return [child_name]
        if job.status == JobStatus.QUEUED:
            self.jobs.move(workspace, job.name, JobStatus.RUNNING,
                           allowed_from=frozenset({JobStatus.QUEUED}))
        child = self._child(workspace, job)
        if child is None or child.status not in JobStatus.TERMINAL:
            return [child_name]
        if child.status == JobStatus.COMPLETED:
            self._register(workspace, job)
        elif child.status == JobStatus.CANCELED:
            self.jobs.move(workspace, job.name, JobStatus.CANCELED,
                           allowed_from=frozenset({JobStatus.RUNNING}),
                           reason=f"its training job {child.name} was canceled")
        else:
            self.jobs.move(workspace, job.name, JobStatus.FAILED,
                           allowed_from=frozenset({JobStatus.RUNNING}),
                           reason=f"its training job {child.name} failed",
                           error=training_error(self.jobs, workspace, child))
        return [child_name]

    def _child(self, workspace: str, job: Job) -> Job | None:
        """The training job, recorded on the first look (None when it could not be: the
        fine-tuning job is then Failed)."""
        name = training_job_name(job.name)
        try:
            return self.jobs.get(workspace, name, with_history=False)
        except NotFoundError:
            pass
        child = Job(name=name, command=job.command, type="command",
                    display_name=f"{job.display_name or job.name} (training)",
                    experiment_name=job.experiment_name, experiment_id=job.experiment_id,
                    parent_job_name=job.name, step_name="train", compute=job.compute,
                    inputs={k: replace(v) for k, v in job.inputs.items() if k != "model"},
                    outputs={k: replace(o) for k, o in job.outputs.items()},
                    environment_variables=dict(job.environment_variables),
                    is_deterministic=False)
        self.orchestrator.adopt(workspace, job.name, name)
        try:
            self.jobs.check(workspace, child)
            self.jobs.resolve_outputs(child)
            return self.jobs.record(workspace, child)
        except ConflictError:
            pass   # recorded by an earlier look (before a restart)
        except EmberError as exc:
            self.jobs.move(workspace, job.name, JobStatus.FAILED,
                           allowed_from=frozenset({JobStatus.RUNNING}),
                           reason="the training job could not start", error=exc.message)
            return None
        found = self.jobs.get(workspace, name, with_history=False)
        if found.parent_job_name != job.name:
            self.jobs.move(workspace, job.name, JobStatus.FAILED,
                           allowed_from=frozenset({JobStatus.RUNNING}),
                           reason="the training job could not start",
                           error=f"a job named {name!r} exists and is not this job's training")
            return None
        return found

    def _register(self, workspace: str, job: Job) -> None:
        """Register what the training wrote, then end the job: Completed only once its model
        is registered; Failed, saying why, when it cannot be."""
        if not self.jobs.move(workspace, job.name, JobStatus.FINALIZING,
                              allowed_from=frozenset({JobStatus.RUNNING}),
                              reason="registering the fine-tuned model"):
            if self.jobs.get_status(workspace, job.name) != JobStatus.FINALIZING:
                return   # cancelled meanwhile (a restart finds it Finalizing: go on)
        try:
            registered = register_outputs(self.jobs, self.models, workspace, job)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the job must end saying so
            if not isinstance(exc, EmberError):
                log.exception("registering the result of %s failed", job.name)
            why = exc.message if isinstance(exc, EmberError) else f"internal error: {exc}"
            self.jobs.move(workspace, job.name, JobStatus.FAILED,
                           allowed_from=frozenset({JobStatus.FINALIZING}),
                           reason="the fine-tuned model could not be registered",
                           error=f"the training completed but its result could not be "
                                 f"registered: {why}")
            return
        job.properties = {**job.properties, **registered}
        self.jobs.update(workspace, job)
        self.jobs.move(workspace, job.name, JobStatus.COMPLETED,
                       allowed_from=frozenset({JobStatus.FINALIZING}),
                       reason="registered " + ", ".join(registered.values()))

    def cancel(self, workspace: str, job: Job, reason: str) -> None:
        child = training_job_name(job.name)
        try:
            if self.jobs.get_status(workspace, child) not in JobStatus.TERMINAL:
                self.jobs.cancel(workspace, child, reason="its fine-tuning job was canceled")
        except (NotFoundError, ConflictError):
            pass   # never started, or it ended meanwhile
        self.jobs.move(workspace, job.name, JobStatus.CANCELED, reason=reason,
                       allowed_from=frozenset({JobStatus.CANCEL_REQUESTED}))
