"""Scalars to the step's MLflow run: the job's environment names it (``MLFLOW_RUN_ID`` with
``MLFLOW_TRACKING_URI``); outside a job nothing is logged."""

from __future__ import annotations

import os
import time

from ember.errors import EmberError


def log_metrics(metrics: dict[str, float], prefix: str = "") -> None:
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id or not metrics:
        return
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    try:
        MlflowClient().log_batch(run_id, metrics=[Metric(f"{prefix}{k}", float(v), now, 0)
                                                  for k, v in metrics.items()])
    except Exception as exc:   # noqa: BLE001 - MLflow raises many kinds; the user needs one line
        raise EmberError(f"could not log the metrics to run {run_id}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
