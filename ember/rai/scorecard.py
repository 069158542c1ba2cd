"""``python -m ember.rai.scorecard``: Ember's ``rai_tabular_score_card``.

Reads the gather step's ``dashboard`` and the ``pdf_generation_config`` JSON (Azure's format:
``Model``, ``Metrics`` with targets such as ``">=0.85"``, ``FeatureImportance`` ``top_n`` (at most
10), ``DataExplorer`` ``features``, ``Fairness`` (``metric``, ``sensitive_features``,
``fairness_evaluation_kind`` difference|ratio, ``threshold``), ``Cohorts`` (names of
``predefined_cohorts_json``'s cohorts)) and writes ``scorecard/scorecard.pdf``, with
``scorecard.json``, every number the PDF shows. Sections, as Azure's: model summary and targets,
data analysis, model performance against the targets, cohorts (the named ones and the error
analysis' worst), top feature importance, fairness per sensitive group against the target, and
causal insights. Fairness is fairlearn's MetricFrame.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ember.errors import InvalidInputError
from ember.rai import _metrics as M
from ember.rai import _params as P
from ember.rai._cohorts import parse_cohorts, select
from ember.rai._data import plain, read_json, write_json
from ember.rai._deps import require

SECTIONS = ("Model", "Metrics", "FeatureImportance", "DataExplorer", "Fairness", "Cohorts")
MAX_TOP_N = 10
KINDS = ("difference", "ratio")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ember.rai.scorecard", description=__doc__)
    p.add_argument("--dashboard", required=True)
    p.add_argument("--pdf_generation_config", required=True)
    p.add_argument("--predefined_cohorts_json")
    p.add_argument("--scorecard", required=True)
    return p


def _file(path: str, what: str) -> Path:
    target = Path(path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix.lower() == ".json")
        if len(files) != 1:
            raise InvalidInputError(f"{what}: {target} is a folder; give one JSON file")
        target = files[0]
    if not target.is_file():
        raise InvalidInputError(f"{what}: {target} does not exist")
    return target


def load_config(path: str) -> dict[str, Any]:
    config = read_json(_file(path, "pdf_generation_config"), "pdf_generation_config")
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise InvalidInputError(f"pdf_generation_config: unknown section(s) "
                                f"{', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    for name in SECTIONS:
        kind = list if name == "Cohorts" else dict
        if name in config and not isinstance(config[name], kind):
            raise InvalidInputError(f"pdf_generation_config.{name}: expected a JSON "
                                    f"{'list' if kind is list else 'object'}")
    return config


def build(dashboard_dir: Path, config: dict[str, Any],
          cohorts_path: str | None) -> dict[str, Any]:
    """Everything the PDF shows, computed and checked against the targets."""
    pd = require("pandas")
    from ember.rai.gather import DASHBOARD

    dashboard = read_json(dashboard_dir / DASHBOARD, "dashboard")
    test = pd.read_parquet(dashboard_dir / "test.parquet")
    predicted = pd.read_parquet(dashboard_dir / "predictions.parquet")["predicted"]
    truth = test[dashboard["target_column_name"]]
    classification = dashboard["task_type"] == "classification"
    labels = dashboard["labels"]
    features = dashboard["features"]
    where = "pdf_generation_config"

    model = config.get("Model") or {}
    card: dict[str, Any] = {
        "title": dashboard["title"],
        "model": {"name": str(model.get("ModelName") or dashboard["title"]),
                  "type": str(model.get("ModelType") or dashboard["task_type"].title()),
                  "summary": str(model.get("ModelSummary") or "")},
        "task_type": dashboard["task_type"], "target": dashboard["target_column_name"],
        "classes": dashboard["classes"], "test_rows": len(test),
    }

    requested = config.get("Metrics") or {name: {} for name in M.metric_names(classification)}
    for name in requested:
        M.check_metric(name, classification, f"{where}.Metrics")
    values = M.compute(list(requested), truth, predicted, labels)
    metrics = []
    for name, spec in requested.items():
        target = M.parse_target((spec or {}).get("threshold"), f"{where}.Metrics.{name}")
        metrics.append({"metric": name, "value": values[name],
                        "target": str(target) if target else None,
                        "passed": target.met(values[name]) if target else None})
    card["metrics"] = metrics

    explorer = (config.get("DataExplorer") or {}).get("features") or []
    P.check_columns(list(explorer), features, f"{where}.DataExplorer.features")
    card["data_explorer"] = [_explore(test[f], f in dashboard["categorical_features"],
                                      predicted, labels, classification, f) for f in explorer]

    if "FeatureImportance" in config:
        top_n = (config["FeatureImportance"] or {}).get("top_n", MAX_TOP_N)
        if not isinstance(top_n, int) or not 1 <= top_n <= MAX_TOP_N:
            raise InvalidInputError(f"{where}.FeatureImportance.top_n: a whole number from 1 "
                                    f"to {MAX_TOP_N}, got {top_n!r}")
        if not dashboard.get("explanation"):
            raise InvalidInputError(f"{where}.FeatureImportance: the dashboard has no "
                                    "explanation (gather a rai_tabular_explanation output)")
        card["feature_importance"] = list(
            dashboard["explanation"]["global_importance"].items())[:top_n]

    if "Fairness" in config:
        card["fairness"] = _fairness(config["Fairness"], test, truth, predicted, labels,
                                     classification, features)

    card["cohorts"] = _cohorts(config, cohorts_path, test, truth, predicted, labels,
                               classification, features, [m["metric"] for m in metrics])
    analysis = dashboard.get("error_analysis")
    if analysis:
        nodes = {n["id"]: n for n in analysis["tree"]}
        card["error_cohorts"] = [{"cohort": nodes[i]["condition"], "rows": nodes[i]["size"],
                                  "error_rate": nodes[i]["error_rate"]}
                                 for i in analysis["worst_leaves"][:5]]
        card["error_metric"] = analysis["metric"]
    causal = dashboard.get("causal")
    if causal:
        card["causal"] = causal["global_effects"]
        card["causal_alpha"] = causal["alpha"]
    return plain(card)


def _explore(column: Any, categorical: bool, predicted: Any, labels: list[Any],
             classification: bool, name: str) -> dict[str, Any]:
    pd = require("pandas")
    if not categorical and column.nunique() > 10:
        groups = pd.cut(column, 8).astype(str)
        order = [str(c) for c in pd.cut(column, 8).cat.categories]
    else:
        groups = column.astype(str)
        order = sorted(groups.unique().tolist(), key=lambda v: (len(v), v) if not categorical
                       else v)
    rows = []
    for value in order:
        mask = (groups == value).to_numpy()
        if not mask.any():
            continue
        chosen = predicted[mask]
        share = (float((chosen == labels[-1]).mean()) if classification and len(labels) == 2
                 else None)
        rows.append({"value": value, "count": int(mask.sum()), "positive_share": share,
                     "mean_prediction": None if classification else float(chosen.mean())})
    return {"feature": name, "kind": "categorical" if categorical else "numeric", "rows": rows}


def _fairness(spec: dict[str, Any], test: Any, truth: Any, predicted: Any, labels: list[Any],
              classification: bool, features: list[str]) -> dict[str, Any]:
    where = "pdf_generation_config.Fairness"
    names = spec.get("metric") or []
    names = [names] if isinstance(names, str) else names
    sensitive = spec.get("sensitive_features") or []
    if not names or not isinstance(names, list):
        raise InvalidInputError(f"{where}.metric: name at least one metric")
    if not sensitive or not isinstance(sensitive, list):
        raise InvalidInputError(f"{where}.sensitive_features: name at least one feature")
    for name in names:
        M.check_metric(name, classification, f"{where}.metric", fairness=True)
    P.check_columns(sensitive, features, f"{where}.sensitive_features")
    kind = spec.get("fairness_evaluation_kind", "difference")
    if kind not in KINDS:
        raise InvalidInputError(f"{where}.fairness_evaluation_kind: {kind!r} is not one of "
                                f"{', '.join(KINDS)}")
    target = M.parse_target(spec.get("threshold"), where)
    results = []
    for feature in sensitive:
        for name in names:
            r = M.fairness(feature, name, truth, predicted, test[feature].astype(str), labels,
                           kind, target)
            results.append({"feature": feature, "metric": name, "by_group": r.by_group,
                            "counts": r.counts, "kind": kind, "value": r.value,
                            "target": str(target) if target else None, "passed": r.passed})
    return {"kind": kind, "target": str(target) if target else None, "results": results}


def _cohorts(config: dict[str, Any], path: str | None, test: Any, truth: Any, predicted: Any,
             labels: list[Any], classification: bool, features: list[str],
             metrics: list[str]) -> list[dict[str, Any]]:
    wanted = config.get("Cohorts") or []
    if not wanted:
        return []
    if not path:
        raise InvalidInputError("pdf_generation_config.Cohorts: name cohorts of "
                                "predefined_cohorts_json, which is not given")
    import json

    file = _file(path, "predefined_cohorts_json")
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInputError(f"predefined_cohorts_json: not valid JSON ({exc})") from None
    cohorts = {c.name: c for c in parse_cohorts(value, features, "predefined_cohorts_json")}
    missing = [n for n in wanted if n not in cohorts]
    if missing:
        raise InvalidInputError(f"pdf_generation_config.Cohorts: no cohort "
                                f"{', '.join(map(repr, missing))} in predefined_cohorts_json "
                                f"(it has: {', '.join(cohorts) or 'none'})")
    names = metrics or list(M.metric_names(classification))
    out = []
    for name in wanted:
        mask = select(cohorts[name], test, truth, predicted)
        values = M.compute(names, truth[mask], predicted[mask], labels) if mask.any() else {}
        out.append({"name": name, "filter": cohorts[name].describe(), "rows": int(mask.sum()),
                    "metrics": {n: values.get(n) for n in names}})
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ember.rai._pdf import render

    config = load_config(args.pdf_generation_config)
    dashboard = Path(args.dashboard)
    from ember.rai.gather import DASHBOARD

    if not (dashboard / DASHBOARD).is_file():
        raise InvalidInputError(f"dashboard: {dashboard} is not the output of "
                                "rai_tabular_insight_gather (no dashboard.json)")
    card = build(dashboard, config, args.predefined_cohorts_json)
    out = Path(args.scorecard)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "scorecard.json", card)
    render(card, out / "scorecard.pdf")
    failed = [m["metric"] for m in card["metrics"] if m["passed"] is False] + [
        f"{r['metric']} {r['kind']} by {r['feature']}"
        for r in (card.get("fairness") or {}).get("results", []) if r["passed"] is False]
    P.say(f"score card: {out / 'scorecard.pdf'}; "
          + (f"targets missed: {', '.join(failed)}" if failed else "every target met"))
    return card


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return P.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
