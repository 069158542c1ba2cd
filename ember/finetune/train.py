"""The fine-tuning job's entry point: ``python -m ember.finetune.train --config <file.json>``.

The job runner writes the config (see :mod:`ember.finetune._config`) and runs this module in the
job's process. The order is chosen so mistakes cost seconds, not the minutes a model takes to
load: config and hyperparameters, then every data line, then the tokenizer (length checks), and
only then the model. A bad config or data file ends the process with one error line and exit
status 2, without a traceback and without creating the output folder.

Training is a PEFT LoRA on the attention projections with Hugging Face's ``Trainer``; checkpoints
go to ``checkpoint_dir`` every ``save_steps``, and a re-run of the same job resumes from the last
one. Results in ``output_dir``:

    adapter/          PEFT adapter (adapter_config.json names the trainable base folder)
    merged/           base + adapter merged, with the tokenizer (when merge_lora_weights)
    adapter.gguf      the adapter for llama.cpp (Llama(model_path=base.gguf, lora_path=…))
    finetune.json     what was trained, on what, how long, and the losses
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError, UnsupportedError
from ember.finetune._cli import one_line_errors
from ember.finetune._config import FinetuneConfig
from ember.finetune._deps import require
from ember.finetune._hyperparameters import parse_hyperparameters
from ember.finetune._trainer import (PadCollator, callbacks, last_checkpoint, mlflow_run_id,
                                     training_arguments, use_bf16, with_lora)
from ember.finetune._tokenize import encode
from ember.finetune.data import read_examples, split_validation

__all__ = ["FinetuneConfig", "main", "run"]
MAX_SEQ_LENGTH_CAP = 2048     # Azure's max_seq_length -1: the model's positions, at most this


def run(config: FinetuneConfig, *, extra_callbacks: Sequence[Any] = (),
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train ``config``'s LoRA adapter and write its outputs; returns finetune.json's content.
    ``extra_callbacks`` are Hugging Face ``TrainerCallback``s added to the trainer."""
    say = progress or _print
    started = time.monotonic()
    hp = parse_hyperparameters(config.hyperparameters)
    keys = {"text_key": hp["text_key"], "ground_truth_key": hp["ground_truth_key"]}
    train_examples = read_examples(config.training_data, config.task, **keys)
    training_lines = len(train_examples)
    if config.validation_data is not None:
        val_examples = read_examples(config.validation_data, config.task, **keys)
    else:
        train_examples, val_examples = split_validation(train_examples, hp["seed"], say)
    say(f"data: {len(train_examples)} training and {len(val_examples)} validation examples")

    base_dir = _trainable_base(config, say)
    transformers = require("transformers")
    torch = require("torch")
    _set_threads(torch, os.environ.get("EMBER_FINETUNE_THREADS", ""))
    if hp["precision"] == "16" and not use_bf16(hp):
        say("precision 16 trains in bfloat16 on a GPU only; training in float32 here")
    transformers.utils.logging.disable_progress_bar()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base_dir))
    max_len = _max_seq_length(hp["max_seq_length"], base_dir)
    truncate = hp["truncate_long_sequences"]
    train_enc = encode(train_examples, tokenizer, config.task, max_len, truncate=truncate,
                       log=say)
    val_enc = encode(val_examples, tokenizer, config.task, max_len, truncate=truncate,
                     split="validation", log=say)

    say(f"loading {base_dir.name}…")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base_dir),
                                                              dtype=torch.float32)
    model = with_lora(model, hp)
    trainable, total = model.get_nb_trainable_parameters()
    say(f"LoRA r={hp['lora_r']} alpha={hp['lora_alpha']:g}: {trainable:,} trainable of "
        f"{total:,} parameters")
    checkpoint_dir = Path(config.checkpoint_dir or config.output_dir / "checkpoints")
    resume = last_checkpoint(checkpoint_dir)
    pad_id = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None),
                  0)   # padded positions are masked out of attention and loss: any id will do
    trainer = transformers.Trainer(
        model=model, args=training_arguments(hp, checkpoint_dir, bool(val_enc.rows)),
        train_dataset=train_enc.rows, eval_dataset=val_enc.rows or None,
        data_collator=PadCollator(pad_id),
        callbacks=[*callbacks(say, mlflow_run_id(config.mlflow)), *extra_callbacks])
    # Our Progress callback writes the job's log lines; the Trainer's own printer would add a
    # raw dict per log event.
    trainer.remove_callback(transformers.PrinterCallback)
    tokens_before = 0
    if resume is not None:
        say(f"resuming from {resume.name}")
        tokens_before = json.loads((resume / "trainer_state.json").read_text()).get(
            "num_input_tokens_seen", 0)
    train_started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    train_seconds = time.monotonic() - train_started

    outputs = _write_outputs(config, hp, model, tokenizer, base_dir, say)
    history = trainer.state.log_history
    tokens = int(trainer.state.num_input_tokens_seen)
    result = {
        "task": config.task,
        "base_model": str(config.base_model_path),
        "trainable_base_model": str(base_dir),
        "hyperparameters": hp,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "resumed_from": resume.name if resume else None,
        "train_loss_first": _first(history, "loss"), "train_loss_last": _last(history, "loss"),
        "eval_loss_first": _first(history, "eval_loss"),
        "eval_loss_last": _last(history, "eval_loss"),
        "train_tokens": tokens,
        "tokens_per_second": round((tokens - tokens_before) / train_seconds, 1)
        if train_seconds else None,
        "train_seconds": round(train_seconds, 2),
        "seconds": round(time.monotonic() - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "data": {"training_lines": training_lines, "training_examples": len(train_enc.rows),
                 "validation_examples": len(val_enc.rows),
                 "validation_split_from_training": config.validation_data is None,
                 "max_seq_length": max_len, "truncated_sequences": train_enc.truncated
                 + val_enc.truncated, "dropped_sequences": train_enc.dropped + val_enc.dropped},
        "outputs": outputs,
    }
    (config.output_dir / "finetune.json").write_text(json.dumps(result, indent=2))
    say(f"finished: {result['steps']} steps in {train_seconds:.1f} s, loss "
        f"{result['train_loss_first']} → {result['train_loss_last']}")
    return result


def _set_threads(torch: Any, threads: str) -> None:
    if not threads:
        return
    if not threads.isdigit() or int(threads) < 1:
        raise InvalidInputError(f"EMBER_FINETUNE_THREADS must be a positive whole number, "
                                f"not '{threads}'")
    torch.set_num_threads(int(threads))


def _trainable_base(config: FinetuneConfig, say: Callable[[str], None]) -> Path:
    base = config.base_model_path
    if config.base_is_gguf:
        if config.conversion_cache is None:
            raise InvalidInputError("config: conversion_cache is needed to train a .gguf base "
                                    "model")
        from ember.finetune.convert import trainable_copy
        return trainable_copy(base, config.conversion_cache, progress=say)
    if not (base / "config.json").is_file():
        raise InvalidInputError(f"base model {base} is neither a .gguf file nor a Hugging Face "
                                f"folder with a config.json")
    return base


def _max_seq_length(requested: int, base_dir: Path) -> int:
    config = json.loads((base_dir / "config.json").read_text())
    positions = next((int(config[k]) for k in ("max_position_embeddings", "n_positions",
                                                "max_sequence_length") if config.get(k)), None)
    if requested == -1:
        return min(positions or MAX_SEQ_LENGTH_CAP, MAX_SEQ_LENGTH_CAP)
    if positions and requested > positions:
        raise InvalidInputError(f"hyperparameter max_seq_length: {requested} is more than the "
                                f"model's {positions} positions")
    return requested


def _write_outputs(config: FinetuneConfig, hp: dict[str, Any], model: Any, tokenizer: Any,
                   base_dir: Path, say: Callable[[str], None]) -> dict[str, str]:
    from ember.finetune.gguf_lora import export_gguf_lora

    out = config.output_dir
    outputs = {"adapter": str(out / "adapter")}
    model.save_pretrained(str(out / "adapter"))
    try:
        base = config.base_model_path if config.base_is_gguf else base_dir
        export_gguf_lora(out / "adapter", base, out / "adapter.gguf")
        outputs["adapter_gguf"] = str(out / "adapter.gguf")
    except UnsupportedError as exc:
        say(f"adapter.gguf not written: {exc.message}")
    if hp["merge_lora_weights"]:
        merged = model.merge_and_unload()
        merged.save_pretrained(str(out / "merged"))
        tokenizer.save_pretrained(str(out / "merged"))
        outputs["merged"] = str(out / "merged")
    say(f"wrote {', '.join(Path(p).name for p in outputs.values())} to {out}")
    return outputs


def _first(history: list[dict[str, Any]], key: str) -> float | None:
    return next((h[key] for h in history if key in h), None)


def _last(history: list[dict[str, Any]], key: str) -> float | None:
    return next((h[key] for h in reversed(history) if key in h), None)


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ember.finetune.train",
                                     description="Run a LoRA fine-tuning job.")
    parser.add_argument("--config", required=True, help="the job's JSON config file")
    args = parser.parse_args(argv)
    return one_line_errors(lambda: run(FinetuneConfig.from_json(args.config)))


if __name__ == "__main__":
    sys.exit(main())
