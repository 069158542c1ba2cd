"""Which model a built-in fine-tuning component trains: Azure's three model inputs, one folder.

Azure's ``chat_completion_pipeline`` / ``text_generation_pipeline`` name the model to fine-tune in
one of three inputs: ``huggingface_id`` (downloaded from the Hub), ``pytorch_model_path`` (a
custom_model folder) or ``mlflow_model_path`` (an MLflow model folder). Ember works offline, so a
``huggingface_id`` is refused with what to do instead; the two paths are read as they are:

- a ``.gguf`` file, or a folder holding one (the catalog's models): trained through its cached
  Hugging Face copy (:mod:`ember.finetune.convert`);
- a Hugging Face folder (``config.json``) at the top of the input, or in ``model/`` or
  ``data/model/`` (MLflow's transformers flavor and Azure's older ``hftransformers`` layout),
  whose tokenizer may sit beside it in ``components/tokenizer`` or ``data/tokenizer``: then
  the two are joined, by symbolic links, into one folder the trainer can load.

A LoRA adapter folder is refused: fine-tune its base model.
"""

from __future__ import annotations

import os
from pathlib import Path

from ember.errors import InvalidInputError

MODEL_INPUTS = ("mlflow_model_path", "pytorch_model_path")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def select_model(*, huggingface_id: str | None, pytorch_model_path: str | None,
                 mlflow_model_path: str | None) -> tuple[str, Path]:
    """``(input name, path)`` of the one model input given. Raises InvalidInputError for a
    ``huggingface_id``, for none, or for both paths."""
    if huggingface_id:
        from ember.services.builtin_components import huggingface_refusal

        raise InvalidInputError(huggingface_refusal(huggingface_id))
    given = [(name, path) for name, path in (("mlflow_model_path", mlflow_model_path),
                                             ("pytorch_model_path", pytorch_model_path)) if path]
    if not given:
        raise InvalidInputError("no model to fine-tune: give mlflow_model_path (an MLflow model) "
                                "or pytorch_model_path (a Hugging Face folder or a GGUF file)")
    if len(given) > 1:
        raise InvalidInputError("give one model to fine-tune: mlflow_model_path or "
                                "pytorch_model_path, not both")
    return given[0][0], Path(given[0][1])


def locate_model(path: Path, what: str = "the model") -> Path:
    """The trainable files in ``path``: a ``.gguf`` file or a Hugging Face folder (see the
    module's notes). Raises InvalidInputError naming ``what`` when there are none."""
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return path
        raise InvalidInputError(f"{what} ({path}) is a file, but not a .gguf model")
    if not path.is_dir():
        raise InvalidInputError(f"{what} ({path}) does not exist")
    for candidate in (path, path / "model", path / "data" / "model"):
        if (candidate / "adapter_config.json").is_file():
            raise InvalidInputError(f"{what} ({candidate}) is a LoRA adapter; fine-tune its "
                                    "base model (adapter_config.json's base_model_name_or_path)")
        if (candidate / "config.json").is_file():
            return candidate
    ggufs = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    if len(ggufs) == 1:
        return ggufs[0]
    raise InvalidInputError(f"{what} ({path}) holds no model Ember can fine-tune: no .gguf file "
                            "and no Hugging Face folder (config.json) at its top, in model/ or "
                            "in data/model/")


def with_tokenizer(model_dir: Path, staging: Path) -> Path:
    """``model_dir`` when it holds its tokenizer; else a folder at ``staging`` linking the
    model's files and those of the tokenizer folder beside it (MLflow's layouts)."""
    if model_dir.suffix.lower() == ".gguf" or _has_tokenizer(model_dir):
        return model_dir
    parent = model_dir.parent
    found = next((d for d in (parent / "components" / "tokenizer", parent / "tokenizer")
                  if _has_tokenizer(d)), None)
    if found is None:
        raise InvalidInputError(f"the model in {model_dir} has no tokenizer (tokenizer.json or "
                                "tokenizer_config.json), nor one in components/tokenizer or "
                                "tokenizer beside it")
    staging.mkdir(parents=True, exist_ok=True)
    for folder in (model_dir, found):    # the tokenizer's files win a name both have
        for item in folder.iterdir():
            link = staging / item.name
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(item.resolve(), link)
    return staging


def _has_tokenizer(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for name in _TOKENIZER_FILES)
