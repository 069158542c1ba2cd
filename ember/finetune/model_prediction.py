"""``python -m ember.finetune.model_prediction``: Ember's built-in ``model_prediction`` component,
the first half of Azure ML's model evaluation pipeline, run as a job's command.

    --task T --test-data PATH --mlflow-model FOLDER --predictions FOLDER --ground-truth FOLDER
    [--input-column-names a,b] [--label-column-name y] [--batch-size 8] [--max-new-tokens 64]
    [--device auto|cpu|gpu] [--performance-metadata FOLDER] [--prediction-probabilities FOLDER]

Each output folder gets one JSON Lines file of its own name, row for row with the test data, so
that ``compute_metrics`` (or a user) can join them by position:

    predictions/predictions.jsonl                 {"predictions": ...}
    ground_truth/ground_truth.jsonl               {"<label column>": ...}
    performance_metadata/performance_metadata.jsonl   one line per batch: rows, start time,
                                                  time_taken_ms, input/output token counts
    prediction_probabilities/prediction_probabilities.jsonl   {"<class>": p, ...} (classifiers
                                                  whose model has predict_proba)

Language models default to the label column ``ground_truth`` (a chat whose last message is the
assistant's needs none) and to every other column as input, joined by newlines; chats read the
``messages`` column. On CPU torch gets one thread unless ``EMBER_FINETUNE_THREADS`` says more:
jobs share the machine, and one thread per job is what Ember's runner budgets. A failure prints
one line and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError, UnsupportedError
from ember.finetune._cli import one_line_errors


def _progress(done: int, total: int) -> None:
    print(f"[ember] predicted {done}/{total} rows", flush=True)


def _device(choice: str) -> str:
    from ember.finetune._deps import require

    torch = require("torch")
    if choice == "gpu" and not torch.cuda.is_available():
        raise UnsupportedError("--device gpu: this machine has no CUDA GPU that torch can use")
    device = "cuda" if choice != "cpu" and torch.cuda.is_available() else "cpu"
    threads = os.environ.get("EMBER_FINETUNE_THREADS")
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    elif device == "cpu":
        torch.set_num_threads(1)
    print(f"[ember] generating on {device} with {torch.get_num_threads()} torch thread(s)",
          flush=True)
    return device


def run(args: argparse.Namespace) -> None:
    from ember.finetune import prediction as P
    from ember.finetune.metrics import normalize_task

    task = normalize_task(args.task)
    if task not in P.LANGUAGE_TASKS + P.TABULAR_TASKS:
        raise UnsupportedError(f"model_prediction does not predict for {task}; it does "
                               f"{', '.join(P.LANGUAGE_TASKS + P.TABULAR_TASKS)}")
    if args.batch_size < 1 or args.max_new_tokens < 1:
        raise InvalidInputError("--batch-size and --max-new-tokens must be at least 1")
    rows = P.read_rows(args.test_data)
    language = task in P.LANGUAGE_TASKS
    label = args.label_column_name or ("ground_truth" if language else "")
    if not label:
        raise InvalidInputError(f"{task} needs --label-column-name")
    inputs = [c.strip() for c in (args.input_column_names or "").split(",") if c.strip()]
    if not inputs:
        inputs = (["messages"] if task == "chat-completion"
                  else [c for c in rows[0] if c != label])
    performance: list[dict[str, Any]] = []
    probabilities = None
    print(f"[ember] {task}: {len(rows)} rows from {args.test_data}", flush=True)
    if language:
        prompts, truths = P.language_inputs(task, rows, inputs, label)
        device = _device(args.device)
        lm = P.load_language_model(args.mlflow_model, device)
        predictions: list[Any] = []
        for answers, batch in P.generate(lm, prompts, batch_size=args.batch_size,
                                         max_new_tokens=args.max_new_tokens):
            predictions.extend(answers)
            performance.append({
                "batch": batch.index, "rows": batch.rows, "device": device,
                "start_time_iso": batch.start.isoformat(),
                "time_taken_ms": round(batch.seconds * 1000, 3),
                "input_token_count": batch.input_tokens,
                "output_token_count": batch.output_tokens,
                "output_tokens_per_second": round(batch.output_tokens / batch.seconds, 3)
                if batch.seconds else None})
            _progress(len(predictions), len(rows))
    else:
        truths = P.column(rows, label, args.test_data)
        began, clock = datetime.now(UTC), time.perf_counter()
        predictions, probabilities = P.predict_tabular(
            args.mlflow_model, rows, inputs, on_batch=lambda n: _progress(n, len(rows)))
        performance.append({"batch": 0, "rows": len(rows), "device": "cpu",
                            "start_time_iso": began.isoformat(),
                            "time_taken_ms": round((time.perf_counter() - clock) * 1000, 3)})
    P.write_jsonl(Path(args.predictions) / "predictions.jsonl",
                  [{"predictions": p} for p in predictions])
    P.write_jsonl(Path(args.ground_truth) / "ground_truth.jsonl",
                  [{label: t} for t in truths])
    if args.performance_metadata:
        P.write_jsonl(Path(args.performance_metadata) / "performance_metadata.jsonl",
                      performance)
    if args.prediction_probabilities and probabilities is not None:
        P.write_jsonl(Path(args.prediction_probabilities) / "prediction_probabilities.jsonl",
                      probabilities)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.finetune.model_prediction",
                                description="Predict the test rows with a model.")
    p.add_argument("--task", required=True)
    p.add_argument("--test-data", required=True, help="a .jsonl/.json/.csv file, or its folder")
    p.add_argument("--mlflow-model", required=True,
                   help="a Hugging Face or PEFT adapter folder, or an MLflow model folder")
    p.add_argument("--input-column-names", default="", help="comma-separated")
    p.add_argument("--label-column-name", default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--predictions", required=True, help="output folder")
    p.add_argument("--ground-truth", required=True, help="output folder")
    p.add_argument("--performance-metadata", default=None, help="output folder")
    p.add_argument("--prediction-probabilities", default=None, help="output folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return one_line_errors(lambda: run(args), prefix="[ember] model_prediction failed: ",
                           code=1)


if __name__ == "__main__":
    sys.exit(main())
