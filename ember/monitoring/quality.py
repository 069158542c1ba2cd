"""Data quality, computed as Azure's ``data_quality_compute_metrics`` does: per feature, over
every row of the production window (nulls included in the denominator), rounded to 5 decimals.

- null value rate: nulls (None, NaN) / rows;
- data type error rate: non-null values that do not cast to the type learnt from the reference
  (a numerical feature: a value that is not a number; a boolean one: anything but true/false,
  0/1; a text one: none, everything casts to text) / rows;
- out-of-bounds rate: a numerical feature's values outside the reference's [min, max], a
  categorical feature's values outside the reference's set of values / rows. Nulls and values
  with a type error are not counted again here (Azure imputes the first and nulls the second
  before its bounds check).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from ember.errors import InvalidInputError
from ember.monitoring._columns import (
    Columns,
    category_values,
    column,
    feature_types,
    null_mask,
    threshold_for,
)
from ember.monitoring.results import (
    DEFAULT_QUALITY_THRESHOLDS,
    FeatureType,
    MetricResult,
    SignalResult,
    is_breached,
)

QUALITY_METRICS = ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate")
_BOOLEAN_TEXT = frozenset({"true", "false", "0", "1", "0.0", "1.0"})


def _as_numbers(values: np.ndarray) -> tuple[npt.NDArray[np.float64], int]:
    """Non-null values as floats, and how many would not cast (dropped from the floats)."""
    try:
        return values.astype(np.float64), 0
    except (TypeError, ValueError):
        pass
    # Only a column with a bad value gets here: cast one by one.
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            pass
    return np.array(numbers, dtype=np.float64), values.size - len(numbers)


def _rates(feature: str, kind: FeatureType, reference: np.ndarray,
           production: np.ndarray) -> dict[str, float]:
    rows = production.size
    nulls = null_mask(production)
    present = production[~nulls]
    ref_present = reference[~null_mask(reference)]
    if ref_present.size == 0:
        raise InvalidInputError(
            f"feature {feature!r}: the reference has no non-null values to learn bounds from")
    if kind == "numerical":
        ref_numbers, ref_bad = _as_numbers(ref_present)
        if ref_bad or ref_numbers.size == 0:
            raise InvalidInputError(f"feature {feature!r}: the reference holds values that are not numbers")
        numbers, type_errors = _as_numbers(present)
        # NaN in the production's own floats was counted as null above.
        low, high = ref_numbers.min(), ref_numbers.max()
        out_of_bounds = int(np.count_nonzero((numbers < low) | (numbers > high)))
    else:
        if reference.dtype.kind == "b":
            text = np.char.lower(category_values(present))
            type_errors = int(np.count_nonzero(~np.isin(text, list(_BOOLEAN_TEXT))))
        else:
            type_errors = 0
        out_of_bounds = int(np.count_nonzero(
            ~np.isin(category_values(present), np.unique(category_values(ref_present)))))
    counts = {"null_value_rate": int(nulls.sum()), "data_type_error_rate": type_errors,
              "out_of_bounds_rate": out_of_bounds}
    return {metric: round(count / rows, 5) for metric, count in counts.items()}


def data_quality(reference: Columns, production: Columns, *,
                 features: Iterable[str] | None = None,
                 numerical_features: Iterable[str] | None = None,
                 categorical_features: Iterable[str] | None = None,
                 metric_thresholds: Mapping[str, Mapping[str, float]] | None = None,
                 ) -> SignalResult:
    """The three rates of every feature, each flagged against ``metric_thresholds`` (default
    0 for all: any violation breaches). Raises InvalidInputError naming the feature for a
    missing column, an empty production window or a reference with nothing to learn from."""
    thresholds = DEFAULT_QUALITY_THRESHOLDS if metric_thresholds is None else metric_thresholds
    for kind, metrics in thresholds.items():
        unknown = sorted(set(metrics) - set(QUALITY_METRICS))
        if kind not in ("numerical", "categorical") or unknown:
            raise InvalidInputError(f"metric_thresholds.{kind}: {unknown or kind!r} is not one of "
                                    f"{', '.join(QUALITY_METRICS)} under numerical/categorical")
    results: list[MetricResult] = []
    for feature, kind in feature_types(reference, features, numerical_features,
                                       categorical_features).items():
        prod_col = column(production, feature, "production")
        if prod_col.size == 0:
            raise InvalidInputError(f"feature {feature!r}: the production window has no rows")
        rates = _rates(feature, kind, column(reference, feature, "reference"), prod_col)
        for metric, value in rates.items():
            limit = threshold_for(thresholds, kind, metric)
            results.append(MetricResult(metric, value, feature, kind, limit,
                                        is_breached(metric, value, limit)))
    return SignalResult("data_quality", results)
