"""The job page's drawings, made on the server as SVG: a pipeline's step graph (layered from
the steps' dependencies), the Gantt view of its steps' durations, and a sweep's parallel
coordinates (plotly's ``parcoords`` needs WebGL, which a browser without a GPU may lack).

Each function returns markup ready for a template; every text is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from ember.server.studio.formats import duration, status_class

BOX_W, BOX_H = 184, 58
GAP_X, GAP_Y = 72, 26
PAD = 16
ARC = 36          # how far an edge that skips layers rises above the boxes


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def job_href(workspace: str, job: str, tab: str = "") -> str:
    base = f"/ws/{quote(workspace, safe='')}/jobs/{quote(job, safe='')}"
    return f"{base}/{tab}" if tab else base


def layers(steps: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each step's layer: the longest chain of steps it depends on (a cycle counts once)."""
    ups = {s["step"]: [u for u in s.get("depends_on") or [] if u != s["step"]] for s in steps}
    found: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in found:
            return found[name]
        inner = [depth(u, seen | {name}) + 1 for u in ups.get(name, [])
                 if u in ups and u not in seen]
        found[name] = max(inner, default=0)
        return found[name]

    for name in ups:
        depth(name, frozenset())
    return found


def layout(steps: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    """The top-left corner of each step's box: layers left to right, each layer's steps
    ordered by the mean row of the steps they depend on (fewer crossings), centred."""
    layer_of = layers(steps)
    count = max(layer_of.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for s in steps:
        columns[layer_of[s["step"]]].append(s["step"])
    ups = {s["step"]: s.get("depends_on") or [] for s in steps}
    row: dict[str, float] = {}
    for col in columns:
        first = {name: float(i) for i, name in enumerate(col)}
        weight = {name: (sum(row[u] for u in ups[name] if u in row)
                         / max(1, sum(u in row for u in ups[name])))
                  if any(u in row for u in ups[name]) else first[name] for name in col}
        col.sort(key=lambda name: (weight[name], first[name]))
        for i, name in enumerate(col):
            row[name] = float(i)
    tallest = max((len(c) for c in columns), default=0)
    where: dict[str, tuple[float, float]] = {}
    for x, col in enumerate(columns):
        offset = (tallest - len(col)) * (BOX_H + GAP_Y) / 2
        for i, name in enumerate(col):
            where[name] = (PAD + x * (BOX_W + GAP_X),
                           PAD + ARC + offset + i * (BOX_H + GAP_Y))
    return where


def step_graph(workspace: str, steps: Sequence[Mapping[str, Any]]) -> Markup:
    """The pipeline's step graph: boxes coloured by status, reused steps marked, each step
    a link to its child job's page, edges from the steps it depends on."""
    where = layout(steps)
    width = max((x for x, _ in where.values()), default=0) + BOX_W + PAD
    height = max((y for _, y in where.values()), default=0) + BOX_H + PAD
    parts = [f'<svg class="step-graph" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
             'role="group" aria-label="Pipeline step graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'class="edge-head"/></marker></defs>']
    for s in steps:
        x2, y2 = where[s["step"]]
        for up in s.get("depends_on") or []:
            if up not in where or up == s["step"]:
                continue
            x1, y1 = where[up]
            if x2 - x1 > BOX_W + GAP_X:
                # it skips a layer: arc over the boxes between, top edge to top edge
                ax, ay, bx, by = x1 + BOX_W / 2, y1, x2 + BOX_W / 2, y2
                lift = min(ay, by) - ARC
                d = f"M{ax:.0f},{ay:.0f} C{ax:.0f},{lift:.0f} {bx:.0f},{lift:.0f} {bx:.0f},{by:.0f}"
            else:
                ax, ay, bx, by = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
                mid = (ax + bx) / 2
                d = f"M{ax:.0f},{ay:.0f} C{mid:.0f},{ay:.0f} {mid:.0f},{by:.0f} {bx:.0f},{by:.0f}"
            parts.append(f'<path class="edge" d="{d}" marker-end="url(#arrow)"/>')
    for s in steps:
        x, y = where[s["step"]]
        name, status = str(s["step"]), str(s.get("status") or "")
        reused = s.get("reused_from")
        label = f"Step {name}: {status}" + (f", reused from {reused}" if reused else "")
        box = [f'<rect class="step st-{status_class(status)}" x="{x:.0f}" y="{y:.0f}" '
               f'width="{BOX_W}" height="{BOX_H}" rx="8"/>',
               f'<text class="step-name" x="{x + 12:.0f}" y="{y + 23:.0f}">'
               f'{escape(_clip(name, 20))}</text>',
               f'<text class="step-status" x="{x + 12:.0f}" y="{y + 44:.0f}">'
               f'{escape(status)}</text>']
        if reused:
            box.append(f'<text class="step-reused" x="{x + BOX_W - 10:.0f}" y="{y + 44:.0f}" '
                       'text-anchor="end">↺ reused</text>')
        inner = "".join(box)
        if s.get("job"):
            parts.append(f'<a class="step-link" href="{escape(job_href(workspace, s["job"]))}" '
                         f'aria-label="{escape(label)}" data-step="{escape(name)}">'
                         f'<title>{escape(label)}</title>{inner}</a>')
        else:
            parts.append(f'<g aria-label="{escape(label)}" data-step="{escape(name)}">'
                         f'<title>{escape(label)}</title>{inner}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def gantt(workspace: str, rows: Sequence[Mapping[str, Any]], now: float) -> Markup:
    """One bar a step from its start to its end (now, while it runs); ``rows``: ``step``,
    ``job``, ``status``, ``start``, ``end``, ``reused_from``."""
    timed = [r for r in rows if r.get("start")]
    if not timed:
        return Markup('<p class="muted">No step has started yet.</p>')
    t0 = min(float(r["start"]) for r in timed)
    t1 = max(float(r.get("end") or now) for r in timed)
    span = max(t1 - t0, 1.0)     # reused steps take no time: keep a readable axis
    label_w, bar_w, row_h = 160, 640, 28
    height = PAD * 2 + row_h * len(rows) + 20
    width = label_w + bar_w + 120
    parts = [f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="group" '
             'aria-label="Step durations (Gantt)">']
    for tick in range(5):
        x = label_w + bar_w * tick / 4
        parts.append(f'<line class="tick" x1="{x:.0f}" y1="{PAD}" x2="{x:.0f}" '
                     f'y2="{height - 20}"/><text class="tick-label" x="{x:.0f}" '
                     f'y="{height - 6}" text-anchor="middle">'
                     f'{escape(duration(span * tick / 4))}</text>')
    for i, r in enumerate(rows):
        y = PAD + i * row_h
        parts.append(f'<text class="gantt-step" x="{label_w - 8}" y="{y + 18}" '
                     f'text-anchor="end">{escape(_clip(str(r["step"]), 20))}</text>')
        if not r.get("start"):
            continue
        start, end = float(r["start"]), float(r.get("end") or now)
        x = label_w + bar_w * (start - t0) / span
        w = max(bar_w * (end - start) / span, 3)
        took = duration(end - start) + (" (reused)" if r.get("reused_from") else "")
        title = f"{r['step']}: {r.get('status', '')}, {took}"
        parts.append(f'<rect class="bar st-{status_class(r.get("status"))}" x="{x:.1f}" '
                     f'y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" rx="3">'
                     f'<title>{escape(title)}</title></rect>'
                     f'<text class="bar-label" x="{x + w + 6:.1f}" y="{y + 18}">'
                     f'{escape(took)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis(values: Sequence[Any]) -> tuple[Any, list[str]]:
    """A function placing a value on [0, 1] and the axis' tick labels (low, high)."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v)]
    if len(numbers) == len(values) and numbers:
        lo, hi = min(numbers), max(numbers)
        log = lo > 0 and hi / lo >= 100
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        span = (hi - lo) or 1.0

        def place(v: Any) -> float:
            return ((math.log10(v) if log else float(v)) - lo) / span
        low, high = (10 ** lo, 10 ** hi) if log else (lo, hi)
        return place, [f"{low:.3g}", f"{high:.3g}" + (" (log)" if log else "")]
    cats = sorted({str(v) for v in values})
    return (lambda v: cats.index(str(v)) / max(len(cats) - 1, 1)), [cats[0], cats[-1]]


def parallel_coordinates(trials: Sequence[Mapping[str, Any]], objective: str) -> Markup:
    """One axis a hyperparameter and the objective last; one line a trial with an objective,
    the best one drawn last and highlighted."""
    done = [t for t in trials if t.get("objective") is not None]
    if not done:
        return Markup('<p class="muted">No trial has an objective yet.</p>')
    names = sorted({k for t in done for k in (t.get("parameters") or {})})
    axes = [(n, [(t.get("parameters") or {}).get(n) for t in done]) for n in names]
    axes.append((objective, [float(t["objective"]) for t in done]))
    width, height, top, bottom, side = 760, 340, 40, 300, 70
    gap = (width - 2 * side) / max(len(axes) - 1, 1)
    scaled = [_axis(values) for _, values in axes]
    parts = [f'<svg class="parcoords" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Parallel coordinates of {len(names)} parameters and {escape(objective)}'
             f' for {len(done)} trials">']
    order = sorted(range(len(done)), key=lambda i: bool(done[i].get("best")))
    for i in order:
        points = []
        for a, (_, values) in enumerate(axes):
            place = scaled[a][0]
            points.append(f"{side + a * gap:.1f},{bottom - (bottom - top) * place(values[i]):.1f}")
        best = bool(done[i].get("best"))
        cls = "trial best" if best else "trial"
        parts.append(f'<polyline class="{cls}" points="{" ".join(points)}">'
                     f'<title>trial {escape(str(done[i].get("trial")))}'
                     f'{" (best)" if best else ""}</title></polyline>')
    for a, (name, _) in enumerate(axes):
        x = side + a * gap
        low, high = scaled[a][1]
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>'
                     f'<text class="axis-name" x="{x:.1f}" y="{top - 18}" text-anchor="middle">'
                     f'{escape(_clip(name, 22))}</text>'
                     f'<text class="axis-tick" x="{x:.1f}" y="{top - 4}" text-anchor="middle">'
                     f'{escape(high)}</text>'
                     f'<text class="axis-tick" x="{x:.1f}" y="{bottom + 16}" '
                     f'text-anchor="middle">{escape(low)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
