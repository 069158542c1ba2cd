"""``python -m ember.finetune.finetune_component``: Ember's built-in ``chat_completion_finetune``
and ``text_generation_finetune`` components (the training step of the fine-tuning pipelines, and
a trial of a sweep over their hyperparameters).

One step does what Azure's ``*_finetune`` and ``ft_nlp_model_converter`` do:

1. the model inputs (:mod:`ember.finetune._base_model`) and every data line are checked, and 10 %
   of the training lines split off for validation when no validation file is given;
2. a LoRA adapter is trained with :func:`ember.finetune.train.run` (loss, eval loss and learning
   rate logged to the step's MLflow run), checkpoints kept in the job's working folder;
3. outputs: ``--pytorch-model-folder`` gets ``adapter/``, ``merged/`` (when
   ``merge_lora_weights``), ``adapter.gguf`` and ``finetune.json``; ``--mlflow-model-folder``
   the merged model (else the adapter) as an MLflow model (:mod:`ember.finetune.mlflow_folder`).

Arguments: ``--hp name=value`` for each of Ember's hyperparameters (Azure's names, see
:mod:`ember.finetune._hyperparameters`), and ``--unused name=value`` for the Azure inputs Ember
accepts and has no use for (DeepSpeed, ORT, early stopping...): the log names those set to
anything but Azure's default. ``apply_lora 'false'`` (Azure's default, a full fine-tune) trains a
LoRA adapter all the same, merged into the model: the log says so. A GGUF base is converted once
into ``$EMBER_HOME/finetune/trainable`` (the cache deployments share). A failure prints one line
and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ember.errors import InvalidInputError
from ember.finetune._cli import one_line_errors
from ember.finetune._base_model import locate_model, select_model, with_tokenizer
from ember.finetune.data import TASKS

# Azure inputs that Ember accepts and does not use, with Azure's defaults.
UNUSED_DEFAULTS = {
    "auto_find_batch_size": "false", "eval_accumulation_steps": "-1",
    "enable_full_determinism": "false", "dataloader_num_workers": "0",
    "ignore_mismatched_sizes": "false", "evaluation_steps_interval": "0.0",
    "logging_strategy": "steps", "metric_for_best_model": "loss",
    "resume_from_checkpoint": "false", "apply_early_stopping": "false",
    "early_stopping_patience": "1", "early_stopping_threshold": "0.0",
    "apply_deepspeed": "false", "deepspeed_stage": "2", "apply_ort": "false",
    "pad_to_max_length": "false", "trust_remote_code": "false",
    "number_of_gpu_to_use_finetuning": "1",
}


def _say(line: str) -> None:
    print(f"[ember] {line}", flush=True)


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInputError(f"{flag} {item!r}: expected name=value")
        out[name] = value
    return out


def _same(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a.strip().lower() == b.strip().lower()


def conversion_cache(cwd: Path | None = None) -> Path:
    """Where a GGUF base's trainable copy is kept: the Ember home's shared cache (found from
    ``EMBER_HOME``, else from the job's working folder ``<home>/jobs/<job>/wd``), else a folder
    in the working folder."""
    from ember.finetune.convert import home_cache

    home = os.environ.get("EMBER_HOME")
    if home:
        return home_cache(Path(home))
    wd = (cwd or Path.cwd()).resolve()
    if wd.name == "wd" and wd.parent.parent.name == "jobs":
        root = wd.parent.parent.parent
        if (root / "server.json").is_file():
            return home_cache(root)
    return wd / ".trainable-cache"


def run(args: argparse.Namespace) -> dict[str, object]:
    from ember.finetune.mlflow_folder import write_mlflow_model
    from ember.finetune.train import FinetuneConfig
    from ember.finetune.train import run as train

    source, path = select_model(huggingface_id=args.huggingface_id,
                                pytorch_model_path=args.pytorch_model_path,
                                mlflow_model_path=args.mlflow_model_path)
    work = Path.cwd()
    base = with_tokenizer(locate_model(path, source), work / "base-model")
    hp = _pairs(args.hp, "--hp")
    unused = _pairs(args.unused, "--unused")
    lora = hp.pop("apply_lora", "true").strip().lower()
    if lora != "true":
        _say(f"apply_lora '{lora}': Ember fine-tunes with LoRA adapters; training one and "
             "merging it into the model (merge_lora_weights) instead of a full fine-tune")
    changed = [f"{k}={v}" for k, v in unused.items()
               if k in UNUSED_DEFAULTS and not _same(v, UNUSED_DEFAULTS[k])]
    if changed:
        _say(f"accepted and not used by Ember: {', '.join(changed)}")
    config = FinetuneConfig(
        task=args.task, base_model_path=base, training_data=Path(args.train_file),
        validation_data=Path(args.validation_file) if args.validation_file else None,
        output_dir=Path(args.pytorch_model_folder),
        checkpoint_dir=work / "checkpoints",
        conversion_cache=conversion_cache(work) if base.suffix.lower() == ".gguf" else None,
        hyperparameters=hp)
    result = train(config, progress=_say)
    outputs = result["outputs"]
    folder = Path(outputs.get("merged") or outputs["adapter"])
    write_mlflow_model(folder, Path(args.mlflow_model_folder), task=args.task,
                       base_model=str(path), extra_metadata={"base_model_input": source})
    _say(f"mlflow_model_folder: the {'merged model' if 'merged' in outputs else 'adapter'} "
         "with its MLmodel file")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.finetune.finetune_component",
                                description="Fine-tune a language model with LoRA.")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--huggingface-id", default=None)
    p.add_argument("--pytorch-model-path", default=None)
    p.add_argument("--mlflow-model-path", default=None)
    p.add_argument("--train-file", required=True)
    p.add_argument("--validation-file", default=None)
    p.add_argument("--hp", action="append", default=[], help="hyperparameter name=value")
    p.add_argument("--unused", action="append", default=[],
                   help="an Azure input Ember accepts and does not use: name=value")
    p.add_argument("--pytorch-model-folder", required=True, help="output folder")
    p.add_argument("--mlflow-model-folder", required=True, help="output folder")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return one_line_errors(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
