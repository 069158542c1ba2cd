"""The pieces around Hugging Face's ``Trainer``: LoRA, arguments, batches, progress and metrics.

Metrics go to the job's MLflow run through a callback, not ``report_to="mlflow"``: the job runner
has already created the run (``MLFLOW_RUN_ID``), and Hugging Face's integration would start runs
of its own. The metric names are the Trainer's (``loss``, ``eval_loss``, ``learning_rate``,
``epoch``), logged with the global step.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ember.finetune._deps import require

MLFLOW_KEYS = ("loss", "eval_loss", "learning_rate", "epoch")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete checkpoint (one whose trainer state was written), if any."""
    if not checkpoint_dir.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in checkpoint_dir.iterdir()
             if (m := _CHECKPOINT.match(p.name)) and (p / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def with_lora(model: Any, hp: dict[str, Any]) -> Any:
    """``model`` wrapped with trainable LoRA matrices on its attention projections."""
    peft = require("peft")
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in names] or None   # None: peft's per-model default
    config = peft.LoraConfig(r=hp["lora_r"], lora_alpha=hp["lora_alpha"],
                             lora_dropout=hp["lora_dropout"], target_modules=targets,
                             task_type="CAUSAL_LM")
    return peft.get_peft_model(model, config)


def use_bf16(hp: dict[str, Any]) -> bool:
    torch = require("torch")
    return bool(hp["precision"] == "16" and torch.cuda.is_available()
                and torch.cuda.is_bf16_supported())


def training_arguments(hp: dict[str, Any], checkpoint_dir: Path, evaluate: bool) -> Any:
    transformers = require("transformers")
    torch = require("torch")
    strategy = {"disable": "no"}.get(hp["evaluation_strategy"], hp["evaluation_strategy"])
    return transformers.TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=hp["num_train_epochs"], max_steps=hp["max_steps"],
        per_device_train_batch_size=hp["per_device_train_batch_size"],
        per_device_eval_batch_size=hp["per_device_eval_batch_size"],
        learning_rate=hp["learning_rate"], warmup_steps=hp["warmup_steps"],
        weight_decay=hp["weight_decay"], adam_beta1=hp["adam_beta1"],
        adam_beta2=hp["adam_beta2"], adam_epsilon=hp["adam_epsilon"],
        gradient_accumulation_steps=hp["gradient_accumulation_steps"],
        lr_scheduler_type=hp["lr_scheduler_type"], optim=hp["optim"], seed=hp["seed"],
        max_grad_norm=hp["max_grad_norm"],
        logging_strategy="steps", logging_steps=hp["logging_steps"], logging_first_step=True,
        save_strategy="steps", save_steps=hp["save_steps"],
        save_total_limit=None if hp["save_total_limit"] == -1 else hp["save_total_limit"],
        eval_strategy=strategy if evaluate else "no", eval_steps=hp["eval_steps"],
        bf16=use_bf16(hp), report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", label_names=["labels"],
        dataloader_pin_memory=torch.cuda.is_available(), remove_unused_columns=False,
    )


class PadCollator:
    """Pads a batch to its longest sequence: pad id for inputs, -100 for labels."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        torch = require("torch")
        width = max(len(row["input_ids"]) for row in rows)
        ids, labels, mask = [], [], []
        for row in rows:
            pad = width - len(row["input_ids"])
            ids.append(row["input_ids"] + [self.pad_token_id] * pad)
            labels.append(row["labels"] + [-100] * pad)
            mask.append([1] * len(row["input_ids"]) + [0] * pad)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}


def callbacks(progress: Callable[[str], None], mlflow_run_id: str | None) -> list[Any]:
    """Progress lines always; MLflow metrics when the job has a run to log them to."""
    transformers = require("transformers")

    class Progress(transformers.TrainerCallback):  # type: ignore[misc, name-defined]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress(f"training: {state.max_steps} steps, {args.num_train_epochs:g} epoch(s)")

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kw: Any) -> None:
            logs = logs or {}
            if "eval_loss" in logs:
                progress(f"eval at step {state.global_step}: eval_loss {logs['eval_loss']:.4f}")
            elif "loss" in logs:
                progress(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} "
                         f"learning_rate {logs.get('learning_rate', 0):.3g} "
                         f"epoch {logs.get('epoch', 0):.2f}")

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress(f"saved checkpoint-{state.global_step}")

    found: list[Any] = [Progress()]
    if mlflow_run_id:
        found.append(_mlflow_callback(transformers, mlflow_run_id))
    return found


def _mlflow_callback(transformers: Any, run_id: str) -> Any:
    mlflow = require("mlflow")
    from mlflow.entities import Metric

    client = mlflow.MlflowClient()     # MLFLOW_TRACKING_URI from the job's environment

    class MlflowMetrics(transformers.TrainerCallback):  # type: ignore[misc, name-defined]
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kw: Any) -> None:
            now, logs = int(time.time() * 1000), logs or {}
            metrics = [Metric(key, float(logs[key]), now, state.global_step)
                       for key in MLFLOW_KEYS if key in logs]
            if metrics:
                client.log_batch(run_id, metrics=metrics)

    return MlflowMetrics()


def mlflow_run_id(enabled: bool) -> str | None:
    return (os.environ.get("MLFLOW_RUN_ID") or None) if enabled else None
