"""Classification, multilabel and regression metrics of ``compute_metrics``
(:mod:`ember.finetune.metrics` holds the text ones and the task dispatch): scikit-learn's,
named as Azure's evaluation reports them. Labels compare as text, so ``1``, ``1.0`` and
``"1"`` are one class."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ember.errors import InvalidInputError

Result = dict[str, float | list[Any]]


def _kind(value: Any) -> str:
    """What a bad value is, for an error message."""
    return "None" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"


def _label(value: Any, where: str) -> str:
    """A class label as text: ``1``, ``1.0`` and ``"1"`` are one class."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise InvalidInputError(f"{where} is empty: every row needs a label")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):   # bool is an int: True → "True"
        return str(value)
    raise InvalidInputError(f"{where} is {_kind(value)}, not a class label")


def _ordered(labels: set[str]) -> list[str]:
    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None
    values = {label: number(label) for label in labels}
    if all(v is not None for v in values.values()):
        return sorted(labels, key=lambda label: (values[label], label))
    return sorted(labels)


def _probability_matrix(probabilities: Sequence[Any], labels: list[str]) -> Any:
    """Rows of probabilities as an (n, len(labels)) array in ``labels`` order, each row summing
    to 1 within 1e-3 (float32 softmax rows are a hair off)."""
    import numpy as np

    k = len(labels)
    matrix = np.zeros((len(probabilities), k))
    for i, row in enumerate(probabilities):
        if isinstance(row, dict):
            by_label = {_label(key, "a probability's class"): v for key, v in row.items()}
            row = [by_label.get(label, 0.0) for label in labels]
        elif isinstance(row, (int, float)) and not isinstance(row, bool) and k == 2:
            row = [1.0 - float(row), float(row)]
        if not isinstance(row, (list, tuple)) or len(row) != k:
            raise InvalidInputError(
                f"probabilities[{i}] is {_kind(row)}; expected {k} probabilities in the order "
                f"{labels} (or a dict label → probability)")
        try:
            matrix[i] = [float(v) for v in row]
        except (TypeError, ValueError):
            raise InvalidInputError(f"probabilities[{i}] has a value that is not a number") \
                from None
    bad = np.flatnonzero((matrix < 0).any(axis=1) | (np.abs(matrix.sum(axis=1) - 1) > 1e-3))
    if bad.size:
        raise InvalidInputError(f"probabilities[{bad[0]}] is not a distribution over "
                                f"{labels}: values must be ≥ 0 and sum to 1")
    return matrix


def _ranking_metrics(indicator: Any, scores: Any, averages: Sequence[str]) -> Result:
    """AUC and average precision, one-vs-rest, over the classes the ground truth has both in and
    out of (for the others both are undefined)."""
    from sklearn import metrics as skm

    n = indicator.shape[0]
    present = [j for j in range(indicator.shape[1]) if 0 < indicator[:, j].sum() < n]
    result: Result = {}
    if not present:
        return result
    for name, fn in (("AUC", skm.roc_auc_score), ("average_precision_score",
                                                   skm.average_precision_score)):
        for average in averages:
            if average == "micro":
                result[f"{name}_micro"] = float(fn(indicator.ravel(), scores.ravel()))
            else:
                result[f"{name}_{average}"] = float(fn(indicator[:, present], scores[:, present],
                                                       average=average))
    return result


def _classification(ground_truth: Sequence[Any], predictions: Sequence[Any],
                    probabilities: Sequence[Any] | None, config: dict[str, Any]) -> Result:
    import numpy as np
    from sklearn import metrics as skm

    y = [_label(v, f"ground_truth[{i}]") for i, v in enumerate(ground_truth)]
    p = [_label(v, f"predictions[{i}]") for i, v in enumerate(predictions)]
    given = [_label(v, "class_labels") for v in config.get("class_labels") or []]
    seen = set(y) | set(p) | set(given)
    for row in probabilities or []:
        if isinstance(row, dict):
            seen.update(_label(k, "a probability's class") for k in row)
    labels = given if given and set(given) >= seen else _ordered(seen)
    counts = Counter(y)
    recall_macro = skm.recall_score(y, p, labels=labels, average="macro", zero_division=0)
    result: Result = {
        "accuracy": float(skm.accuracy_score(y, p)),
        "balanced_accuracy": float(np.mean([sum(a == b for a, b in zip(y, p) if a == c) / n
                                            for c, n in counts.items()])),
        "weighted_accuracy": float(skm.accuracy_score(
            y, p, sample_weight=[counts[v] / len(y) for v in y])),
        "matthews_correlation": float(skm.matthews_corrcoef(y, p)),
    }
    if len(labels) > 1:
        chance = 1.0 / len(labels)
        result["norm_macro_recall"] = max(0.0, (recall_macro - chance) / (1.0 - chance))
    averages = ["macro", "micro", "weighted"]
    positive = _label(config.get("positive_label", labels[-1]), "positive_label")
    if len(labels) == 2:
        if positive not in labels:
            raise InvalidInputError(f"positive_label {positive!r} is not a class: {labels}")
        averages.append("binary")
    for name, fn in (("precision_score", skm.precision_score), ("recall_score", skm.recall_score),
                     ("f1_score", skm.f1_score)):
        for average in averages:
            by_class: dict[str, Any] = ({"pos_label": positive} if average == "binary"
                                        else {"labels": labels})
            result[f"{name}_{average}"] = float(fn(y, p, average=average, zero_division=0,
                                                   **by_class))
    if probabilities is not None and len(labels) > 1:
        scores = _probability_matrix(probabilities, labels)
        indicator = (np.array(y)[:, None] == np.array(labels)[None, :]).astype(int)
        # Rescaled for log loss only: dividing by sums a hair off 1 would break the ties that
        # AUC and average precision count.
        result["log_loss"] = float(skm.log_loss(y, scores / scores.sum(axis=1)[:, None],
                                                labels=labels))
        result.update(_ranking_metrics(indicator, scores, averages[:3]))
        j = labels.index(positive)
        if len(labels) == 2 and 0 < indicator[:, j].sum() < len(y):
            result["AUC_binary"] = float(skm.roc_auc_score(indicator[:, j], scores[:, j]))
            result["average_precision_score_binary"] = float(
                skm.average_precision_score(indicator[:, j], scores[:, j]))
    result["confusion_matrix"] = skm.confusion_matrix(y, p, labels=labels).tolist()
    result["class_labels"] = labels
    return result


def _label_sets(rows: Sequence[Any], name: str) -> list[set[str]]:
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple, set)):
            raise InvalidInputError(f"{name}[{i}] is {_kind(row)}; multilabel rows are lists "
                                    "of labels")
        out.append({_label(v, f"{name}[{i}]") for v in row})
    return out


def _multilabel(ground_truth: Sequence[Any], predictions: Sequence[Any],
                probabilities: Sequence[Any] | None) -> Result:
    import numpy as np
    from sklearn import metrics as skm

    y, p = _label_sets(ground_truth, "ground_truth"), _label_sets(predictions, "predictions")
    labels = _ordered(set().union(*y, *p))
    if not labels:
        raise InvalidInputError("no labels at all in ground_truth or predictions")
    Y = np.array([[c in row for c in labels] for row in y], dtype=int)
    P = np.array([[c in row for c in labels] for row in p], dtype=int)
    result: Result = {"accuracy": float(skm.accuracy_score(Y, P)),
                      "hamming_loss": float(skm.hamming_loss(Y, P))}
    for name, fn in (("precision_score", skm.precision_score), ("recall_score", skm.recall_score),
                     ("f1_score", skm.f1_score)):
        for average in ("macro", "micro", "weighted"):
            result[f"{name}_{average}"] = float(fn(Y, P, average=average, zero_division=0))
    if probabilities is not None:   # one independent probability per label: no sum to check
        try:
            scores = np.array([[float(row.get(c, 0.0)) for c in labels]
                               if isinstance(row, dict) else [float(v) for v in row]
                               for row in probabilities])
        except (TypeError, ValueError):
            scores = np.zeros(0)
        if scores.shape != Y.shape:
            raise InvalidInputError(f"probabilities must have {len(labels)} columns, one per "
                                    f"label {labels}, or be dicts label → probability")
        result.update(_ranking_metrics(Y, scores, ("macro", "micro", "weighted")))
    result["class_labels"] = labels
    return result


def _numbers(rows: Sequence[Any], name: str) -> list[float]:
    out = []
    for i, value in enumerate(rows):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or math.isnan(number) or math.isinf(number):
            raise InvalidInputError(f"{name}[{i}] is {_kind(value)}, not a finite number")
        out.append(number)
    return out


def _regression(y_true: list[float], y_pred: list[float]) -> Result:
    import numpy as np
    from sklearn import metrics as skm

    y, p = np.array(y_true), np.array(y_pred)
    errors = {"mean_absolute_error": float(skm.mean_absolute_error(y, p)),
              "median_absolute_error": float(skm.median_absolute_error(y, p)),
              "root_mean_squared_error": float(skm.root_mean_squared_error(y, p))}
    result: Result = dict(errors)
    if len(y) > 1:
        result["r2_score"] = float(skm.r2_score(y, p))
        result["explained_variance"] = float(skm.explained_variance_score(y, p))
    spread = float(y.max() - y.min())
    if spread > 0:
        for name, value in errors.items():
            result[f"normalized_{name}"] = value / spread
        if np.ptp(p) > 0:
            from scipy.stats import spearmanr

            result["spearman_correlation"] = float(spearmanr(y, p).statistic)
    return result
