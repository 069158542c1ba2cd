"""``python -m ember.rai.explanation``: Ember's ``rai_tabular_explanation``.

Model-agnostic SHAP values (shap's permutation explainer, a background of up to 50 training
rows) for every test row: the local importance of each feature, per class for a classifier (its
probabilities), and the global importance, the mean absolute value over rows (and classes).
Azure's component uses interpret-community's mimic explainer; shap is what the field uses
directly, and works on any sklearn model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.rai import _params as P
from ember.rai._data import load_insights, write_insight
from ember.rai._deps import require
from ember.rai._insights import encoding, model_function

BACKGROUND_ROWS = 50
PERMUTATIONS = 3      # shap's antithetic permutations per row: 2 * 3 orderings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.rai.explanation", description=__doc__)
    p.add_argument("--comment", default="")
    p.add_argument("--rai_insights_dashboard", required=True)
    p.add_argument("--explanation", required=True)
    return p


def explain(insights: Any) -> dict[str, Any]:
    """The explanation of the insights' model on their test rows."""
    np, shap = require("numpy"), require("shap")
    enc = encoding(insights)
    background = enc.encode(insights.train.sample(min(BACKGROUND_ROWS, len(insights.train)),
                                                  random_state=0))
    features = insights.features
    explainer = shap.explainers.Permutation(
        model_function(insights, enc), shap.maskers.Independent(background,
                                                                max_samples=BACKGROUND_ROWS),
        feature_names=features, seed=0)
    values = explainer(enc.encode(insights.test), max_evals=2 * PERMUTATIONS * len(features) + 1
                       if len(features) > 1 else "auto", silent=True)
    local = np.asarray(values.values)          # rows x features (x classes)
    base = np.asarray(values.base_values)
    if local.ndim == 2:
        local, base = local[:, :, None], base[:, None] if base.ndim == 1 else base
    global_importance = np.abs(local).mean(axis=(0, 2))
    order = np.argsort(-global_importance)
    classes = insights.config["classes"] if local.shape[2] > 1 else []
    return {
        "method": "shap.explainers.Permutation",
        "features": features,
        "classes": classes,
        "global_importance": {features[i]: float(global_importance[i]) for i in order},
        "per_class_importance": {str(c): {f: float(v) for f, v in zip(
            features, np.abs(local[:, :, k]).mean(axis=0))} for k, c in enumerate(classes)},
        # local[row][feature][class], base[row][class]
        "local_importance": local.tolist(),
        "expected_values": base.mean(axis=0).tolist(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    insights = load_insights(Path(args.rai_insights_dashboard))
    data = explain(insights)
    write_insight(Path(args.explanation), "explanation", insights, data,
                  {"comment": args.comment})
    top = list(data["global_importance"].items())[:5]
    P.say("global importance: " + ", ".join(f"{k} {v:.3g}" for k, v in top))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return P.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
