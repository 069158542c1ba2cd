"""The LoRA adapters a language-model worker may serve, and how requests name them.

A worker's adapters are those of its config (``adapters: {name: folder}``) and those of the
adapters index the control plane keeps for its base model (``adapters_index``: the path of a
JSON file ``{"adapters": {name: folder}, "versions": {"name:version": folder}}``, see
``ember/serving/llm_adapters.py``). The file is rewritten (atomically) whenever an adapter is
registered, archived or deleted; :class:`AdapterIndex` reads it again whenever it changed, so a
running worker serves adapters registered after it started.

:class:`AdapterAwareModel` routes a request whose ``model`` names an adapter (its name, or
``<name>:<version>``) to it; a runtime that cannot load adapters (llama.cpp, embeddings) answers
such a request with a 400 that says so, rather than the base's answer under the adapter's name.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.serving.llm._api_params import ApiError
from ember.serving.llm.api import TASK_CHAT, ServedModel
from ember.serving.llm.runtime import Runtime

log = logging.getLogger("ember.serving.llm")


class AdapterIndex:
    """Adapter name -> local folder: the config's own, then the index file's (read again when
    it changes; thread-safe)."""

    def __init__(self, fixed: Mapping[str, str] | None = None,
                 path: str | Path | None = None) -> None:
        self.fixed = dict(fixed or {})
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._adapters: dict[str, str] = {}
        self._versions: dict[str, str] = {}

    @property
    def enabled(self) -> bool:
        """Whether adapters may be served at all (some named, or an index to name them)."""
        return bool(self.fixed) or self.path is not None

    def listed(self) -> dict[str, str]:
        """The adapters offered by name (``/v1/models``): name -> folder."""
        with self._lock:
            self._refresh()
            return {**self._adapters, **self.fixed}

    def find(self, name: str) -> str | None:
        """The folder of the adapter ``name`` (or ``<name>:<version>``) names, or None."""
        with self._lock:
            self._refresh()
            return self.fixed.get(name) or self._adapters.get(name) or self._versions.get(name)

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._adapters, self._versions = None, {}, {}
            return
        seen = (st.st_mtime_ns, st.st_ino, st.st_size)   # a rename gives a new inode
        if seen == self._seen:
            return
        try:
            data: Any = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("adapters index %s unreadable (%s): the previous one is kept",
                        self.path, exc)
            return
        self._seen = seen
        self._adapters = _names(data.get("adapters")) if isinstance(data, dict) else {}
        self._versions = _names(data.get("versions")) if isinstance(data, dict) else {}


def _names(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str) and v}


class AdapterAwareModel(ServedModel):
    """:class:`ServedModel` whose requests may name any adapter of the index, by name or
    ``<name>:<version>``; with a runtime that cannot load adapters, such a request is a 400."""

    def __init__(self, runtime: Runtime, name: str, task: str = TASK_CHAT, *,
                 index: AdapterIndex, loads_adapters: bool) -> None:
        super().__init__(runtime, name, task)
        self.index = index
        self.loads_adapters = loads_adapters

    def _adapter(self, data: dict[str, Any]) -> str | None:
        found = super()._adapter(data)   # a name the runtime lists (and the type check)
        if found is not None:
            return found
        model = data.get("model")
        if not model or model == self.name or self.index.find(str(model)) is None:
            return None   # the base answers any other name, as before
        if not self.loads_adapters:
            raise ApiError(
                400, f"model {model!r} is a LoRA adapter of {self.name}, and this deployment "
                f"serves {self.name} with the {self.runtime.name} runtime, which cannot load "
                "adapters: adapters need the transformers runtime (deploy the base model's "
                "Hugging Face folder with runtime transformers)", param="model",
                code="adapter_not_supported")
        return str(model)
