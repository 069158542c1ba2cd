"""``pf run visualize``: one self-contained HTML page comparing flow runs — each run's metrics
(and those of the evaluation runs made over it), then every line's inputs and each run's outputs
side by side, so prompt variants can be read against their scores. No script, no CDN."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import jinja2

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flow runs: {{ names | join(", ") }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .5rem;
vertical-align:top;text-align:left;max-width:32rem;white-space:pre-wrap}th{background:#f3f3f3}
.failed{color:#a00}
</style></head><body>
<h1>Flow runs</h1>
<table><tr><th>run</th><th>status</th><th>flow</th><th>variant</th><th>evaluated by</th>
{% for m in metric_names %}<th>{{ m }}</th>{% endfor %}</tr>
{% for r in runs %}<tr><td>{{ r.name }}</td><td>{{ r.status }}</td><td>{{ r.flow }}</td>
<td>{{ r.variant or "" }}</td><td>{{ r.evaluations | join(", ") }}</td>
{% for m in metric_names %}<td>{{ r.metrics.get(m, "") }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Lines</h2>
<table><tr><th>line</th><th>inputs</th>{% for r in runs %}<th>{{ r.name }}</th>{% endfor %}</tr>
{% for line in lines %}<tr><td>{{ line.number }}</td><td>{{ line.inputs }}</td>
{% for cell in line.cells %}<td class="{{ cell.cls }}">{{ cell.text }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p>Written {{ written }}.</p>
</body></html>
"""


def _text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str, indent=1)


def write_html(flow_runs: Any, names: list[str], path: Path | None = None) -> Path:
    """Write the page for ``names`` (runs, given by name) and return its path."""
    runs = []
    by_line: dict[int, dict[str, Any]] = {}
    evaluations: dict[str, list[str]] = {}
    for other in flow_runs.list(max_results=10_000):
        if other.run in names:
            evaluations.setdefault(other.run, []).append(other.name)
    metric_names: list[str] = []
    for name in names:
        run = flow_runs.get(name)
        metrics = dict(flow_runs.metrics(name))
        for evaluation in evaluations.get(name, []):
            for key, value in flow_runs.metrics(evaluation).items():
                metrics[f"{evaluation}.{key}"] = value
        metric_names += [m for m in metrics if m not in metric_names]
        runs.append({"name": name, "status": run.status, "flow": Path(run.flow).name,
                     "variant": run.variant, "metrics": metrics,
                     "evaluations": evaluations.get(name, [])})
        for detail in flow_runs.details(name):
            line = by_line.setdefault(int(detail["line_number"]),
                                      {"inputs": detail.get("inputs"), "cells": {}})
            failed = detail.get("status") != "Completed"
            text = ((detail.get("error") or {}).get("message", "failed") if failed
                    else _text(detail.get("outputs")))
            line["cells"][name] = {"text": text, "cls": "failed" if failed else ""}
    lines = [{"number": n, "inputs": _text(v["inputs"]),
              "cells": [v["cells"].get(r["name"], {"text": "", "cls": ""}) for r in runs]}
             for n, v in sorted(by_line.items())]
    env = jinja2.Environment(autoescape=True)
    html = env.from_string(_PAGE).render(
        names=names, runs=runs, lines=lines, metric_names=metric_names,
        written=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    if path is None:
        fd, tmp = tempfile.mkstemp(prefix="ember-flow-runs-", suffix=".html")
        path = Path(tmp)
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
    else:
        path.write_text(html, encoding="utf-8")
    return path
