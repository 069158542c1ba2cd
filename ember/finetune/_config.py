"""The fine-tuning job's configuration: the JSON file its launcher writes for ``train.py``.

The launcher (the job runner) owns the Azure ML YAML; this process only gets resolved local paths
and the hyperparameters as Azure passes them (strings). Keys:

    {"task": "chat_completion" | "text_completion",
     "base_model_path": a Hugging Face folder, or a .gguf file (converted once, cached in
                        "conversion_cache"),
     "conversion_cache": folder (needed for a .gguf base),
     "training_data": file, "validation_data": file | null,
     "hyperparameters": {name: string},          see _hyperparameters.py
     "output_dir": folder for adapter/, merged/, adapter.gguf, finetune.json,
     "checkpoint_dir": folder kept across re-runs (default <output_dir>/checkpoints),
     "mlflow": true | false}                     log metrics to the job's run (MLFLOW_RUN_ID)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.finetune.data import TASKS

_REQUIRED = ("task", "base_model_path", "training_data", "output_dir")


@dataclass
class FinetuneConfig:
    task: str
    base_model_path: Path
    training_data: Path
    output_dir: Path
    validation_data: Path | None = None
    conversion_cache: Path | None = None
    checkpoint_dir: Path | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    mlflow: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InvalidInputError(f"task '{self.task}' is not supported for fine-tuning; "
                                    f"supported: {', '.join(TASKS)}")
        for name in ("base_model_path", "training_data", "output_dir", "validation_data",
                     "conversion_cache", "checkpoint_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if self.checkpoint_dir is None:
            self.checkpoint_dir = self.output_dir / "checkpoints"
        if not isinstance(self.hyperparameters, dict):
            raise InvalidInputError("config: 'hyperparameters' must be an object of strings")

    @property
    def base_is_gguf(self) -> bool:
        return self.base_model_path.suffix.lower() == ".gguf"

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> FinetuneConfig:
        if not isinstance(data, dict):
            raise InvalidInputError(f"{source}: expected a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"{source}: unknown key(s) {', '.join(unknown)}; "
                                    f"known: {', '.join(sorted(known))}")
        missing = [key for key in _REQUIRED if not data.get(key)]
        if missing:
            raise InvalidInputError(f"{source}: missing {', '.join(missing)}")
        return cls(**data)

    @classmethod
    def from_json(cls, path: Path | str) -> FinetuneConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInputError(f"cannot read config {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path.name} line {exc.lineno}: not valid JSON: "
                                    f"{exc.msg}") from None
        return cls.from_dict(data, source=path.name)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), Path) else v)
                for f in fields(self)}
