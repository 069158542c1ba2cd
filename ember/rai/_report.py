"""The gather step's HTML report: the dashboard as one self-contained page of plotly charts.

plotly.js is inlined once, from the ``plotly`` package's bundled file, so the page opens offline
(no CDN); every user-given string is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from ember.rai._deps import require

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:24px} h2{font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;font-size:13px} th{background:#f3f3f3} .muted{color:#666;font-size:13px}
"""


def render(d: dict[str, Any]) -> str:
    offline = require("plotly.offline")
    parts = [f"<h1>{_e(d['title'])}</h1>",
             (f"<p class=muted>{_e(d['task_type'])} model of {_e(d['target_column_name'])}; "
              f"{d['train_rows']} training rows, {d['test_rows']} test rows; insights: "
              f"{_e(', '.join(d['insights']))}</p>"),
             "<h2>Model performance (test data)</h2>",
             _table(["metric", "value"], [[k, _n(v)] for k, v in d["metrics"].items()])]
    parts += _data_explorer(d)
    if d.get("explanation"):
        parts += _explanation(d["explanation"])
    if d.get("error_analysis"):
        parts += _error_analysis(d["error_analysis"])
    if d.get("counterfactual"):
        parts += _counterfactual(d["counterfactual"])
    if d.get("causal"):
        parts += _causal(d["causal"])
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{_e(d['title'])}: Responsible AI dashboard</title>"
            f"<style>{_STYLE}</style><script type='text/javascript'>"
            f"{offline.get_plotlyjs()}</script></head><body>{''.join(parts)}</body></html>")


def _data_explorer(d: dict[str, Any]) -> list[str]:
    go = require("plotly.graph_objects")
    out = ["<h2>Data explorer</h2>",
           ("<p class=muted>Per category of each categorical feature: the share of test rows "
            "predicted as each class (or the mean prediction).</p>")]
    for feature, summary in d["data_summary"].items():
        if summary["kind"] != "categorical":
            continue
        groups = summary["groups"]
        fig = go.Figure()
        if d["task_type"] == "classification":
            for name in d["classes"]:
                fig.add_bar(name=str(name), x=list(groups),
                            y=[g["predicted_share"].get(str(name), 0) for g in groups.values()])
            fig.update_layout(barmode="stack", yaxis_title="share predicted")
        else:
            fig.add_bar(x=list(groups), y=[g["mean_prediction"] for g in groups.values()])
            fig.update_layout(yaxis_title="mean prediction")
        out.append(_figure(fig, f"Predictions by {feature}"))
    numeric = [[f, *(_n(s.get(k)) for k in ("min", "25%", "50%", "75%", "max"))]
               for f, s in d["data_summary"].items() if s["kind"] == "numeric"]
    if numeric:
        out.append(_table(["feature", "min", "25%", "median", "75%", "max"], numeric))
    return out


def _explanation(e: dict[str, Any]) -> list[str]:
    go = require("plotly.graph_objects")
    items = list(e["global_importance"].items())[::-1]
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h"))
    fig.update_layout(xaxis_title="mean |SHAP value|")
    return ["<h2>Feature importance</h2>",
            f"<p class=muted>{_e(e['method'])} over the test rows.</p>",
            _figure(fig, "Global feature importance")]


def _error_analysis(a: dict[str, Any]) -> list[str]:
    go = require("plotly.graph_objects")
    nodes = {n["id"]: n for n in a["tree"]}
    leaves = [nodes[i] for i in a["worst_leaves"]]
    out = ["<h2>Error analysis</h2>",
           (f"<p class=muted>Overall {_e(a['metric'])}: {_n(a['error_rate'])}. A decision tree "
            "grown on the model's errors; its leaves are the cohorts, most errors first.</p>"),
           _table(["cohort", "rows", "errors", "error rate"],
                  [[n["condition"], n["size"], _n(n["error"]), _n(n["error_rate"])]
                   for n in leaves])]
    fig = go.Figure(go.Treemap(
        ids=[str(n["id"]) for n in a["tree"]],
        parents=["" if n["parent_id"] is None else str(n["parent_id"]) for n in a["tree"]],
        labels=[f"{n['split']}<br>{n['size']} rows, error {n['error_rate']:.2f}"
                for n in a["tree"]],
        values=[n["size"] for n in a["tree"]], branchvalues="total",
        marker={"colors": [n["error_rate"] for n in a["tree"]], "colorscale": "Reds",
                "showscale": True}))
    out.append(_figure(fig, "Error tree (size: rows, colour: error rate)"))
    heat = a.get("heatmap")
    if heat:
        feats = heat["features"]
        if len(feats) == 1:
            fig = go.Figure(go.Bar(x=[c["values"][0] for c in heat["cells"]],
                                   y=[c["error_rate"] for c in heat["cells"]]))
        else:
            xs, ys = heat["categories"][feats[0]], heat["categories"][feats[1]]
            rate = {tuple(c["values"]): c["error_rate"] for c in heat["cells"]}
            fig = go.Figure(go.Heatmap(x=ys, y=xs, colorscale="Reds",
                                       z=[[rate.get((x, y)) for y in ys] for x in xs]))
        out.append(_figure(fig, f"Error rate by {' and '.join(feats)}"))
    return out


def _counterfactual(c: dict[str, Any]) -> list[str]:
    go = require("plotly.graph_objects")
    out = ["<h2>Counterfactuals</h2>",
           (f"<p class=muted>DiCE ({_e(c['method'])}), desired: "
            f"{_e(', '.join(f'{k} {v}' for k, v in c['desired'].items()))}.</p>")]
    if c.get("global_importance"):
        items = list(c["global_importance"].items())[::-1]
        fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items],
                               orientation="h"))
        fig.update_layout(xaxis_title="share of counterfactuals that change the feature")
        out.append(_figure(fig, "Counterfactual feature importance"))
    first = next((r for r in c["counterfactuals"] if r["counterfactuals"]), None)
    if first:
        columns = [*c["features"], c["target"]]
        out.append(f"<p>Counterfactuals of test row {first['row']}:</p>")
        out.append(_table(columns, [[cf.get(k) for k in columns]
                                    for cf in first["counterfactuals"][:10]]))
    return out


def _causal(c: dict[str, Any]) -> list[str]:
    go = require("plotly.graph_objects")
    effects = c["global_effects"]
    labels = [e["feature"] + (f" ({e['feature_value']})" if e["feature_value"] not in
                              ("", "num", None) else "") for e in effects]
    fig = go.Figure(go.Bar(
        x=labels, y=[e["point"] for e in effects],
        error_y={"type": "data", "symmetric": False,
                 "array": [(e["ci_upper"] or 0) - (e["point"] or 0) for e in effects],
                 "arrayminus": [(e["point"] or 0) - (e["ci_lower"] or 0) for e in effects]}))
    fig.update_layout(yaxis_title="effect on the target per unit")
    return ["<h2>Causal analysis</h2>",
            (f"<p class=muted>econml's double machine learning; intervals at "
             f"alpha {c['alpha']}.</p>"), _figure(fig, "Average causal effects"),
            _table(["treatment", "effect", "std. error", "p-value", "interval"],
                   [[lab, _n(e["point"]), _n(e["stderr"]), _n(e["p_value"]),
                     f"[{_n(e['ci_lower'])}, {_n(e['ci_upper'])}]"]
                    for lab, e in zip(labels, effects)])]


def _figure(fig: Any, title: str) -> str:
    fig.update_layout(title=title, height=360, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _n(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else _n(value))
