"""The fine-tuning job's hyperparameters: Azure's names and defaults, parsed from strings.

Azure ML passes a custom model's hyperparameters as a ``{str: str}`` map, named as in its
``chat_completion_pipeline`` component (Hugging Face ``TrainingArguments`` names, mostly). Each is
parsed and range-checked here so a bad value fails before any model is loaded, and an unknown key
fails with the known ones listed (a misspelt ``learning_rat`` silently ignored would train with the
default). Differences from Azure, all Ember's choices:

* ``apply_lora`` defaults to ``"true"`` and must stay so: Ember trains LoRA adapters.
* ``save_steps`` (Hugging Face's name; default 500) sets the checkpoint interval.
* ``truncate_long_sequences`` (Ember's own, default ``"true"``): ``"false"`` refuses a sequence
  longer than ``max_seq_length`` instead of truncating it.
* ``text_key`` / ``ground_truth_key`` (Azure's ``text_generation_pipeline`` inputs): the
  ``text_completion`` columns.
* ``precision "16"`` trains in bfloat16 on a GPU; CPUs train in float32 whatever it says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ember.errors import InvalidInputError

Parser = Callable[[str], Any]


def _integer(minimum: int, allow_minus_one: bool = False) -> Parser:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a whole number") from None
        if value < minimum and not (allow_minus_one and value == -1):
            extra = " (or -1)" if allow_minus_one else ""
            raise ValueError(f"{value} is below the minimum {minimum}{extra}")
        return value
    return parse


def _number(minimum: float, *, strict: bool = False, below: float | None = None) -> Parser:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"'{text}' is not a finite number")
        if value < minimum or (strict and value == minimum):
            raise ValueError(f"{value} must be {'above' if strict else 'at least'} {minimum}")
        if below is not None and value >= below:
            raise ValueError(f"{value} must be below {below}")
        return value
    return parse


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"'{text}' is not 'true' or 'false'")
    return lowered == "true"


def _choice(*choices: str) -> Parser:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"'{text}' is not one of {', '.join(choices)}")
        return text
    return parse


def _lora_only(text: str) -> bool:
    if not _boolean(text):
        raise ValueError("Ember fine-tunes with LoRA adapters only; leave it 'true'")
    return True


def _text(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


# name → (default as Azure writes it, parser)
SPECS: dict[str, tuple[str, Parser]] = {
    "num_train_epochs": ("1", _number(0, strict=True)),
    "max_steps": ("-1", _integer(1, allow_minus_one=True)),
    "per_device_train_batch_size": ("1", _integer(1)),
    "per_device_eval_batch_size": ("1", _integer(1)),
    "learning_rate": ("2e-5", _number(0, strict=True)),
    "warmup_steps": ("0", _integer(0)),
    "weight_decay": ("0.0", _number(0)),
    "adam_beta1": ("0.9", _number(0, below=1)),
    "adam_beta2": ("0.999", _number(0, below=1)),
    "adam_epsilon": ("1e-8", _number(0, strict=True)),
    "gradient_accumulation_steps": ("1", _integer(1)),
    "lr_scheduler_type": ("linear", _choice("linear", "cosine", "cosine_with_restarts",
                                            "polynomial", "constant", "constant_with_warmup")),
    "optim": ("adamw_torch", _choice("adamw_torch", "adafactor")),
    "seed": ("42", _integer(0)),
    "max_grad_norm": ("1.0", _number(0)),
    "logging_steps": ("10", _integer(1)),
    "save_steps": ("500", _integer(1)),
    "save_total_limit": ("-1", _integer(1, allow_minus_one=True)),
    "evaluation_strategy": ("epoch", _choice("epoch", "steps", "disable")),
    "eval_steps": ("500", _integer(1)),
    "apply_lora": ("true", _lora_only),
    "lora_r": ("8", _integer(1)),
    "lora_alpha": ("128", _number(0, strict=True)),
    "lora_dropout": ("0.0", _number(0, below=1)),
    "merge_lora_weights": ("true", _boolean),
    "max_seq_length": ("-1", _integer(1, allow_minus_one=True)),
    "precision": ("32", _choice("32", "16")),
    "truncate_long_sequences": ("true", _boolean),
    "text_key": ("text", _text),
    "ground_truth_key": ("ground_truth", _text),
}


def parse_hyperparameters(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every hyperparameter, parsed: the given ones over the defaults. Raises
    :class:`InvalidInputError` for an unknown name or a bad value."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(SPECS))
    if unknown:
        raise InvalidInputError(f"unknown hyperparameter{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(unknown)}; known: {', '.join(SPECS)}")
    parsed = {}
    for name, (default, parse) in SPECS.items():
        value = raw.get(name, default)
        text = ("true" if value else "false") if isinstance(value, bool) else str(value).strip()
        try:
            parsed[name] = parse(text)
        except ValueError as exc:
            raise InvalidInputError(f"hyperparameter {name}: {exc}") from None
    return parsed
