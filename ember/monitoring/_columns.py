"""Column helpers shared by the signals: null masks, numeric and categorical views, and which
features are numerical. A column is any 1-D array-like; NaN and None are nulls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ember.errors import InvalidInputError
from ember.monitoring.results import FeatureType

Columns = Mapping[str, Any]


def column(data: Columns, feature: str, which: str) -> np.ndarray:
    if feature not in data:
        raise InvalidInputError(f"feature {feature!r} is not in the {which} data")
    values = np.asarray(data[feature])
    if values.ndim != 1:
        raise InvalidInputError(f"feature {feature!r}: the {which} column is not one-dimensional")
    return values


def is_numeric_dtype(values: np.ndarray) -> bool:
    # bool is categorical, as Azure's monitors treat BooleanType.
    return values.dtype.kind in "iuf"


def null_mask(values: np.ndarray) -> npt.NDArray[np.bool_]:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        # Elementwise in C: `!=` is True only for NaN among non-None values.
        return np.asarray((values == None) | (values != values), dtype=bool)  # noqa: E711
    return np.zeros(values.shape, dtype=bool)


def numeric_values(feature: str, values: np.ndarray, which: str) -> npt.NDArray[np.float64]:
    """The non-null values as float64; a value that is not a number, or ±inf, is an error
    naming the feature (drift has no bin for it)."""
    kept = values[~null_mask(values)]
    try:
        out = kept.astype(np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"feature {feature!r}: the {which} column holds values that are not numbers") from None
    if not np.isfinite(out).all():
        raise InvalidInputError(f"feature {feature!r}: the {which} column holds ±inf")
    return out


def category_values(values: np.ndarray) -> np.ndarray:
    """The non-null values as text: Azure keys category counts by ``str(value)``."""
    kept = values[~null_mask(values)]
    if kept.dtype.kind == "f":
        # 1.0 and 1 are one category; keep "1.5" as it is.
        # Past 2**53 a float is whole but may not fit an int64: keep its own text there.
        whole = (kept == np.round(kept)) & (np.abs(kept) < 2.0 ** 53)
        text = kept.astype(str)
        text[whole] = kept[whole].astype(np.int64).astype(str)
        return text
    return kept.astype(str)


def feature_types(
    reference: Columns,
    features: Iterable[str] | None,
    numerical: Iterable[str] | None,
    categorical: Iterable[str] | None,
) -> dict[str, FeatureType]:
    """Each monitored feature's type: as overridden, else numerical when the reference column
    has a numeric dtype (Azure infers it from the reference's Spark types)."""
    numerical, categorical = set(numerical or ()), set(categorical or ())
    if numerical & categorical:
        raise InvalidInputError(
            f"features {sorted(numerical & categorical)} are both numerical and categorical")
    names = list(features) if features is not None else list(reference)
    out: dict[str, FeatureType] = {}
    for name in names:
        if name in numerical:
            out[name] = "numerical"
        elif name in categorical:
            out[name] = "categorical"
        else:
            out[name] = ("numerical" if is_numeric_dtype(column(reference, name, "reference"))
                         else "categorical")
    return out


def threshold_for(thresholds: Mapping[str, Mapping[str, float]], feature_type: str,
                  metric: str) -> float | None:
    value = thresholds.get(feature_type, {}).get(metric)
    return None if value is None else float(value)
