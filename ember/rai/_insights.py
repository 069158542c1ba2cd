"""What the insight components share: the features as numbers (categorical columns as codes of
their sorted values, so shap and the error tree can split them) and the model as a function of
that matrix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.rai._data import Insights
from ember.rai._deps import require

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Encoding:
    """Categorical features as integer codes of ``categories[feature]``."""

    features: list[str]
    categories: dict[str, list[Any]]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        np = require("numpy")
        out = frame[self.features].copy()
        for column, values in self.categories.items():
            index = {v: i for i, v in enumerate(values)}
            out[column] = out[column].map(index).astype(float)
        return np.asarray(out.to_numpy(dtype=float))

    def decode(self, matrix: np.ndarray, dtypes: pd.Series) -> pd.DataFrame:
        np, pd = require("numpy"), require("pandas")
        frame = pd.DataFrame(matrix, columns=self.features)
        for column in self.features:
            if column in self.categories:
                values = np.asarray(self.categories[column], dtype=object)
                codes = np.clip(np.rint(frame[column].to_numpy()).astype(int), 0, len(values) - 1)
                frame[column] = values[codes]
            else:
                frame[column] = frame[column].astype(dtypes[column])
        return frame


def encoding(insights: Insights) -> Encoding:
    pd = require("pandas")
    both = pd.concat([insights.train[insights.features], insights.test[insights.features]])
    cats = {c: sorted(both[c].dropna().unique().tolist(), key=str) for c in insights.categorical}
    return Encoding(insights.features, cats)


def model_function(insights: Insights, enc: Encoding) -> Callable[[np.ndarray], np.ndarray]:
    """The model on a coded matrix: class probabilities (classification with predict_proba),
    else predictions."""
    model = insights.model
    dtypes = insights.train[insights.features].dtypes
    proba = insights.is_classification and hasattr(model, "predict_proba")

    def run(matrix: np.ndarray) -> np.ndarray:
        frame = enc.decode(matrix, dtypes)
        return model.predict_proba(frame) if proba else model.predict(frame)

    return run


def errors(insights: Insights) -> pd.Series:
    """Per test row: 1.0 where the model is wrong (classification), else the absolute error."""
    np, pd = require("numpy"), require("pandas")
    truth = insights.test[insights.target].to_numpy()
    predicted = insights.predictions["predicted"].to_numpy()
    if insights.is_classification:
        return pd.Series((truth != predicted).astype(float))
    return pd.Series(np.abs(truth.astype(float) - predicted.astype(float)))
