"""Feature attribution drift: NDCG of the production window's feature importances against the
reference's, as Azure's ``compute_feature_attribution_drift`` does with
``sklearn.metrics.ndcg_score([baseline], [production])``: the reference importances are the
relevance, the production ones the ranking score, every feature counted (no cut-off), ties in the
production scores averaged. The importances themselves (Azure: a LightGBM surrogate explained by
SHAP's TreeExplainer) come from the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ember.errors import InvalidInputError
from ember.monitoring.results import (
    DEFAULT_ATTRIBUTION_THRESHOLD,
    MetricResult,
    SignalResult,
    is_breached,
)

METRIC = "normalized_discounted_cumulative_gain"


def _dcg(relevance: np.ndarray, score: np.ndarray, discount: np.ndarray) -> float:
    """Discounted gain of ranking by ``score``, tied scores sharing their mean relevance."""
    order = np.argsort(-score, kind="stable")
    ranked_scores, ranked_gain = score[order], relevance[order]
    starts = np.flatnonzero(np.r_[True, ranked_scores[1:] != ranked_scores[:-1]])
    group_gain = np.add.reduceat(ranked_gain, starts) / np.diff(np.r_[starts, score.size])
    return float(np.sum(group_gain * np.add.reduceat(discount, starts)))


def ndcg(reference_importance: np.ndarray, production_importance: np.ndarray) -> float:
    relevance = np.asarray(reference_importance, dtype=np.float64)
    score = np.asarray(production_importance, dtype=np.float64)
    discount = 1.0 / np.log2(np.arange(relevance.size) + 2)
    ideal = float(np.sum(np.sort(relevance)[::-1] * discount))
    # sklearn scores an all-zero relevance as 0.
    return 0.0 if ideal == 0 else _dcg(relevance, score, discount) / ideal


def feature_attribution_drift(reference_importance: Mapping[str, float],
                              production_importance: Mapping[str, float], *,
                              threshold: float | None = DEFAULT_ATTRIBUTION_THRESHOLD,
                              ) -> SignalResult:
    """NDCG over the reference's features (a production feature the reference lacks is dropped,
    as Azure drops it), breached when below ``threshold`` (default 0.9, the examples')."""
    features = sorted(reference_importance)
    if len(features) < 2:
        raise InvalidInputError("feature attribution drift needs at least two features' importance")
    missing = [f for f in features if f not in production_importance]
    if missing:
        raise InvalidInputError(f"features {missing} have no production importance")
    relevance = np.array([reference_importance[f] for f in features], dtype=np.float64)
    score = np.array([production_importance[f] for f in features], dtype=np.float64)
    for name, values in (("reference", relevance), ("production", score)):
        bad = [f for f, v in zip(features, values) if not np.isfinite(v) or v < 0]
        if bad:
            raise InvalidInputError(
                f"features {bad}: {name} importance must be a finite number ≥ 0")
    value = ndcg(relevance, score)
    return SignalResult("feature_attribution_drift", [
        MetricResult(METRIC, value, None, None, threshold, is_breached(METRIC, value, threshold))])
