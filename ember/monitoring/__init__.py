"""Model monitoring metrics (issue 16): the signals of Azure ML's model monitor computed as its
``model_monitoring`` components compute them, as pure numpy/scipy functions a monitor job calls.

- :mod:`ember.monitoring.drift`: data and prediction drift (Jensen–Shannon distance, normalized
  Wasserstein distance, PSI, two-sample KS and Pearson's chi-squared p-values) with histograms;
- :mod:`ember.monitoring.quality`: null value, data type error and out-of-bounds rates;
- :mod:`ember.monitoring.attribution`: feature attribution drift (NDCG of feature importances);
- :mod:`ember.monitoring.performance`: accuracy/precision/recall, MAE/MSE/RMSE;
- :mod:`ember.monitoring.results`: the result types, default thresholds and alert directions.
"""

from ember.monitoring.attribution import feature_attribution_drift, ndcg
from ember.monitoring.drift import data_drift, prediction_drift
from ember.monitoring.performance import model_performance
from ember.monitoring.quality import data_quality
from ember.monitoring.results import FeatureHistogram, MetricResult, SignalResult

__all__ = [
    "FeatureHistogram",
    "MetricResult",
    "SignalResult",
    "data_drift",
    "data_quality",
    "feature_attribution_drift",
    "model_performance",
    "ndcg",
    "prediction_drift",
]
