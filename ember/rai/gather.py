"""``python -m ember.rai.gather``: Ember's ``rai_tabular_insight_gather``.

Joins the constructor's output and one to four insights (each made from that same constructor
output, each kind at most once) into the dashboard:

- ``dashboard``: ``dashboard.json`` (the analysis' settings, the model's test metrics, a summary
  of the test data and every insight), ``report.html`` (the dashboard as one page of plotly
  charts; plotly.js is inlined from the ``plotly`` package, so it opens offline), and the test
  data and predictions the score card reads;
- ``ux_json``: ``ux.json``, the same JSON document.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.rai import _params as P
from ember.rai._data import (
    CONFIG,
    Insights,
    load_insights,
    plain,
    read_insight,
    write_json,
)
from ember.rai._deps import require

KINDS = ("explanation", "error_analysis", "counterfactual", "causal")
DASHBOARD = "dashboard.json"
REPORT = "report.html"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.rai.gather", description=__doc__)
    p.add_argument("--constructor", required=True)
    for i in range(1, 5):
        p.add_argument(f"--insight_{i}")
    p.add_argument("--dashboard", required=True)
    p.add_argument("--ux_json", required=True)
    return p


def data_summary(insights: Insights) -> dict[str, Any]:
    """Per feature of the test data: its values (counts, or quantiles) and, per category, the
    share predicted as each class (classification) or the mean prediction."""
    pd = require("pandas")
    test = insights.test
    predicted = insights.predictions["predicted"]
    out: dict[str, Any] = {}
    for feature in insights.features:
        column = test[feature]
        if feature in insights.categorical:
            groups: dict[str, Any] = {}
            for value, rows in column.groupby(column.astype(str), observed=True).groups.items():
                chosen = predicted.loc[rows]
                groups[str(value)] = {"count": len(rows), **_prediction_summary(insights,
                                                                                chosen)}
            out[feature] = {"kind": "categorical", "groups": groups}
        else:
            described = pd.to_numeric(column, errors="coerce").describe()
            out[feature] = {"kind": "numeric",
                            **{k: described.get(k) for k in ("min", "25%", "50%", "75%",
                                                             "max", "mean")}}
    return plain(out)


def _prediction_summary(insights: Insights, predicted: Any) -> dict[str, Any]:
    if insights.is_classification:
        share = {str(name): float((predicted == label).mean()) if len(predicted) else 0.0
                 for label, name in zip(insights.labels, insights.config["classes"])}
        return {"predicted_share": share}
    return {"mean_prediction": float(predicted.mean()) if len(predicted) else None}


def gather(constructor: Path, insight_folders: list[tuple[str, Path]]) -> dict[str, Any]:
    insights = load_insights(constructor, "constructor")
    if not insight_folders:
        raise InvalidInputError("insight_1..insight_4: give at least one insight")
    found: dict[str, Any] = {}
    for name, folder in insight_folders:
        insight = read_insight(folder, name)
        kind = insight.get("type")
        if kind not in KINDS:
            raise InvalidInputError(f"{name}: unknown insight type {kind!r}")
        if insight.get("constructor_id") != insights.id:
            raise InvalidInputError(f"{name}: this {kind} was computed from another "
                                    "rai_tabular_insight_constructor output than 'constructor'")
        if kind in found:
            raise InvalidInputError(f"{name}: a second {kind} insight; give each kind once")
        found[kind] = {"settings": insight.get("settings", {}), **insight["data"]}
    config = insights.config
    return {
        "title": config["title"], "task_type": config["task_type"],
        "target_column_name": config["target_column_name"], "features": config["features"],
        "categorical_features": config["categorical_features"], "classes": config["classes"],
        "labels": config["labels"], "train_rows": config["train_rows"],
        "test_rows": config["test_rows"], "metrics": config["metrics"],
        "data_summary": data_summary(insights), "insights": sorted(found),
        **{kind: found.get(kind) for kind in KINDS},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ember.rai._report import render

    folders = [(f"insight_{i}", Path(value)) for i in range(1, 5)
               if (value := getattr(args, f"insight_{i}"))]
    constructor = Path(args.constructor)
    dashboard = gather(constructor, folders)
    out = Path(args.dashboard)
    out.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG, "test.parquet", "predictions.parquet"):
        shutil.copyfile(constructor / name, out / name)
    write_json(out / DASHBOARD, dashboard)
    write_json(Path(args.ux_json) / "ux.json", dashboard)
    (out / REPORT).write_text(render(dashboard), encoding="utf-8")
    P.say(f"dashboard of {', '.join(dashboard['insights'])}: {out / DASHBOARD}, {out / REPORT}")
    return dashboard


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return P.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
