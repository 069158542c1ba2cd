"""``python -m ember.rai.counterfactual``: Ember's ``rai_tabular_counterfactual``.

dice-ml (DiCE) finds, for each test row, ``total_CFs`` counterfactuals: close variations of the
row that the model classifies as ``desired_class`` (``"opposite"`` for a binary classifier, or a
class) or predicts inside ``desired_range`` (regression, ``[low, high]``). ``method`` is DiCE's
``random``, ``genetic`` or ``kdtree``; ``permitted_range`` (``{"feature": [low, high] or
[values]}``) and ``features_to_vary`` (``"all"`` or a JSON list) bound the search. With
``feature_importance`` (needs ``total_CFs`` of at least 10), DiCE's local and global feature
importance: how often each feature changes in the counterfactuals.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.rai import _params as P
from ember.rai._data import Insights, first_line, load_insights, plain, write_insight
from ember.rai._deps import require

METHODS = ("random", "genetic", "kdtree")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.rai.counterfactual", description=__doc__)
    p.add_argument("--rai_insights_dashboard", required=True)
    p.add_argument("--total_CFs", type=int, default=10)
    p.add_argument("--method", default="random")
    p.add_argument("--desired_class", default=None)
    p.add_argument("--desired_range", default=None)
    p.add_argument("--permitted_range", default=None)
    p.add_argument("--features_to_vary", default="all")
    p.add_argument("--feature_importance", default="True")
    p.add_argument("--counterfactual", required=True)
    return p


def _desired(args: argparse.Namespace, insights: Insights) -> dict[str, Any]:
    if insights.is_classification:
        if args.desired_range not in (None, "", "null", "[]"):
            raise InvalidInputError("desired_range: for regression; give desired_class")
        wanted = args.desired_class if args.desired_class not in (None, "", "null") \
            else "opposite"
        if wanted == "opposite":
            if len(insights.labels) != 2:
                raise InvalidInputError("desired_class: 'opposite' needs a binary classifier; "
                                        f"give one of {', '.join(map(str, insights.labels))}")
            return {"desired_class": "opposite"}
        for index, label in enumerate(insights.labels):
            if str(label) == str(wanted) or insights.config["classes"][index] == str(wanted):
                return {"desired_class": index}
        raise InvalidInputError(f"desired_class: {wanted!r} is not a class of the model "
                                f"({', '.join(map(str, insights.labels))})")
    if args.desired_class not in (None, "", "null"):
        raise InvalidInputError("desired_class: for classification; give desired_range")
    low_high = P.json_param(args.desired_range, "desired_range", list, None, allow_null=False)
    if len(low_high) != 2 or not all(isinstance(v, (int, float)) for v in low_high):
        raise InvalidInputError(f"desired_range: expected [low, high], got {args.desired_range}")
    return {"desired_range": [float(v) for v in low_high]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.method not in METHODS:
        raise InvalidInputError(f"method: {args.method!r} is not one of {', '.join(METHODS)}")
    if args.total_CFs < 1:
        raise InvalidInputError(f"total_CFs: must be at least 1, got {args.total_CFs}")
    importance = P.bool_param(args.feature_importance, "feature_importance")
    if importance and args.total_CFs < 10:
        raise InvalidInputError(f"total_CFs: feature_importance needs at least 10 "
                                f"counterfactuals per row, got {args.total_CFs}")
    permitted = P.json_param(args.permitted_range, "permitted_range", dict, None)
    vary: Any = "all" if args.features_to_vary in ("all", "", None) else P.string_list(
        args.features_to_vary, "features_to_vary")
    insights = load_insights(Path(args.rai_insights_dashboard))
    if vary != "all":
        P.check_columns(vary, insights.features, "features_to_vary")
    if permitted:
        P.check_columns(list(permitted), insights.features, "permitted_range")
    desired = _desired(args, insights)
    os.environ.setdefault("TQDM_DISABLE", "1")    # DiCE's progress bars, one line per row
    dice_ml = require("dice_ml")
    data = dice_ml.Data(dataframe=insights.train[[*insights.features, insights.target]],
                        continuous_features=insights.numeric, outcome_name=insights.target)
    model = dice_ml.Model(model=insights.model, backend="sklearn",
                          model_type="classifier" if insights.is_classification else "regressor")
    explainer = dice_ml.Dice(data, model, method=args.method)
    query = insights.test[insights.features]
    options = {"total_CFs": args.total_CFs, "features_to_vary": vary,
               "permitted_range": permitted, **desired}
    if args.method == "random":
        options["random_seed"] = 0
    try:
        if importance:
            found = explainer.global_feature_importance(query, cf_examples_list=None, **options)
            local = found.local_importance
            global_ = found.summary_importance
            examples = found.cf_examples_list
        else:
            examples = explainer.generate_counterfactuals(query, verbose=False,
                                                          **options).cf_examples_list
            local, global_ = None, None
    except Exception as exc:   # noqa: BLE001 - DiCE raises bare exceptions; one line for the user
        raise InvalidInputError(f"counterfactual ({args.method}): DiCE found no counterfactuals: "
                                f"{first_line(exc)}") from None
    rows = []
    for index, example in enumerate(examples):
        cfs = example.final_cfs_df
        rows.append({"row": index,
                     "counterfactuals": [] if cfs is None else plain(
                         cfs.to_dict(orient="records"))})
    result = {"method": args.method, "features": insights.features, "target": insights.target,
              "desired": desired, "counterfactuals": rows,
              "local_importance": plain(local), "global_importance": plain(
                  dict(sorted((global_ or {}).items(), key=lambda p: -p[1])))}
    write_insight(Path(args.counterfactual), "counterfactual", insights, result, {
        "total_CFs": args.total_CFs, "method": args.method, "features_to_vary": vary,
        "permitted_range": permitted, "feature_importance": importance, **desired})
    found_count = sum(len(r["counterfactuals"]) for r in rows)
    P.say(f"{found_count} counterfactuals for {len(rows)} test rows ({args.method})")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return P.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
