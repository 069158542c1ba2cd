"""The monitoring metrics against scipy and scikit-learn computed directly on the same arrays,
the alert directions and thresholds, and the edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, wasserstein_distance
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    mean_squared_error,
    ndcg_score,
    precision_score,
    recall_score,
)

from ember.errors import InvalidInputError
from ember.monitoring import (
    data_drift,
    data_quality,
    feature_attribution_drift,
    model_performance,
    ndcg,
    prediction_drift,
)
from ember.monitoring.drift import bin_edges, sturges_bins
from ember.monitoring.results import is_breached


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(16)


def expected_numerical(ref: np.ndarray, prod: np.ndarray) -> dict[str, float]:
    """Azure's recipe written out with numpy and scipy directly."""
    bins = math.ceil(math.log2(min(ref.size, prod.size)) + 1)
    low, high = min(ref.min(), prod.min()), max(ref.max(), prod.max())
    edges = [low + i * (high - low) / bins for i in range(bins + 1)]
    r, _ = np.histogram(ref, bins=edges)
    p, _ = np.histogram(prod, bins=edges)
    psi_r, psi_p = (r + 1) / ref.size, (p + 1) / prod.size
    return {
        "jensen_shannon_distance": jensenshannon(r / ref.size, p / prod.size, base=2),
        "population_stability_index": float(np.sum((psi_p - psi_r) * np.log(psi_p / psi_r))),
        "normalized_wasserstein_distance":
            wasserstein_distance(ref, prod) / max(np.std(ref, ddof=1), 0.001),
        "two_sample_kolmogorov_smirnov_test": ks_2samp(ref, prod).pvalue,
    }


@pytest.mark.parametrize("sizes", [(500, 300), (30_000, 20_000)])
def test_numerical_drift_equals_scipy(rng: np.random.Generator, sizes: tuple[int, int]) -> None:
    # Both sides of ks_2samp's exact/asymptotic cut-over (10,000 rows).
    ref = rng.normal(10, 2, sizes[0])
    prod = rng.normal(10.3, 2.5, sizes[1])
    result = data_drift({"x": ref}, {"x": prod})
    for metric, value in expected_numerical(ref, prod).items():
        assert result.value(metric, "x") == pytest.approx(value, rel=1e-9, abs=1e-12), metric
    hist = result.histograms[0]
    assert len(hist.bin_edges or []) == sturges_bins(*sizes) + 1
    assert sum(hist.reference_counts) == sizes[0] and sum(hist.production_counts) == sizes[1]


def test_tied_integer_values_equal_scipy(rng: np.random.Generator) -> None:
    ref = rng.integers(0, 8, 20_000)
    prod = rng.integers(1, 9, 15_000)
    result = data_drift({"k": ref}, {"k": prod}, numerical_features=["k"])
    for metric, value in expected_numerical(ref.astype(float), prod.astype(float)).items():
        assert result.value(metric, "k") == pytest.approx(value, rel=1e-9, abs=1e-12), metric


def test_categorical_drift_equals_scipy(rng: np.random.Generator) -> None:
    ref = rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2])
    prod = rng.choice(["a", "b", "c"], 1500, p=[0.4, 0.4, 0.2])
    result = data_drift({"c": ref}, {"c": prod})
    r = np.array([np.sum(ref == k) for k in "abc"])
    p = np.array([np.sum(prod == k) for k in "abc"])
    assert result.value("jensen_shannon_distance", "c") == pytest.approx(
        jensenshannon(r / r.sum(), p / p.sum(), base=2), rel=1e-12)
    psi_r, psi_p = (r + 1) / r.sum(), (p + 1) / p.sum()
    assert result.value("population_stability_index", "c") == pytest.approx(
        np.sum((psi_p - psi_r) * np.log(psi_p / psi_r)), rel=1e-12)
    assert result.value("pearsons_chi_squared_test", "c") == pytest.approx(
        chisquare(p, r / r.sum() * p.sum()).pvalue, rel=1e-9)
    assert result.histograms[0].categories == ["a", "b", "c"]
    assert result.histograms[0].reference_counts == r.tolist()


def test_category_unseen_in_reference(rng: np.random.Generator) -> None:
    ref = np.array(["a"] * 60 + ["b"] * 40, dtype=object)
    prod = np.array(["a"] * 50 + ["b"] * 30 + ["z"] * 20, dtype=object)
    result = data_drift({"c": ref}, {"c": prod})
    # The union of categories, the reference counting 0 for "z".
    assert result.histograms[0].categories == ["a", "b", "z"]
    assert result.histograms[0].reference_counts == [60, 40, 0]
    assert result.value("jensen_shannon_distance", "c") == pytest.approx(
        jensenshannon([0.6, 0.4, 0.0], [0.5, 0.3, 0.2], base=2))
    r, p = np.array([61, 41, 1]) / 100, np.array([51, 31, 21]) / 100
    assert result.value("population_stability_index", "c") == pytest.approx(
        np.sum((p - r) * np.log(p / r)))
    assert result.value("pearsons_chi_squared_test", "c") == 0.0


def test_identical_distributions_do_not_breach(rng: np.random.Generator) -> None:
    ref = {"x": rng.normal(0, 1, 20_000), "c": rng.choice(["a", "b", "c"], 20_000)}
    prod = {"x": rng.normal(0, 1, 5_000), "c": rng.choice(["a", "b", "c"], 5_000)}
    thresholds = {"numerical": {"normalized_wasserstein_distance": 0.1,
                                "jensen_shannon_distance": 0.1,
                                "population_stability_index": 0.1,
                                "two_sample_kolmogorov_smirnov_test": 0.001},
                  "categorical": {"jensen_shannon_distance": 0.1, "chi_squared_test": 0.001}}
    result = data_drift(ref, prod, metric_thresholds=thresholds)
    assert not result.breached, [m for m in result.metrics if m.breached]
    same = data_drift(ref, ref)
    assert same.value("jensen_shannon_distance", "x") == 0.0
    assert same.value("normalized_wasserstein_distance", "x") == 0.0
    assert same.value("two_sample_kolmogorov_smirnov_test", "x") == 1.0
    assert same.value("pearsons_chi_squared_test", "c") == 1.0


def test_shifted_distribution_breaches_with_default_thresholds(rng: np.random.Generator) -> None:
    ref = {"x": rng.normal(0, 1, 20_000), "y": rng.normal(0, 1, 20_000),
           "c": rng.choice(["a", "b", "c"], 20_000, p=[0.6, 0.3, 0.1])}
    prod = {"x": rng.normal(0.5, 1, 5_000), "y": rng.normal(0, 1, 5_000),
            "c": rng.choice(["a", "b", "c"], 5_000, p=[0.1, 0.3, 0.6])}
    result = data_drift(ref, prod)
    assert result.breached and result.breached_features == ["c", "x"]
    by = {(m.metric, m.feature): m for m in result.metrics}
    nwd = by[("normalized_wasserstein_distance", "x")]
    assert (nwd.threshold, nwd.breached) == (0.1, True) and nwd.value > 0.4
    assert by[("jensen_shannon_distance", "c")].threshold == 0.1
    # Metrics without a threshold are reported, never breached.
    assert by[("two_sample_kolmogorov_smirnov_test", "x")].threshold is None
    assert not by[("two_sample_kolmogorov_smirnov_test", "x")].breached
    agg = result.aggregate()["normalized_wasserstein_distance"]
    assert agg["worst_feature"] == "x" and agg["breached_features"] == 1 and agg["features"] == 2
    assert result.aggregate()["two_sample_kolmogorov_smirnov_test"]["worst_feature"] == "x"
    assert result.to_dict()["breached"] is True


def test_p_value_tests_alert_below_threshold(rng: np.random.Generator) -> None:
    ref = {"x": rng.normal(0, 1, 3000)}
    prod = {"x": rng.normal(0.3, 1, 3000)}
    result = data_drift(ref, prod, metric_thresholds={
        "numerical": {"two_sample_kolmogorov_smirnov_test": 0.05}})
    ks = next(m for m in result.metrics if m.metric == "two_sample_kolmogorov_smirnov_test")
    assert ks.value < 0.05 and ks.breached
    assert is_breached("pearsons_chi_squared_test", 0.2, 0.05) is False
    assert is_breached("jensen_shannon_distance", 0.2, 0.1) is True
    assert is_breached("normalized_discounted_cumulative_gain", 0.85, 0.9) is True
    assert is_breached("jensen_shannon_distance", math.nan, 0.1) is False


def test_prediction_drift_is_its_own_signal(rng: np.random.Generator) -> None:
    result = prediction_drift({"score": rng.normal(0, 1, 500)}, {"score": rng.normal(0, 1, 500)})
    assert result.signal == "prediction_drift"


def test_nulls_are_dropped_from_drift(rng: np.random.Generator) -> None:
    ref = rng.normal(0, 1, 1000)
    prod = rng.normal(0, 1, 800)
    holed = prod.copy()
    holed[::10] = np.nan
    kept = holed[~np.isnan(holed)]
    result = data_drift({"x": ref}, {"x": holed})
    for metric, value in expected_numerical(ref, kept).items():
        assert result.value(metric, "x") == pytest.approx(value, rel=1e-9, abs=1e-12)
    with_none = np.array(["a", None, "b", float("nan"), "a"], dtype=object)
    cat = data_drift({"c": np.array(["a", "b"])}, {"c": with_none})
    assert cat.histograms[0].production_counts == [2, 1]


def test_float_categories_compare_as_text() -> None:
    result = data_drift({"code": np.array([1, 2, 2, 3], dtype=object)},
                        {"code": np.array([1.0, 2.0, 2.5, np.nan])}, categorical_features=["code"])
    hist = result.histograms[0]
    assert hist.categories == ["1", "2", "2.5", "3"]
    assert hist.production_counts == [1, 1, 1, 0]


def test_constant_column_and_single_category() -> None:
    result = data_drift({"k": np.full(100, 3.0), "c": np.array(["only"] * 50)},
                        {"k": np.full(40, 3.0), "c": np.array(["only"] * 20)})
    assert result.value("jensen_shannon_distance", "k") == 0.0
    # Azure's +1 per bin over n (not n + bins) leaves a trace when the windows' sizes differ.
    assert result.value("population_stability_index", "k") == pytest.approx(
        (41 / 40 - 101 / 100) * math.log((41 / 40) / (101 / 100)))
    # The reference's std is 0: Azure's floor of 0.001 keeps the division finite.
    assert result.value("normalized_wasserstein_distance", "k") == 0.0
    assert result.value("two_sample_kolmogorov_smirnov_test", "k") == 1.0
    assert result.value("pearsons_chi_squared_test", "c") == 1.0
    assert result.value("jensen_shannon_distance", "c") == 0.0
    assert not result.breached
    edges = bin_edges(np.full(3, -2.0), np.full(3, -2.0))
    assert edges.size == 2 and edges[0] == -2.0 and edges[1] > -2.0
    moved = data_drift({"k": np.full(100, 3.0)}, {"k": np.full(100, 3.5)})
    assert moved.value("normalized_wasserstein_distance", "k") == pytest.approx(0.5 / 0.001)
    assert moved.breached


@pytest.mark.parametrize("prod, message", [
    (np.array([], dtype=float), "production window has no non-null values"),
    (np.full(5, np.nan), "production window has no non-null values"),
    (np.array([1.0, np.inf]), "±inf"),
    (np.array(["1", "x"], dtype=object), "not numbers"),
])
def test_bad_production_column_names_the_feature(prod: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInputError, match=f"feature 'amount'.*{message}"):
        data_drift({"amount": np.arange(10.0)}, {"amount": prod})


def test_missing_column_and_bad_threshold_names() -> None:
    with pytest.raises(InvalidInputError, match="feature 'b' is not in the production data"):
        data_drift({"a": np.arange(3.0), "b": np.arange(3.0)}, {"a": np.arange(3.0)})
    with pytest.raises(InvalidInputError, match="'chebyshev' is not one of"):
        data_drift({"a": np.arange(3.0)}, {"a": np.arange(3.0)},
                   metric_thresholds={"numerical": {"chebyshev": 0.1}})
    with pytest.raises(InvalidInputError, match="feature 'c': the reference window"):
        data_drift({"c": np.array([None, None], dtype=object)}, {"c": np.array(["a"])},
                   categorical_features=["c"])


def test_data_quality_rates() -> None:
    ref = {"age": np.array([20.0, 30.0, 40.0, 50.0]), "city": np.array(["x", "y", "y", "z"]),
           "flag": np.array([True, False, True, True])}
    prod = {"age": np.array([25.0, np.nan, 60.0, 10.0, 35.0, np.nan, "old", 45.0], dtype=object),
            "city": np.array(["x", None, "w", "y", "y", "y", "x", "q"], dtype=object),
            "flag": np.array([True, "maybe", False, None, True, True, False, "true"], dtype=object)}
    result = data_quality(ref, prod, numerical_features=["age"])
    assert result.value("null_value_rate", "age") == 0.25
    assert result.value("data_type_error_rate", "age") == 0.125
    assert result.value("out_of_bounds_rate", "age") == 0.25    # 60 and 10
    assert result.value("null_value_rate", "city") == 0.125
    assert result.value("data_type_error_rate", "city") == 0.0
    assert result.value("out_of_bounds_rate", "city") == 0.25   # w and q
    assert result.value("data_type_error_rate", "flag") == 0.125  # "maybe"
    assert result.value("null_value_rate", "flag") == 0.125
    # Any violation breaches Azure's default threshold of 0.
    assert result.breached and set(result.breached_features) == {"age", "city", "flag"}
    assert all(m.threshold == 0.0 for m in result.metrics)


def test_data_quality_clean_window_does_not_breach(rng: np.random.Generator) -> None:
    ref = {"x": rng.uniform(0, 10, 5000), "c": rng.choice(["a", "b"], 5000)}
    prod = {"x": rng.uniform(1, 9, 1000), "c": rng.choice(["a", "b"], 1000)}
    result = data_quality(ref, prod)
    assert not result.breached
    assert {m.value for m in result.metrics} == {0.0}


def test_data_quality_injected_nulls_and_out_of_range(rng: np.random.Generator) -> None:
    ref = {"x": rng.uniform(0, 10, 5000)}
    prod_x = rng.uniform(ref["x"].min(), ref["x"].max(), 100_000)
    prod_x[:3] = np.nan
    prod_x[3:10] = 11.0
    result = data_quality(ref, {"x": prod_x})
    assert result.value("null_value_rate", "x") == 0.00003
    assert result.value("out_of_bounds_rate", "x") == 0.00007
    assert result.breached_features == ["x"]


def test_data_quality_edge_cases() -> None:
    all_null = data_quality({"x": np.array([1.0, 2.0])}, {"x": np.full(4, np.nan)})
    assert all_null.value("null_value_rate", "x") == 1.0
    assert all_null.value("out_of_bounds_rate", "x") == 0.0
    with pytest.raises(InvalidInputError, match="feature 'x': the production window has no rows"):
        data_quality({"x": np.array([1.0])}, {"x": np.array([], dtype=float)})
    with pytest.raises(InvalidInputError, match="feature 'x': the reference has no non-null"):
        data_quality({"x": np.full(3, np.nan)}, {"x": np.array([1.0])})
    with pytest.raises(InvalidInputError, match="is not one of"):
        data_quality({"x": np.array([1.0])}, {"x": np.array([1.0])},
                     metric_thresholds={"numerical": {"null_rate": 0.1}})
    # ±inf is a number outside any finite reference's bounds.
    inf = data_quality({"x": np.array([1.0, 2.0])}, {"x": np.array([1.0, np.inf])})
    assert inf.value("out_of_bounds_rate", "x") == 0.5


def test_ndcg_equals_sklearn(rng: np.random.Generator) -> None:
    for _ in range(20):
        ref = rng.uniform(0, 1, 12)
        prod = np.round(ref + rng.normal(0, 0.2, 12), 1).clip(0)   # rounding makes ties
        assert ndcg(ref, prod) == pytest.approx(ndcg_score([ref], [prod]), rel=1e-12)
    assert ndcg(np.zeros(3), np.array([1.0, 2.0, 3.0])) == ndcg_score([[0, 0, 0]], [[1, 2, 3]])


def test_feature_attribution_drift() -> None:
    ref = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}
    same_order = feature_attribution_drift(ref, {"a": 0.4, "b": 0.35, "c": 0.2, "d": 0.01, "new": 9})
    assert same_order.value("normalized_discounted_cumulative_gain") == pytest.approx(1.0)
    assert not same_order.breached
    flipped = feature_attribution_drift(ref, {"a": 0.05, "b": 0.15, "c": 0.3, "d": 0.5})
    names = sorted(ref)
    assert flipped.value("normalized_discounted_cumulative_gain") == pytest.approx(ndcg_score(
        [[ref[f] for f in names]], [[0.05, 0.15, 0.3, 0.5]]))
    assert flipped.breached
    with pytest.raises(InvalidInputError, match=r"features \['d'\] have no production"):
        feature_attribution_drift(ref, {"a": 1, "b": 1, "c": 1})
    with pytest.raises(InvalidInputError, match=r"features \['b'\]: reference importance"):
        feature_attribution_drift({"a": 1.0, "b": -1.0}, {"a": 1.0, "b": 1.0})


def test_classification_performance_equals_sklearn(rng: np.random.Generator) -> None:
    truth = rng.integers(0, 2, 1000)
    predicted = np.where(rng.uniform(size=1000) < 0.8, truth, 1 - truth)
    result = model_performance("classification", truth, predicted)
    assert result.value("accuracy") == pytest.approx(accuracy_score(truth, predicted))
    assert result.value("precision") == pytest.approx(precision_score(truth, predicted))
    assert result.value("recall") == pytest.approx(recall_score(truth, predicted))
    assert result.breached   # accuracy ≈ 0.8 < the SDK's 0.9
    labels = rng.choice(["cat", "dog", "owl"], 600)
    guesses = np.where(rng.uniform(size=600) < 0.95, labels, "owl")
    multi = model_performance("classification", labels, guesses)
    assert multi.value("precision") == pytest.approx(precision_score(labels, guesses, average="macro"))
    assert multi.value("recall") == pytest.approx(recall_score(labels, guesses, average="macro"))
    assert not multi.breached


def test_regression_performance_equals_sklearn(rng: np.random.Generator) -> None:
    truth = rng.normal(100, 10, 500)
    predicted = truth + rng.normal(0, 2, 500)
    result = model_performance("regression", truth, predicted, metric_thresholds={"rmse": 1.0})
    mse = mean_squared_error(truth, predicted)
    assert result.value("mae") == pytest.approx(mean_absolute_error(truth, predicted))
    assert result.value("mse") == pytest.approx(mse)
    assert result.value("rmse") == pytest.approx(math.sqrt(mse))
    assert result.breached   # rmse ≈ 2 > 1


def test_performance_edge_cases() -> None:
    joined = model_performance("classification", np.array([1, None, 0], dtype=object),
                               np.array([1, 1, None], dtype=object))
    assert joined.value("accuracy") == 1.0
    with pytest.raises(InvalidInputError, match="no row has both"):
        model_performance("regression", np.array([np.nan]), np.array([1.0]))
    with pytest.raises(InvalidInputError, match="must be finite"):
        model_performance("regression", np.array([1.0]), np.array([np.inf]))
    with pytest.raises(InvalidInputError, match="labels mix types"):
        model_performance("classification", np.array([1, "a"], dtype=object), [1, 1])
    with pytest.raises(InvalidInputError, match="no classification metric"):
        model_performance("classification", [1], [1], metric_thresholds={"rmse": 1})
