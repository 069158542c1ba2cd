"""``python -m ember.rai.causal``: Ember's ``rai_tabular_causal``.

econml's CausalAnalysis (the engine behind Azure's causal component, with the same settings):
for each of ``treatment_features``, a double-machine-learning estimate of its effect on the
target, controlling for the other features: the global (average) effect with its standard
error, p-value and confidence interval at ``alpha``; the local effect on each test row; and the
treatment policy (a tree of at most ``max_tree_depth``, leaves of ``min_tree_leaf_samples``):
whom to treat given ``treatment_cost``, and the gain over treating everyone or no one.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.rai import _params as P
from ember.rai._data import Insights, first_line, load_insights, plain, write_insight
from ember.rai._deps import require

NUISANCE = ("linear", "automl")
HETEROGENEITY = ("linear", "forest")
LOCAL_ROWS = 5000


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.rai.causal", description=__doc__)
    p.add_argument("--rai_insights_dashboard", required=True)
    p.add_argument("--treatment_features", required=True)
    p.add_argument("--heterogeneity_features", default="null")
    p.add_argument("--nuisance_model", default="linear")
    p.add_argument("--heterogeneity_model", default="linear")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--upper_bound_on_cat_expansion", type=int, default=50)
    p.add_argument("--treatment_cost", default="0")
    p.add_argument("--min_tree_leaf_samples", type=int, default=2)
    p.add_argument("--max_tree_depth", type=int, default=2)
    p.add_argument("--skip_cat_limit_checks", default="False")
    p.add_argument("--categories", default="auto")
    p.add_argument("--n_jobs", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument("--random_state", default="None")
    p.add_argument("--causal", required=True)
    return p


def _settings(args: argparse.Namespace, insights: Insights) -> dict[str, Any]:
    treatments = P.string_list(args.treatment_features, "treatment_features")
    if not treatments:
        raise InvalidInputError("treatment_features: name at least one feature")
    P.check_columns(treatments, insights.features, "treatment_features")
    heterogeneity = P.json_param(args.heterogeneity_features, "heterogeneity_features", list,
                                 None)
    if heterogeneity:
        P.check_columns(heterogeneity, insights.features, "heterogeneity_features")
    for name, value, known in (("nuisance_model", args.nuisance_model, NUISANCE),
                               ("heterogeneity_model", args.heterogeneity_model, HETEROGENEITY)):
        if value not in known:
            raise InvalidInputError(f"{name}: {value!r} is not one of {', '.join(known)}")
    if args.nuisance_model == "automl":
        raise InvalidInputError("nuisance_model: 'automl' needs FLAML's AutoML, which Ember's "
                                "causal component does not run; use 'linear'")
    if not 0 < args.alpha < 1:
        raise InvalidInputError(f"alpha: must be between 0 and 1, got {args.alpha}")
    cost = P.json_param(args.treatment_cost, "treatment_cost", (int, float, list), 0)
    if isinstance(cost, list) and len(cost) != len(treatments):
        raise InvalidInputError(f"treatment_cost: one cost per treatment feature "
                                f"({len(treatments)}), got {len(cost)}")
    categories: Any = "auto" if args.categories in ("auto", "", None) else P.json_param(
        args.categories, "categories", list)
    random_state = P.json_param(args.random_state, "random_state", int, None)
    return {"treatment_features": treatments, "heterogeneity_features": heterogeneity,
            "nuisance_model": args.nuisance_model,
            "heterogeneity_model": args.heterogeneity_model, "alpha": args.alpha,
            "upper_bound_on_cat_expansion": args.upper_bound_on_cat_expansion,
            "treatment_cost": cost, "min_tree_leaf_samples": args.min_tree_leaf_samples,
            "max_tree_depth": args.max_tree_depth,
            "skip_cat_limit_checks": P.bool_param(args.skip_cat_limit_checks,
                                                  "skip_cat_limit_checks"),
            "categories": categories, "n_jobs": args.n_jobs, "verbose": args.verbose,
            "random_state": random_state}


def analyse(insights: Insights, s: dict[str, Any]) -> dict[str, Any]:
    pd = require("pandas")
    solutions = require("econml.solutions.causal_analysis")
    # econml indexes the column names with a list: pandas 3's Arrow-backed string index
    # refuses that, an object index does not
    columns = pd.Index(insights.features, dtype=object)
    x = insights.train[insights.features].copy()
    x.columns = columns
    test = insights.test[insights.features].copy()
    test.columns = columns
    y = insights.train[insights.target]
    if insights.is_classification and len(insights.labels) != 2:
        raise InvalidInputError("task_type: econml's causal analysis of a classification target "
                                f"needs two classes, this one has {len(insights.labels)}")
    analysis = solutions.CausalAnalysis(
        s["treatment_features"], insights.categorical,
        heterogeneity_inds=s["heterogeneity_features"],
        classification=insights.is_classification, nuisance_models=s["nuisance_model"],
        heterogeneity_model=s["heterogeneity_model"],
        categories=s["categories"], upper_bound_on_cat_expansion=s["upper_bound_on_cat_expansion"],
        skip_cat_limit_checks=s["skip_cat_limit_checks"], n_jobs=s["n_jobs"],
        verbose=s["verbose"], random_state=s["random_state"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            analysis.fit(x, y)
        except ValueError as exc:
            raise InvalidInputError(f"treatment_features: econml could not fit the causal "
                                    f"model: {first_line(exc)}") from None
        effects = analysis.global_causal_effect(alpha=s["alpha"], keep_all_levels=True)
        local = analysis.local_causal_effect(test.head(LOCAL_ROWS), alpha=s["alpha"],
                                             keep_all_levels=True)
        policies = []
        costs = s["treatment_cost"]
        for i, feature in enumerate(s["treatment_features"]):
            cost = costs[i] if isinstance(costs, list) else costs
            tree = analysis._policy_tree_output(   # the policy the dashboard shows
                test, feature, treatment_costs=cost, max_depth=s["max_tree_depth"],
                min_samples_leaf=s["min_tree_leaf_samples"], alpha=s["alpha"])
            policies.append({"treatment_feature": feature, "treatment_cost": cost,
                             "policy_tree": plain(tree.tree_dictionary),
                             "policy_gains": {"recommended_policy_gains": tree.policy_value,
                                              "treatment_gains": tree.always_treat}})
    levels = _level_names(insights)
    global_rows = []
    for index, row in effects.iterrows():
        level = dict(zip(effects.index.names, index))
        global_rows.append({"feature": str(level["feature"]),
                            "feature_value": levels.get(str(level.get("feature_value")),
                                                        str(level.get("feature_value", ""))),
                            **{k: row[k] for k in ("point", "stderr", "zstat", "p_value",
                                                   "ci_lower", "ci_upper")}})
    local_rows = []
    for index, row in local.iterrows():
        level = dict(zip(local.index.names, index))
        local_rows.append({"row": int(level["sample"]), "feature": str(level["feature"]),
                           "feature_value": levels.get(str(level.get("feature_value")),
                                                       str(level.get("feature_value", ""))),
                           "point": row["point"], "ci_lower": row["ci_lower"],
                           "ci_upper": row["ci_upper"]})
    return {"global_effects": plain(global_rows), "local_effects": plain(local_rows),
            "policies": plain(policies), "alpha": s["alpha"]}


def _level_names(insights: Insights) -> dict[str, str]:
    """econml names a categorical treatment's level "<level>v<baseline>": as "level vs baseline"."""
    names: dict[str, str] = {}
    for feature in insights.categorical:
        values = [str(v) for v in insights.train[feature].dropna().unique()]
        for a in values:
            for b in values:
                names.setdefault(f"{a}v{b}", f"{a} vs {b}")
    return names


def run(args: argparse.Namespace) -> dict[str, Any]:
    insights = load_insights(Path(args.rai_insights_dashboard))
    settings = _settings(args, insights)
    data = analyse(insights, settings)
    write_insight(Path(args.causal), "causal", insights, data, settings)
    P.say("global effects: " + ", ".join(f"{e['feature']} {e['point']:.3g}"
                                         for e in data["global_effects"]))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return P.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
