"""A fine-tuned model as an MLflow model folder: the ``mlflow_model_folder`` output of Ember's
built-in fine-tuning components (Azure's ``ft_nlp_model_converter`` step).

Azure's converter writes an ``MLmodel`` whose flavor is ``hftransformersv2`` (task, Hugging Face
classes) with the weights under ``data/model``. Ember writes the same flavor, but keeps the
Hugging Face files at the folder's top, beside ``MLmodel``: that is the layout Ember's model
registry (``type: mlflow_model`` needs a readable ``MLmodel`` with a flavor) and its
language-model deployments (a Hugging Face folder or a PEFT adapter, read where it is; no
``python_function`` flavor, so it is served as a language model rather than as a pyfunc) both
read, and ``model_prediction`` loads it as it is. The files are hard links to the ones in
``pytorch_model_folder`` where the filesystem allows (no second copy of the weights), else copies.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FLAVOR = "hftransformersv2"
TASK_TYPES = {"chat_completion": "chat-completion", "text_completion": "text-generation"}


def write_mlflow_model(model_dir: Path, dest: Path, *, task: str, base_model: str,
                       extra_metadata: dict[str, str] | None = None) -> Path:
    """Put ``model_dir`` (a merged Hugging Face folder or a PEFT adapter) into ``dest`` with an
    ``MLmodel`` file; returns the MLmodel's path."""
    dest.mkdir(parents=True, exist_ok=True)
    _link_tree(model_dir, dest)
    adapter = (model_dir / "adapter_config.json").is_file()
    config = _json(model_dir / ("adapter_config.json" if adapter else "config.json"))
    tokenizer = _json(model_dir / "tokenizer_config.json")
    flavor: dict[str, Any] = {
        "task_type": TASK_TYPES.get(task, task),
        "model_data": ".",          # Ember: the Hugging Face files are beside this file
        "peft_adapter": adapter,
    }
    architectures = config.get("architectures") or []
    if architectures:
        flavor["hf_pretrained_class"] = architectures[0]
    if config.get("model_type"):
        flavor["model_type"] = config["model_type"]
    if tokenizer.get("tokenizer_class"):
        flavor["hf_tokenizer_class"] = tokenizer["tokenizer_class"]
    try:
        from importlib.metadata import version

        flavor["transformers_version"] = version("transformers")
    except Exception:   # noqa: BLE001 - only a label
        pass   # transformers' version is a label in the MLmodel: left out when unknown
    mlmodel = {
        "flavors": {FLAVOR: flavor},
        "metadata": {"base_model_name": base_model,
                     "base_model_task": TASK_TYPES.get(task, task),
                     "finetuned_by": "ember", **(extra_metadata or {})},
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    from ruamel.yaml import YAML

    text = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(mlmodel, text)
    path = dest / "MLmodel"
    path.write_text(text.getvalue(), encoding="utf-8")
    return path


def _link_tree(src: Path, dest: Path) -> None:
    for item in sorted(src.rglob("*")):
        target = dest / item.relative_to(src)
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        try:
            os.link(item, target)
        except OSError:   # another filesystem, or one without hard links
            shutil.copy2(item, target)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
