"""Model metrics by Azure's names, targets (``">=0.85"``) and fairness per sensitive group.

Classification: ``accuracy_score``, ``precision_score``, ``recall_score``, ``f1_score``,
``error_rate`` (binary: of the positive class, the larger label; multiclass: macro average), and
``selection_rate`` for fairness (the share predicted positive). Regression:
``mean_absolute_error``, ``mean_squared_error``, ``median_absolute_error``, ``r2_score``.
Fairness is fairlearn's MetricFrame: the metric per group of a sensitive feature, and the
``difference`` (largest minus smallest) or ``ratio`` (smallest over largest) between groups.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ember.errors import InvalidInputError
from ember.rai._deps import require

CLASSIFICATION = ("accuracy_score", "precision_score", "recall_score", "f1_score", "error_rate")
REGRESSION = ("mean_absolute_error", "mean_squared_error", "median_absolute_error", "r2_score")
FAIRNESS_ONLY = ("selection_rate",)
_THRESHOLD = re.compile(r"^\s*(>=|<=|>|<)\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    """A threshold: ``op`` one of ``> < >= <=`` and its ``value``."""

    op: str
    value: float

    def met(self, measured: float | None) -> bool:
        return measured is not None and _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_target(text: Any, where: str) -> Target | None:
    if text in (None, ""):
        return None
    found = _THRESHOLD.match(str(text))
    if not found:
        raise InvalidInputError(f"{where}: threshold {text!r} is not one of '>x', '<x', '>=x', "
                                "'<=x' with a number x")
    return Target(found.group(1), float(found.group(2)))


def metric_names(classification: bool, fairness: bool = False) -> tuple[str, ...]:
    base = CLASSIFICATION if classification else REGRESSION
    return base + FAIRNESS_ONLY if fairness and classification else base


def check_metric(name: str, classification: bool, where: str, fairness: bool = False) -> None:
    known = metric_names(classification, fairness)
    if name not in known:
        kind = "classification" if classification else "regression"
        raise InvalidInputError(f"{where}: unknown {kind} metric {name!r} (known: "
                                f"{', '.join(known)})")


def metric_function(name: str, labels: Sequence[Any]) -> Callable[[Any, Any], float]:
    """``f(y_true, y_pred) -> float`` for ``name``; ``labels`` the classes (classification)."""
    skm = require("sklearn.metrics")
    binary = len(labels) == 2
    positive = labels[-1] if binary else None
    averaged = {"average": "binary", "pos_label": positive} if binary else {"average": "macro"}

    def selection_rate(y_true: Any, y_pred: Any) -> float:
        import numpy as np

        pred = np.asarray(y_pred)
        return float(np.mean(pred == positive)) if binary and len(pred) else float("nan")

    table: dict[str, Callable[[Any, Any], float]] = {
        "accuracy_score": skm.accuracy_score,
        "error_rate": lambda t, p: 1.0 - float(skm.accuracy_score(t, p)),
        "precision_score": lambda t, p: skm.precision_score(t, p, zero_division=0, **averaged),
        "recall_score": lambda t, p: skm.recall_score(t, p, zero_division=0, **averaged),
        "f1_score": lambda t, p: skm.f1_score(t, p, zero_division=0, **averaged),
        "selection_rate": selection_rate,
        "mean_absolute_error": skm.mean_absolute_error,
        "mean_squared_error": skm.mean_squared_error,
        "median_absolute_error": skm.median_absolute_error,
        "r2_score": skm.r2_score,
    }
    return table[name]


def compute(names: Sequence[str], y_true: Any, y_pred: Any, labels: Sequence[Any]
            ) -> dict[str, float | None]:
    """Each metric of ``names``; None where it cannot be computed (too few rows)."""
    out: dict[str, float | None] = {}
    for name in names:
        try:
            value = float(metric_function(name, labels)(y_true, y_pred))
        except ValueError:
            value = float("nan")
        out[name] = None if math.isnan(value) else value
    return out


@dataclass(frozen=True)
class FairnessResult:
    """One metric over the groups of one sensitive feature."""

    feature: str
    metric: str
    by_group: dict[str, float | None]
    counts: dict[str, int]
    kind: str                  # difference | ratio
    value: float | None
    target: Target | None

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)


def fairness(feature: str, metric: str, y_true: Any, y_pred: Any, groups: Any,
             labels: Sequence[Any], kind: str, target: Target | None) -> FairnessResult:
    """fairlearn's MetricFrame of ``metric`` by ``groups``, and its difference or ratio."""
    fl = require("fairlearn.metrics")
    frame = fl.MetricFrame(metrics=metric_function(metric, labels), y_true=y_true,
                           y_pred=y_pred, sensitive_features=groups)
    by_group = {str(k): _finite(v) for k, v in frame.by_group.items()}
    counts = {str(k): int(v) for k, v in
              fl.MetricFrame(metrics=fl.count, y_true=y_true, y_pred=y_pred,
                             sensitive_features=groups).by_group.items()}
    value = _finite(frame.difference() if kind == "difference" else frame.ratio())
    return FairnessResult(feature, metric, by_group, counts, kind, value, target)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
