"""Language-model deployments: how a deployment of a language model without a scoring script
is served (online deployments and serverless endpoints alike).

Such a deployment runs ``python -m ember.serving.llm.worker`` on the server's own Python (no
environment is built) with an :class:`~ember.serving.protocol.LlmWorkerConfig`; the model's
files are used where they are (a catalog model's files are never copied). The runtime is the
deployment's ``runtime`` or the first one the model's card names; its package must be
installed in the server's Python, which is checked when the deployment is created (without
importing it: loading llama.cpp or torch takes seconds and memory the server does not need).

Every such deployment serves the LoRA adapters registered for its base model in its workspace,
those registered later included: the worker config's ``adapters_index`` is the path of the JSON
index ``serving/llm_adapters.py`` keeps for the (workspace, base); at most
``EMBER_LLM_ADAPTER_CACHE`` adapters (default 4) stay loaded in a worker at once.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ember.artifacts.store import ArtifactStore
from ember.entities.models import Model
from ember.errors import InvalidInputError, NotFoundError, UnsupportedError
from ember.finetune.convert import home_cache
from ember.serving.llm_adapters import AdapterIndexes
from ember.serving.model_files import materialize
from ember.serving.supervisor import WorkerPlan
from ember.services.language_models import (
    FORMAT_ADAPTER,
    RUNTIME_LLAMA_CPP,
    RUNTIME_TRANSFORMERS,
    LanguageModelInfo,
    inspect_model_files,
)
from ember.services.models import ModelService

WORKER_MODULE = "ember.serving.llm.worker"

THREADS_VARIABLE = "EMBER_LLM_THREADS"
MAX_SEQUENCES_VARIABLE = "EMBER_LLM_MAX_SEQUENCES"
ADAPTER_CACHE_VARIABLE = "EMBER_LLM_ADAPTER_CACHE"
DEFAULT_THREADS = 1              # per worker: instances, not threads, scale a CPU deployment
DEFAULT_MAX_SEQUENCES = 16
ADAPTER_CACHE_SIZE = 4

# runtime -> (the modules it imports, how to install them)
RUNTIME_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    RUNTIME_LLAMA_CPP: (("llama_cpp",), "pip install 'ember-ml[llm]'"),
    RUNTIME_TRANSFORMERS: (("transformers", "torch"), "pip install 'ember-ml[transformers]'"),
}


@dataclass(frozen=True)
class LanguageModel:
    """A model version whose files are a language model."""

    model: Model
    reference: str               # what a deployment records, version included
    info: LanguageModelInfo


class LanguageModels:
    """Finds the language model a reference names (workspace or catalog) and plans its
    workers."""

    def __init__(self, models: ModelService, artifacts: ArtifactStore, home: Path) -> None:
        self.models = models
        self.artifacts = artifacts
        self.home = home
        self.adapters = AdapterIndexes(models, self.files, home)
        models.subscribe(self.adapters.on_model_change)

    def find(self, workspace: str, reference: str) -> LanguageModel | None:
        """The language model ``reference`` names, or None when its files are not one (or it is
        an MLflow model with the python_function flavor, which is served as MLflow, as
        before). Raises NotFoundError for an unknown model, InvalidInputError for files that
        claim to be a language model but are broken."""
        model = self.models.resolve(workspace, reference)
        if model.type == "mlflow_model" and "python_function" in model.flavors:
            return None
        info = inspect_model_files(self.files(workspace, model))
        if info is None:
            return None
        return LanguageModel(model, model.id, info)

    def files(self, workspace: str, model: Model) -> Path:
        """The model's files on this machine: a catalog model's where its package put them, a
        workspace model's in a local artifact store, else a copy downloaded once (as for
        other deployments)."""
        local = self.models.local_path(workspace, model)
        if local is not None:
            return local
        if model.in_catalog:
            raise NotFoundError(f"model {model.id}: its files are not on this machine")
        return Path(materialize(self.artifacts, self.home, workspace, model)[1])

    def plan(self, workspace: str, endpoint: str, deployment: str, lm: LanguageModel, *,
             runtime: str, environment_variables: Mapping[str, str], request_timeout_ms: int,
             memory_limit_mb: int | None, revision: int) -> WorkerPlan:
        """The worker plan of a language-model deployment (see ``protocol.LlmWorkerConfig``)."""
        settings = llm_settings(f"deployment {deployment!r}", environment_variables)
        info = lm.info
        config: dict[str, Any] = {
            "workspace": workspace, "endpoint": endpoint, "deployment": deployment,
            "kind": "llm", "environment_variables": dict(environment_variables),
            "request_timeout_ms": request_timeout_ms,
            "model_name": lm.model.name, "model_path": str(info.path), "runtime": runtime,
            "task": info.task, "context_length": info.context_length,
            "threads": settings.threads, "max_sequences": settings.max_sequences,
            "adapters": {}, "adapter_cache_size": settings.adapter_cache_size,
            "adapters_index": str(self.adapters.write(workspace, lm.model)),
            "conversion_cache": str(home_cache(self.home))}
        return WorkerPlan(argv=[sys.executable, "-m", WORKER_MODULE],
                          env={"PYTHONUNBUFFERED": "1"}, config=config, cwd=None,
                          memory_limit_mb=memory_limit_mb, revision=revision)


def choose_runtime(what: str, lm: LanguageModel, requested: str | None, *,
                   packages: Mapping[str, tuple[tuple[str, ...], str]] = RUNTIME_PACKAGES
                   ) -> str:
    """The runtime that will serve ``lm``: ``requested`` when the model allows it, else the
    card's default. Raises InvalidInputError for a runtime the model cannot use, and
    UnsupportedError for a LoRA adapter (not served alone yet) or naming the pip command when
    the runtime's package (``packages``: runtime -> modules, install command) is missing."""
    if lm.info.format == FORMAT_ADAPTER:
        base = f" (its base: {lm.info.base_model})" if lm.info.base_model else ""
        raise UnsupportedError(
            f"{what}: model {lm.reference} is a LoRA adapter{base}, which is not deployed "
            "alone: deploy its base model (with the transformers runtime), whose deployments "
            "serve every adapter registered with a base_model tag naming it (requests with "
            "\"model\": \"<adapter name>\")")
    runtimes = lm.info.runtimes
    if requested:
        if requested not in runtimes:
            raise InvalidInputError(
                f"{what}: runtime {requested!r} cannot serve model {lm.reference} (a "
                f"{lm.info.format} model); use {' or '.join(runtimes)}")
        runtime = requested
    elif runtimes:
        runtime = runtimes[0]
    else:
        raise InvalidInputError(f"{what}: no runtime can serve model {lm.reference}")
    modules, install = packages.get(runtime, ((), ""))
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UnsupportedError(
            f"{what}: the {runtime} runtime needs the Python package "
            f"{', '.join(missing)}, which the server's Python does not have; install it "
            f"where the server runs ({install}) and restart the server")
    return runtime


class LlmSettings(NamedTuple):
    threads: int
    max_sequences: int
    adapter_cache_size: int


def llm_settings(what: str, environment_variables: Mapping[str, str]) -> LlmSettings:
    """The worker settings a deployment's environment variables give: ``EMBER_LLM_THREADS``,
    ``EMBER_LLM_MAX_SEQUENCES`` and ``EMBER_LLM_ADAPTER_CACHE`` (defaults 1, 16 and 4). Raises
    InvalidInputError for a value that is not a whole number >= 1."""
    def read(name: str, default: int) -> int:
        text = environment_variables.get(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise InvalidInputError(f"{what}: environment variable {name} must be a whole "
                                    f"number >= 1, not {text!r}")
        return value
    return LlmSettings(read(THREADS_VARIABLE, DEFAULT_THREADS),
                       read(MAX_SEQUENCES_VARIABLE, DEFAULT_MAX_SEQUENCES),
                       read(ADAPTER_CACHE_VARIABLE, ADAPTER_CACHE_SIZE))
