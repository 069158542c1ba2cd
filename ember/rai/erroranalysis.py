"""``python -m ember.rai.erroranalysis``: Ember's ``rai_tabular_erroranalysis``.

As the erroranalysis package does, a surrogate tree is grown on the model's test errors (wrong
or right for a classifier, the absolute error for a regressor): scikit-learn's decision tree
with ``max_depth``, ``num_leaves`` as ``max_leaf_nodes`` and ``min_child_samples`` as
``min_samples_leaf``. Each node is a cohort: its filter, size, error count and error rate; the
leaves with the most errors are where the model fails. ``filter_features`` (one or two
features) adds the heat map of the error rate over their values (numbers in up to 8 quantile
bins). The error rate and the worst leaf's are logged to the step's MLflow run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.rai import _params as P
from ember.rai._data import Insights, load_insights, write_insight
from ember.rai._deps import require
from ember.rai._insights import Encoding, encoding, errors
from ember.rai._mlflow import log_metrics

HEATMAP_BINS = 8


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.rai.erroranalysis", description=__doc__)
    p.add_argument("--rai_insights_dashboard", required=True)
    p.add_argument("--max_depth", type=int, default=3)
    p.add_argument("--num_leaves", type=int, default=31)
    p.add_argument("--min_child_samples", type=int, default=20)
    p.add_argument("--filter_features", default="null")
    p.add_argument("--error_analysis", required=True)
    return p


def error_tree(insights: Insights, max_depth: int, num_leaves: int,
               min_child_samples: int) -> list[dict[str, Any]]:
    """The tree's nodes, depth first: id, parent_id, condition (the path from the root), split
    (the last test), size, error, error_rate, leaf; inner nodes also feature and threshold."""
    tree_mod = require("sklearn.tree")
    enc = encoding(insights)
    x = enc.encode(insights.test)
    wrong = errors(insights).to_numpy()
    kind = tree_mod.DecisionTreeClassifier if insights.is_classification \
        else tree_mod.DecisionTreeRegressor
    target = wrong.astype(int) if insights.is_classification else wrong
    tree = kind(max_depth=max_depth, max_leaf_nodes=max(num_leaves, 2),
                min_samples_leaf=min_child_samples, random_state=0).fit(x, target).tree_
    nodes: list[dict[str, Any]] = []

    def visit(node: int, parent: int | None, path: list[str], rows: Any) -> None:
        size = int(rows.sum())
        error = float(wrong[rows].sum())
        entry = {"id": node, "parent_id": parent, "condition": " and ".join(path) or "all data",
                 "split": path[-1] if path else "all data", "size": size,
                 "error": error, "error_rate": error / size if size else 0.0,
                 "leaf": bool(tree.children_left[node] == -1)}
        nodes.append(entry)
        if entry["leaf"]:
            return
        feature = insights.features[tree.feature[node]]
        threshold = float(tree.threshold[node])
        left = rows & (x[:, tree.feature[node]] <= threshold)
        entry.update(feature=feature, threshold=threshold)
        visit(int(tree.children_left[node]), node,
              [*path, _condition(enc, feature, threshold, True)], left)
        visit(int(tree.children_right[node]), node,
              [*path, _condition(enc, feature, threshold, False)], rows & ~left)

    np = require("numpy")
    visit(0, None, [], np.ones(len(x), dtype=bool))
    return nodes


def _condition(enc: Encoding, feature: str, threshold: float, left: bool) -> str:
    if feature in enc.categories:
        values = enc.categories[feature]
        cut = int(threshold) + 1        # codes <= threshold go left
        chosen = values[:cut] if left else values[cut:]
        return f"{feature} in {{{', '.join(map(str, chosen))}}}"
    return f"{feature} {'<=' if left else '>'} {threshold:.4g}"


def heatmap(insights: Insights, features: list[str]) -> dict[str, Any]:
    """The error rate over the values (or quantile bins) of one or two features."""
    pd = require("pandas")
    wrong = errors(insights)
    binned = {f: _bins(insights.test[f], f in insights.categorical) for f in features}
    frame = pd.DataFrame({f: binned[f].astype(str) for f in features})
    frame["error"] = wrong.to_numpy()
    grouped = frame.groupby(features, observed=True)["error"].agg(["count", "sum"])
    cells = [{"values": list(k) if isinstance(k, tuple) else [k], "size": int(r["count"]),
              "error": float(r["sum"]), "error_rate": float(r["sum"] / r["count"])}
             for k, r in grouped.iterrows()]
    return {"features": features, "cells": cells,
            "categories": {f: [str(v) for v in _order(binned[f])] for f in features}}


def _bins(column: Any, categorical: bool) -> Any:
    pd = require("pandas")
    if categorical or column.nunique() <= HEATMAP_BINS:
        return column
    return pd.qcut(column, HEATMAP_BINS, duplicates="drop")


def _order(column: Any) -> list[Any]:
    if hasattr(column, "cat"):
        return list(column.cat.categories)
    return sorted(column.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))


def run(args: argparse.Namespace) -> dict[str, Any]:
    for name in ("max_depth", "num_leaves", "min_child_samples"):
        if getattr(args, name) < 1:
            raise InvalidInputError(f"{name}: must be at least 1, got {getattr(args, name)}")
    filters = P.string_list(args.filter_features, "filter_features")
    if len(filters) > 2:
        raise InvalidInputError(f"filter_features: one or two features, got {len(filters)}")
    insights = load_insights(Path(args.rai_insights_dashboard), with_train=True)
    P.check_columns(filters, insights.features, "filter_features")
    nodes = error_tree(insights, args.max_depth, args.num_leaves, args.min_child_samples)
    leaves = sorted((n for n in nodes if n["leaf"]), key=lambda n: (-n["error"], n["id"]))
    importances = _importances(insights)
    data: dict[str, Any] = {
        "tree": nodes, "error_rate": nodes[0]["error_rate"],
        "worst_leaves": [n["id"] for n in leaves], "feature_importances": importances,
        "heatmap": heatmap(insights, filters) if filters else None,
        "metric": "error_rate" if insights.is_classification else "mean_absolute_error",
    }
    write_insight(Path(args.error_analysis), "error_analysis", insights, data, {
        "max_depth": args.max_depth, "num_leaves": args.num_leaves,
        "min_child_samples": args.min_child_samples, "filter_features": filters})
    worst = leaves[0] if leaves else nodes[0]
    log_metrics({"error_analysis_error_rate": float(nodes[0]["error_rate"]),
                 "error_analysis_worst_cohort_error_rate": float(worst["error_rate"])})
    P.say(f"{len(nodes)} nodes; {data['metric']} {nodes[0]['error_rate']:.3g}, worst cohort "
          f"{worst['condition']!r} ({worst['size']} rows) {worst['error_rate']:.3g}")
    return data


def _importances(insights: Insights) -> dict[str, float]:
    """How much each feature tells about the errors: mutual information, as erroranalysis."""
    fs = require("sklearn.feature_selection")
    enc = encoding(insights)
    wrong = errors(insights).to_numpy()
    discrete = [f in insights.categorical for f in insights.features]
    scorer = fs.mutual_info_classif if insights.is_classification else fs.mutual_info_regression
    values = scorer(enc.encode(insights.test), wrong.astype(int) if insights.is_classification
                    else wrong, discrete_features=discrete, random_state=0)
    return {f: float(v) for f, v in sorted(zip(insights.features, values), key=lambda p: -p[1])}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return P.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
