"""Model performance against joined ground truth: accuracy, precision and recall for
classification; MAE, MSE and RMSE for regression. Precision and recall are binary (positive
label 1, or True) when every label is one of {0, 1}, {-1, 1} or {False, True}, as
scikit-learn's default; macro-averaged over the classes otherwise. A class never predicted has
precision 0 (scikit-learn's ``zero_division`` default, without its warning)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from ember.errors import InvalidInputError
from ember.monitoring._columns import null_mask
from ember.monitoring.results import (
    DEFAULT_PERFORMANCE_THRESHOLDS,
    MetricResult,
    SignalResult,
    is_breached,
)

Task = Literal["classification", "regression"]
_BINARY_SETS = ({0, 1}, {-1, 1}, {False, True})


def _classification(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    try:
        labels = np.unique(np.concatenate([truth, predicted]))
    except TypeError:
        raise InvalidInputError(
            "model performance: labels mix types that do not compare (e.g. 1 and \"1\")") from None
    binary = any(set(labels.tolist()) <= s for s in _BINARY_SETS)
    classes = [1] if binary else labels
    precisions, recalls = [], []
    for label in classes:
        true_positive = np.count_nonzero((predicted == label) & (truth == label))
        predicted_positive = np.count_nonzero(predicted == label)
        actual_positive = np.count_nonzero(truth == label)
        precisions.append(true_positive / predicted_positive if predicted_positive else 0.0)
        recalls.append(true_positive / actual_positive if actual_positive else 0.0)
    return {"accuracy": float(np.mean(truth == predicted)),
            "precision": float(np.mean(precisions)), "recall": float(np.mean(recalls))}


def _regression(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    try:
        error = predicted.astype(np.float64) - truth.astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError("regression ground truth and predictions must be numbers") from None
    if not np.isfinite(error).all():
        raise InvalidInputError("regression ground truth and predictions must be finite")
    mse = float(np.mean(error ** 2))
    return {"mae": float(np.mean(np.abs(error))), "mse": mse, "rmse": mse ** 0.5}


def model_performance(task: Task, ground_truth: object, predictions: object, *,
                      metric_thresholds: Mapping[str, float] | None = None) -> SignalResult:
    """The task's metrics over rows with both a label and a prediction (a null in either drops
    the row), each flagged against ``metric_thresholds`` (default: accuracy 0.9)."""
    if task not in ("classification", "regression"):
        raise InvalidInputError(f"model performance: task {task!r} is not classification or regression")
    truth, predicted = np.asarray(ground_truth), np.asarray(predictions)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise InvalidInputError(
            f"model performance: {truth.shape} ground truth rows against {predicted.shape} predictions")
    joined = ~(null_mask(truth) | null_mask(predicted))
    truth, predicted = truth[joined], predicted[joined]
    if truth.size == 0:
        raise InvalidInputError("model performance: no row has both ground truth and a prediction")
    values = _classification(truth, predicted) if task == "classification" else _regression(truth, predicted)
    thresholds = DEFAULT_PERFORMANCE_THRESHOLDS[task] if metric_thresholds is None else metric_thresholds
    unknown = set(thresholds) - set(values)
    if unknown:
        raise InvalidInputError(f"model performance: no {task} metric {sorted(unknown)}")
    results = []
    for metric, value in values.items():
        limit = thresholds.get(metric)
        results.append(MetricResult(metric, value, None, None, limit, is_breached(metric, value, limit)))
    return SignalResult("model_performance", results)
