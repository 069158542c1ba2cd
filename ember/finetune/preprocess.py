"""``python -m ember.finetune.preprocess``: the first step of Ember's built-in
``chat_completion_pipeline`` / ``text_generation_pipeline``.

Azure runs three steps before training (``ft_nlp_common_validation``, ``*_model_import``,
``*_datapreprocess``); Ember does their work in this one, in seconds and with the standard
library only, so a mistake fails before the training step loads torch:

- the model inputs: ``huggingface_id`` refused (Ember is offline), exactly one of
  ``mlflow_model_path`` / ``pytorch_model_path``, holding a model Ember can train;
- every line of the train, validation and test files checked for the task (file and line in the
  error), ``*_mltable_path`` folders read as the one file their MLTable names;
- the missing splits made as Azure makes them: without validation and test files, 80/10/10 of the
  training lines; without one of them, 10 % of the training lines for it (seeded by ``seed``).

Outputs, one JSON Lines file each, normalised (chat: ``{"messages": [...]}``; text:
``{<text_key>: prompt, <ground_truth_key>: completion}``): ``--train-data``,
``--validation-data``, ``--test-data``. A failure prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.finetune._cli import one_line_errors
from ember.finetune._base_model import locate_model, select_model
from ember.finetune.data import TASKS, Example, read_examples

SPLIT_SHARE = 0.1
SPLITS = ("train", "validation", "test")


def _say(line: str) -> None:
    print(f"[ember] {line}", flush=True)


def mltable_file(folder: Path, what: str) -> Path:
    """The one file an MLTable folder's ``paths`` names (``- file: ./train.jsonl``)."""
    from ruamel.yaml import YAML

    spec = folder / "MLTable"
    if not spec.is_file():
        raise InvalidInputError(f"{what} ({folder}) is not an MLTable folder: no MLTable file")
    data = YAML(typ="safe").load(spec.read_text(encoding="utf-8")) or {}
    files = [p["file"] for p in data.get("paths") or [] if isinstance(p, dict) and "file" in p]
    if len(files) != 1 or not isinstance(files[0], str) or "://" in files[0]:
        raise InvalidInputError(f"{what}: Ember reads an MLTable that names one local file "
                                "(paths: [{file: ./data.jsonl}]); give a *_file_path instead")
    return (folder / files[0]).resolve()


def _data_file(args: argparse.Namespace, split: str) -> Path | None:
    file, table = getattr(args, f"{split}_file"), getattr(args, f"{split}_mltable")
    if file and table:
        raise InvalidInputError(f"give {split}_file_path or {split}_mltable_path, not both")
    if table:
        return mltable_file(Path(table), f"{split}_mltable_path")
    return Path(file) if file else None


def split_off(examples: list[Example], wanted: Sequence[str], seed: int
              ) -> tuple[list[Example], dict[str, list[Example]]]:
    """Training examples less a 10 % share (at least one line) for each split in ``wanted``."""
    if not wanted:
        return examples, {}
    count = max(1, int(len(examples) * SPLIT_SHARE + 0.5))
    if len(examples) < count * len(wanted) + 1:
        raise InvalidInputError(
            f"the training file has {len(examples)} example(s): too few to split off "
            f"{' and '.join(wanted)} data; give {' and '.join(f'{w}_file_path' for w in wanted)}")
    order = random.Random(seed).sample(range(len(examples)), count * len(wanted))
    taken = {name: [examples[i] for i in sorted(order[k * count:(k + 1) * count])]
             for k, name in enumerate(wanted)}
    chosen = set(order)
    return [e for i, e in enumerate(examples) if i not in chosen], taken


def _record(example: Example, task: str, text_key: str, ground_truth_key: str) -> dict[str, Any]:
    if task == "chat_completion":
        return {"messages": list(example.messages)}
    return {text_key: example.prompt, ground_truth_key: example.completion}


def run(args: argparse.Namespace) -> dict[str, int]:
    if args.task not in TASKS:
        raise InvalidInputError(f"task {args.task!r} is not one Ember fine-tunes; use one of "
                                f"{', '.join(TASKS)}")
    source, path = select_model(huggingface_id=args.huggingface_id,
                                pytorch_model_path=args.pytorch_model_path,
                                mlflow_model_path=args.mlflow_model_path)
    model = locate_model(path, source)
    _say(f"model: {model} (from {source})")
    keys = {"text_key": args.text_key, "ground_truth_key": args.ground_truth_key}
    files = {split: _data_file(args, split) for split in SPLITS}
    if files["train"] is None:
        raise InvalidInputError("no training data: give train_file_path (or train_mltable_path)")
    data = {split: read_examples(file, args.task, **keys)
            for split, file in files.items() if file is not None}
    missing = [split for split in SPLITS[1:] if split not in data]
    data["train"], made = split_off(data["train"], missing, args.seed)
    data.update(made)
    for split in made:
        _say(f"no {split} file given: split {len(made[split])} of the training lines off "
             f"for {split} (seed {args.seed})")
    counts = {}
    for split in SPLITS:
        out = Path(getattr(args, f"{split}_data"))
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for example in data[split]:
                fh.write(json.dumps(_record(example, args.task, **keys), ensure_ascii=False)
                         + "\n")
        counts[split] = len(data[split])
    _say("data: " + ", ".join(f"{n} {split}" for split, n in counts.items()) + " examples")
    return counts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.finetune.preprocess",
                                description="Check and split a fine-tuning pipeline's data.")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--huggingface-id", default=None)
    p.add_argument("--pytorch-model-path", default=None)
    p.add_argument("--mlflow-model-path", default=None)
    for split in SPLITS:
        p.add_argument(f"--{split}-file", default=None)
        p.add_argument(f"--{split}-mltable", default=None)
        p.add_argument(f"--{split}-data", required=True, help="output file")
    p.add_argument("--text-key", default="text")
    p.add_argument("--ground-truth-key", default="ground_truth")
    p.add_argument("--seed", type=int, default=42)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return one_line_errors(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
