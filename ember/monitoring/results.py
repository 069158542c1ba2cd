"""Result types, Azure's default thresholds and alert directions.

Alert direction (``model_monitor_evaluate_metrics_threshold``): the p-value tests (KS,
chi-squared), NDCG and the generation quality pass rates alert when the value falls **below**
the threshold; every other metric when it rises **above** it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FeatureType = Literal["numerical", "categorical"]

LOWER_IS_WORSE = frozenset({
    "two_sample_kolmogorov_smirnov_test",
    "pearsons_chi_squared_test",
    "normalized_discounted_cumulative_gain",
    "accuracy",
    "precision",
    "recall",
})

# SDK defaults (entities/_monitoring/thresholds.py): drift signals threshold one metric per
# feature type; data quality thresholds all three rates at 0; model performance hard-codes
# accuracy 0.9; feature attribution drift has none in the SDK and 0.9 in every example.
DEFAULT_DRIFT_THRESHOLDS: dict[str, dict[str, float]] = {
    "numerical": {"normalized_wasserstein_distance": 0.1},
    "categorical": {"jensen_shannon_distance": 0.1},
}
DEFAULT_QUALITY_THRESHOLDS: dict[str, dict[str, float]] = {
    kind: {"null_value_rate": 0.0, "data_type_error_rate": 0.0, "out_of_bounds_rate": 0.0}
    for kind in ("numerical", "categorical")
}
DEFAULT_ATTRIBUTION_THRESHOLD = 0.9
DEFAULT_PERFORMANCE_THRESHOLDS: dict[str, dict[str, float]] = {
    "classification": {"accuracy": 0.9},
    "regression": {},
}


def is_breached(metric: str, value: float, threshold: float | None) -> bool:
    """Whether ``value`` violates ``threshold`` in the metric's alert direction (no threshold:
    never). A NaN value is not a breach: it means the metric could not be computed."""
    if threshold is None or value != value:
        return False
    return value < threshold if metric in LOWER_IS_WORSE else value > threshold


@dataclass(frozen=True)
class MetricResult:
    """One metric of one feature (``feature`` is None for a signal-wide metric)."""

    metric: str
    value: float
    feature: str | None = None
    feature_type: FeatureType | None = None
    threshold: float | None = None
    breached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "feature": self.feature,
                "feature_type": self.feature_type, "threshold": self.threshold,
                "breached": self.breached}


@dataclass(frozen=True)
class FeatureHistogram:
    """What a monitor run writes for the studio's per-feature chart. Numerical features have
    ``bin_edges`` (len = bins + 1) and no ``categories``; categorical ones the reverse."""

    feature: str
    feature_type: FeatureType
    reference_counts: list[int]
    production_counts: list[int]
    bin_edges: list[float] | None = None
    categories: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "feature_type": self.feature_type,
                "bin_edges": self.bin_edges, "categories": self.categories,
                "reference_counts": self.reference_counts,
                "production_counts": self.production_counts}


@dataclass(frozen=True)
class SignalResult:
    """A signal's per-feature metrics, its histograms and its overall aggregate."""

    signal: str
    metrics: list[MetricResult]
    histograms: list[FeatureHistogram] = field(default_factory=list)

    @property
    def breached(self) -> bool:
        return any(m.breached for m in self.metrics)

    @property
    def breached_features(self) -> list[str]:
        return sorted({m.feature for m in self.metrics if m.breached and m.feature is not None})

    def value(self, metric: str, feature: str | None = None) -> float:
        for m in self.metrics:
            if m.metric == metric and m.feature == feature:
                return m.value
        raise KeyError((metric, feature))

    def aggregate(self) -> dict[str, dict[str, Any]]:
        """Per metric over the features: the worst value in its alert direction (the largest
        distance or rate, the smallest p-value or NDCG), how many features breach, of how many.
        Azure shows a signal as failed when any feature breaches; the worst value is Ember's
        one-number summary of it."""
        out: dict[str, dict[str, Any]] = {}
        for m in self.metrics:
            entry = out.setdefault(m.metric, {"worst": None, "worst_feature": None,
                                              "breached_features": 0, "features": 0})
            entry["features"] += 1
            entry["breached_features"] += int(m.breached)
            worst = entry["worst"]
            lower = m.metric in LOWER_IS_WORSE
            if m.value == m.value and (worst is None or (m.value < worst if lower else m.value > worst)):
                entry["worst"], entry["worst_feature"] = m.value, m.feature
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "breached": self.breached,
                "breached_features": self.breached_features, "aggregate": self.aggregate(),
                "metrics": [m.to_dict() for m in self.metrics],
                "histograms": [h.to_dict() for h in self.histograms]}
