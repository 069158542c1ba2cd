"""Data drift and prediction drift, computed as Azure's ``data_drift_compute_metrics`` does.

Numerical features (nulls dropped first):
- bins: one set of equal-width edges over ``[min, max]`` of reference ∪ production, their number
  by Sturges' rule on the smaller window, ``ceil(log2(n) + 1)``; a feature whose every value is
  one number gets a single bin;
- Jensen–Shannon distance: ``scipy.spatial.distance.jensenshannon`` of the two windows' per-bin
  proportions, base 2 (so it lies in [0, 1]);
- PSI: ``Σ (p - r) · ln(p / r)`` with ``p = (count + 1) / n`` per bin in each window: the +1 keeps
  an empty bin finite (Azure divides by ``n``, not ``n + bins``, and so does Ember);
- normalized Wasserstein: ``scipy.stats.wasserstein_distance / max(std(reference), 0.001)``, the
  sample standard deviation (Spark's ``stddev``);
- two-sample KS: ``scipy.stats.ks_2samp(...).pvalue``.
Both are computed from one merge of the sorted windows (:func:`cdf_gaps`), equal to scipy's.

Categorical features (values compared as text, nulls dropped): the categories are the union of
both windows'; one unseen in the reference has reference count 0.
- Jensen–Shannon distance and PSI as above, over the category frequencies;
- Pearson's chi-squared: ``scipy.stats.chisquare(production counts, expected)`` with
  ``expected = reference proportion × n_production``. A production category the reference never
  saw has expected count 0, where the statistic is infinite: its p-value is 0 (Azure's own code
  errors there). A feature with a single category in both windows has p-value 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, kstwo

from ember.errors import InvalidInputError
from ember.monitoring._columns import (
    Columns,
    category_values,
    column,
    feature_types,
    numeric_values,
    threshold_for,
)
from ember.monitoring.results import (
    DEFAULT_DRIFT_THRESHOLDS,
    FeatureHistogram,
    MetricResult,
    SignalResult,
    is_breached,
)

NUMERICAL_METRICS = ("jensen_shannon_distance", "normalized_wasserstein_distance",
                     "population_stability_index", "two_sample_kolmogorov_smirnov_test")
CATEGORICAL_METRICS = ("jensen_shannon_distance", "population_stability_index",
                       "pearsons_chi_squared_test")
# The YAML reference's name for the categorical test.
_ALIASES = {"chi_squared_test": "pearsons_chi_squared_test"}

Floats = npt.NDArray[np.float64]


def sturges_bins(n_reference: int, n_production: int) -> int:
    return math.ceil(math.log2(min(n_reference, n_production)) + 1)


def bin_edges(reference: Floats, production: Floats) -> Floats:
    """Shared equal-width edges over both windows' range."""
    low = float(min(reference.min(), production.min()))
    high = float(max(reference.max(), production.max()))
    if low == high:
        # Azure's single bucket is [v, 1.01·v], which is empty or reversed for v ≤ 0.
        return np.array([low, low + max(abs(low) * 0.01, 1e-3)])
    return np.linspace(low, high, sturges_bins(reference.size, production.size) + 1)


def histogram(sorted_values: Floats, edges: Floats) -> npt.NDArray[np.int64]:
    """``np.histogram``'s counts (each bin closed on the left, the last on both sides), found
    by searching a sorted window for the edges instead of binning every value."""
    bounds = np.searchsorted(sorted_values, edges, side="left")
    bounds[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(bounds).astype(np.int64)


def js_distance(reference_counts: np.ndarray, production_counts: np.ndarray) -> float:
    return float(jensenshannon(reference_counts / reference_counts.sum(),
                               production_counts / production_counts.sum(), base=2))


def psi(reference_counts: np.ndarray, production_counts: np.ndarray) -> float:
    r = (reference_counts + 1) / reference_counts.sum()
    p = (production_counts + 1) / production_counts.sum()
    return float(np.sum((p - r) * np.log(p / r)))


def cdf_gaps(reference: Floats, production: Floats) -> tuple[float, float]:
    """The Wasserstein-1 distance (area between the two empirical CDFs) and the KS statistic
    (their largest gap) of two **sorted** samples, in one merge: the same sums as
    ``scipy.stats.wasserstein_distance`` and ``ks_2samp``, without their three sorts and two
    searches of the merged sample, which dominate a million-row window."""
    n1, n2 = reference.size, production.size
    # Where each reference value lands in the merge (before equal production values).
    at = np.arange(n1) + np.searchsorted(production, reference, side="left")
    from_reference = np.zeros(n1 + n2, dtype=bool)
    from_reference[at] = True
    merged = np.sort(np.concatenate([reference, production]))
    # |F_ref - F_prod| at each merged value, in integers over n1·n2: one cumulative sum.
    from_ref_so_far = np.cumsum(from_reference)
    seen = np.arange(1, n1 + n2 + 1)
    gap = np.abs(from_ref_so_far * (n1 + n2) - seen * n1) / (n1 * n2)
    wasserstein = float(np.dot(gap[:-1], np.diff(merged)))
    # Inside a run of equal values the running counts are partial; the CDFs hold at its end.
    run_ends = np.r_[merged[1:] != merged[:-1], True]
    return wasserstein, float(gap[run_ends].max())


def normalized_wasserstein(wasserstein: float, reference: Floats) -> float:
    std = float(np.std(reference, ddof=1)) if reference.size > 1 else 0.0
    return wasserstein / max(std, 0.001)


# ks_2samp's own cut-over: an exact p-value up to 10,000 rows a side, Smirnov's asymptotic
# distribution beyond (the formula below is the one it uses there).
_KS_EXACT_MAX_N = 10_000


def ks_pvalue(reference: Floats, production: Floats, statistic: float) -> float:
    if max(reference.size, production.size) <= _KS_EXACT_MAX_N:
        return float(ks_2samp(reference, production).pvalue)
    m, n = sorted([float(reference.size), float(production.size)], reverse=True)
    return float(np.clip(kstwo.sf(statistic, np.round(m * n / (m + n))), 0.0, 1.0))


def chi_squared_pvalue(reference_counts: np.ndarray, production_counts: np.ndarray) -> float:
    unseen = reference_counts == 0
    if production_counts[unseen].any():
        return 0.0
    observed = production_counts[~unseen]
    if observed.size == 1:
        return 1.0
    expected = reference_counts[~unseen] / reference_counts.sum() * observed.sum()
    return float(chisquare(observed, expected).pvalue)


def _nonempty(feature: str, reference: np.ndarray, production: np.ndarray) -> None:
    for which, values in (("reference", reference), ("production", production)):
        if values.size == 0:
            raise InvalidInputError(
                f"feature {feature!r}: the {which} window has no non-null values")


def numerical_drift(feature: str, reference_column: np.ndarray, production_column: np.ndarray,
                    metrics: Iterable[str] = NUMERICAL_METRICS,
                    ) -> tuple[dict[str, float], FeatureHistogram]:
    reference = np.sort(numeric_values(feature, reference_column, "reference"))
    production = np.sort(numeric_values(feature, production_column, "production"))
    _nonempty(feature, reference, production)
    metrics = tuple(metrics)
    wasserstein, ks_statistic = (
        cdf_gaps(reference, production)
        if {"normalized_wasserstein_distance", "two_sample_kolmogorov_smirnov_test"} & set(metrics)
        else (math.nan, math.nan))
    edges = bin_edges(reference, production)
    ref_counts, prod_counts = histogram(reference, edges), histogram(production, edges)
    compute = {
        "jensen_shannon_distance": lambda: js_distance(ref_counts, prod_counts),
        "population_stability_index": lambda: psi(ref_counts, prod_counts),
        "normalized_wasserstein_distance": lambda: normalized_wasserstein(wasserstein, reference),
        "two_sample_kolmogorov_smirnov_test": lambda: ks_pvalue(reference, production, ks_statistic),
    }
    values = {m: compute[m]() for m in metrics}
    hist = FeatureHistogram(feature, "numerical", ref_counts.tolist(), prod_counts.tolist(),
                            bin_edges=edges.tolist())
    return values, hist


def categorical_drift(feature: str, reference_column: np.ndarray, production_column: np.ndarray,
                      metrics: Iterable[str] = CATEGORICAL_METRICS,
                      ) -> tuple[dict[str, float], FeatureHistogram]:
    reference, production = category_values(reference_column), category_values(production_column)
    _nonempty(feature, reference, production)
    categories, inverse = np.unique(np.concatenate([reference, production]), return_inverse=True)
    ref_counts = np.bincount(inverse[:reference.size], minlength=categories.size)
    prod_counts = np.bincount(inverse[reference.size:], minlength=categories.size)
    compute = {
        "jensen_shannon_distance": lambda: js_distance(ref_counts, prod_counts),
        "population_stability_index": lambda: psi(ref_counts, prod_counts),
        "pearsons_chi_squared_test": lambda: chi_squared_pvalue(ref_counts, prod_counts),
    }
    values = {m: compute[m]() for m in metrics}
    hist = FeatureHistogram(feature, "categorical", ref_counts.tolist(), prod_counts.tolist(),
                            categories=categories.tolist())
    return values, hist


def _thresholds(given: Mapping[str, Mapping[str, float]] | None) -> dict[str, dict[str, float]]:
    if given is None:
        return DEFAULT_DRIFT_THRESHOLDS
    out: dict[str, dict[str, float]] = {}
    for kind, metrics in given.items():
        allowed = NUMERICAL_METRICS if kind == "numerical" else CATEGORICAL_METRICS
        if kind not in ("numerical", "categorical"):
            raise InvalidInputError(f"metric_thresholds: {kind!r} is not numerical or categorical")
        out[kind] = {}
        for name, value in metrics.items():
            name = _ALIASES.get(name, name)
            if name not in allowed:
                raise InvalidInputError(
                    f"metric_thresholds.{kind}: {name!r} is not one of {', '.join(allowed)}")
            out[kind][name] = float(value)
    return out


def data_drift(reference: Columns, production: Columns, *,
               features: Iterable[str] | None = None,
               numerical_features: Iterable[str] | None = None,
               categorical_features: Iterable[str] | None = None,
               metric_thresholds: Mapping[str, Mapping[str, float]] | None = None,
               signal: str = "data_drift") -> SignalResult:
    """Every drift metric of every feature (default: all the reference's columns), each flagged
    against ``metric_thresholds`` (the YAML's ``{numerical: {...}, categorical: {...}}``;
    default the SDK's: numerical normalized Wasserstein 0.1, categorical Jensen–Shannon 0.1).
    Raises InvalidInputError naming the feature for a missing column, an empty window, or ±inf."""
    thresholds = _thresholds(metric_thresholds)
    results: list[MetricResult] = []
    histograms: list[FeatureHistogram] = []
    for feature, kind in feature_types(reference, features, numerical_features,
                                       categorical_features).items():
        ref_col = column(reference, feature, "reference")
        prod_col = column(production, feature, "production")
        compute = numerical_drift if kind == "numerical" else categorical_drift
        values, hist = compute(feature, ref_col, prod_col)
        histograms.append(hist)
        for metric, value in values.items():
            limit = threshold_for(thresholds, kind, metric)
            results.append(MetricResult(metric, value, feature, kind, limit,
                                        is_breached(metric, value, limit)))
    return SignalResult(signal, results, histograms)


def prediction_drift(reference: Columns, production: Columns, **options: object) -> SignalResult:
    """Drift of the model's outputs: the same metrics over the prediction columns."""
    return data_drift(reference, production, signal="prediction_drift", **options)  # type: ignore[arg-type]
