"""The adapters index: which LoRA adapters the deployments of a base language model serve.

An adapter is a workspace model whose files are a PEFT adapter and whose ``base_model`` tag is a
model reference (``azureml:<name>:<version>``, ``azureml:<name>``, ``azureml:<name>@<alias>``
or a catalog ``azureml://registries/azureml/models/...``) that resolves to the deployed base: a
reference that names a version (or an alias) matches that version only, one that names no
version (or ``@latest``) matches every version of the model. Every language-model deployment of
a base (online deployment or serverless endpoint) serves all adapters of that base registered
in its workspace, those registered after it started included, with no restart:

- one JSON file per (workspace, base model version),
  ``<home>/serving/llm-adapters/<workspace>/<base>.json``::

      {"base": "<the base's model id>",
       "adapters": {"<adapter name>": "<local folder of its latest version>"},
       "versions": {"<adapter name>:<version>": "<local folder>"}}

  written atomically (a temporary file renamed over it) when a deployment's worker plan is made
  (``LanguageModels.plan`` puts its path in the worker config as ``adapters_index``) and again
  after every change of a model of the workspace (``ModelService.subscribe``): a registered,
  archived, restored, re-tagged or deleted adapter is in or out of every index of its workspace
  before the call that changed it returns;
- the worker re-reads the file when it changes (``serving/llm/adapter_index.py``): requests
  name an adapter by its registered name (its latest version) or ``<name>:<version>``, it is
  loaded on first use, and ``/v1/models`` lists the adapters of the index (loaded or not).

A base served by llama.cpp (a GGUF file) cannot load adapters: its worker answers a request
naming one of its adapters with a 400 that says adapters need the transformers runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from ember.entities.models import Model
from ember.errors import EmberError
from ember.services.language_models import FORMAT_ADAPTER, inspect_model_files
from ember.services.model_catalog import is_registry_reference, parse_registry_reference
from ember.services.models import LATEST, ModelChange, ModelService

log = logging.getLogger("ember.serving")
BASE_MODEL_TAG = "base_model"
ModelFiles = Callable[[str, Model], Path]   # (workspace, version) -> its files on this machine


class AdapterIndexes:
    """Writes the adapters index of each (workspace, base model version) a deployment serves."""

    def __init__(self, models: ModelService, files: ModelFiles, home: Path) -> None:
        self.models = models
        self.files = files
        self.root = home / "serving" / "llm-adapters"
        self._lock = threading.Lock()   # one writer at a time: the last one saw the newest state

    def path(self, workspace: str, base: Model) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{base.registry or 'ws'}-{base.name}-"
                      f"{base.version}")[:80]
        digest = hashlib.sha256(base.id.encode()).hexdigest()[:12]
        return self.root / workspace / f"{slug}-{digest}.json"

    def write(self, workspace: str, base: Model) -> Path:
        """Write (or rewrite) the index of ``base``'s deployments in ``workspace``; its path."""
        with self._lock:
            return self._write(workspace, base)

    def on_model_change(self, event: ModelChange) -> None:
        """Rewrite every index of the workspace (a changed model may be an adapter, or a base
        whose alias moved); nothing to do where no language model was ever deployed."""
        folder = self.root / event.workspace
        if not folder.is_dir():
            return
        with self._lock:
            for index in sorted(folder.glob("*.json")):
                try:
                    base_id = json.loads(index.read_text()).get("base")
                    base = self.models.resolve(event.workspace, str(base_id))
                except (OSError, ValueError, AttributeError, EmberError) as exc:
                    log.warning("adapters index %s: its base is gone (%s); left as it is",
                                index, exc)
                    continue
                self._write(event.workspace, base)

    def _write(self, workspace: str, base: Model) -> Path:
        adapters, versions = self._adapters_of(workspace, base)
        target = self.path(workspace, base)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        temp.write_text(json.dumps({"base": base.id, "adapters": adapters,
                                    "versions": versions}, indent=1, sort_keys=True))
        os.replace(temp, target)
        return target

    def _adapters_of(self, workspace: str, base: Model) -> tuple[dict[str, str], dict[str, str]]:
        """({name: folder of the latest version}, {"name:version": folder}) of the adapters of
        ``base`` (versions not archived, newest first as the store lists them)."""
        adapters: dict[str, str] = {}
        versions: dict[str, str] = {}
        for model in self.models.list_versions(workspace):
            reference = model.tags.get(BASE_MODEL_TAG)
            if model.type != "custom_model" or not reference or not self._matches(
                    workspace, reference, base):
                continue
            folder = self._adapter_folder(workspace, model)
            if folder is None:
                continue
            versions[f"{model.name}:{model.version}"] = folder
            adapters.setdefault(model.name, folder)
        return adapters, versions

    def _matches(self, workspace: str, reference: str, base: Model) -> bool:
        try:
            resolved = self.models.resolve(workspace, reference)
        except EmberError:
            return False   # a Hugging Face id, a deleted base: no deployment of ours
        if (resolved.registry or "", resolved.name) != (base.registry or "", base.name):
            return False
        return not pinned(reference) or str(resolved.version) == str(base.version)

    def _adapter_folder(self, workspace: str, model: Model) -> str | None:
        try:
            files = self.files(workspace, model)
            info = inspect_model_files(files)
        except (EmberError, OSError) as exc:
            log.warning("model %s: its files cannot be read as an adapter: %s", model.id, exc)
            return None
        if info is None or info.format != FORMAT_ADAPTER:
            return None   # a full model that names the model it was fine-tuned from
        return str(info.path)


def pinned(reference: str) -> bool:
    """Whether a model reference names one version (a number or an alias other than latest),
    rather than whatever the latest version is."""
    if is_registry_reference(reference):
        try:
            reg = parse_registry_reference(reference)
        except EmberError:
            return True
        return reg.version is not None or (reg.label not in (None, "", LATEST))
    ref = reference.removeprefix("azureml:")
    if "@" in ref:
        return ref.partition("@")[2] != LATEST
    return bool(ref.partition(":")[2])

