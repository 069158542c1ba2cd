"""``python -m ember.finetune.compute_metrics``: Ember's built-in ``compute_metrics`` component,
the second half of Azure ML's model evaluation pipeline, run as a job's command.

    --task T --ground-truth PATH [--ground-truth-column-name C] --prediction PATH
    [--prediction-column-name C] [--prediction-probabilities PATH] [--evaluation-config PATH]
    [--evaluation-config-params JSON] --evaluation-result FOLDER

PATHs are .jsonl/.json/.csv files or folders holding one (``model_prediction``'s outputs as they
are). Rows pair up by position. The ground-truth column defaults to the file's only column, else
``ground_truth``; the prediction column to ``predictions``. The evaluation config is a JSON object
(``--evaluation-config-params`` overrides its keys): ``metrics`` (a subset of the task's),
``use_stemmer``, ``rouge_tokenizer``, ``smooth``, ``positive_label``, ``class_labels``.

Output, one file: ``FOLDER/evaluation_result.json``::

    {"task": ..., "rows": N, "metrics": {name: number}, "artifacts": {name: list}}

``metrics`` holds the scalars, ``artifacts`` the rest (``confusion_matrix`` with its
``class_labels``, ``perplexities``), the split Azure's ``metrics.json``/``artifacts.json`` make.
When the job's environment names its run (``MLFLOW_RUN_ID``, with ``MLFLOW_TRACKING_URI``, as
Ember's runner sets both), the scalars are logged to that run in one ``log_batch`` and the
artifacts as ``evaluation_result/artifacts.json``: the job's run is the evaluation's run, so no
new run is started. A failure prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ember.errors import EmberError, InvalidInputError
from ember.finetune._cli import one_line_errors


def _label_list(value: Any) -> Any:
    """A multilabel cell as a list: CSV cells hold ``["a", "b"]`` or ``['a', 'b']`` as text."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
    return value


def _config(path: str | None, params: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for source, text in ((path, Path(path).read_text(encoding="utf-8") if path else None),
                         ("--evaluation-config-params", params)):
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"{source} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidInputError(f"{source} must be a JSON object")
        config.update(value)
    return config


def log_to_run(run_id: str, metrics: dict[str, float], artifacts: dict[str, Any]) -> None:
    """The scalars as the run's metrics (step 0), the rest as one JSON artifact."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    now = int(time.time() * 1000)
    try:
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
        if artifacts:
            client.log_dict(run_id, artifacts, "evaluation_result/artifacts.json")
    except Exception as exc:   # noqa: BLE001 - MLflow raises many kinds; the user needs one line
        raise EmberError(f"could not log the metrics to run {run_id}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ember.finetune import prediction as P
    from ember.finetune.metrics import compute, normalize_task

    task = normalize_task(args.task)
    truth_rows = P.read_rows(args.ground_truth)
    truth_column = args.ground_truth_column_name or (
        next(iter(truth_rows[0])) if len(truth_rows[0]) == 1 else "ground_truth")
    truths = P.column(truth_rows, truth_column, args.ground_truth)
    predictions = P.column(P.read_rows(args.prediction), args.prediction_column_name,
                           args.prediction)
    if task.endswith("-multilabel"):
        truths, predictions = [_label_list(v) for v in truths], [_label_list(v)
                                                                 for v in predictions]
    probabilities = (P.read_rows(args.prediction_probabilities)
                     if args.prediction_probabilities else None)
    config = _config(args.evaluation_config, args.evaluation_config_params)
    result = compute(task, truths, predictions, probabilities, config)
    metrics = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
    artifacts = {k: v for k, v in result.items() if k not in metrics}
    out = Path(args.evaluation_result)
    out.mkdir(parents=True, exist_ok=True)
    body = {"task": task, "rows": len(predictions), "metrics": metrics, "artifacts": artifacts}
    (out / "evaluation_result.json").write_text(json.dumps(body, indent=2, ensure_ascii=False),
                                                encoding="utf-8")
    for name, value in metrics.items():
        print(f"[ember] {name} = {value:.6g}", flush=True)
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if run_id:
        log_to_run(run_id, metrics, artifacts)
        print(f"[ember] logged {len(metrics)} metrics to run {run_id}", flush=True)
    return body


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.finetune.compute_metrics",
                                description="Score predictions against the ground truth.")
    p.add_argument("--task", required=True)
    p.add_argument("--ground-truth", required=True, help="a .jsonl/.json/.csv file or its folder")
    p.add_argument("--ground-truth-column-name", default=None)
    p.add_argument("--prediction", required=True, help="a .jsonl/.json/.csv file or its folder")
    p.add_argument("--prediction-column-name", default="predictions")
    p.add_argument("--prediction-probabilities", default=None)
    p.add_argument("--evaluation-config", default=None, help="a JSON file")
    p.add_argument("--evaluation-config-params", default=None, help="a JSON object")
    p.add_argument("--evaluation-result", required=True, help="output folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # OSError: an unreadable config file, an unwritable output folder
    return one_line_errors(lambda: run(args), prefix="[ember] compute_metrics failed: ",
                           code=1, also=(OSError,))


if __name__ == "__main__":
    sys.exit(main())
