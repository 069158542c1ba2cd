"""A flow's graph laid out on the server as SVG: the flow's inputs on top, each node on the row
below the last node it reads (longest path), the outputs at the bottom; edges from the
``${...}`` references, dashed for an ``activate`` condition (the node's box dashed and marked
``if``, its condition in the box's title and accessible name). An edge that spans rows bends
through a gap of each row it crosses (a layered, Sugiyama-style layout, one ordering pass)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

BOX_W, BOX_H, GAP_X, GAP_Y, PAD, BEND_W = 176, 48, 28, 56, 16, 8


@dataclass
class Box:
    key: str
    label: str
    sub: str
    kind: str          # input | node | output | bend (a point an edge passes a row through)
    row: int
    x: float = 0
    href: str | None = None
    activate: str = ""

    @property
    def width(self) -> int:
        return BEND_W if self.kind == "bend" else BOX_W

    @property
    def y(self) -> int:
        return PAD + self.row * (BOX_H + GAP_Y)

    @property
    def centre(self) -> float:
        return self.x + self.width / 2


def _short(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def layout(flow: dict[str, Any], link: str) -> tuple[dict[str, Box], list[dict[str, Any]]]:
    """Boxes by key (``inputs.<x>``, node names, ``outputs.<x>``, and a bend for each row a
    long edge crosses) and the edges, each with ``via``: its bends, top to bottom. Rows are
    ordered by the mean place of what feeds them (a barycentre pass), so edges cross less and
    never run through a box."""
    nodes = {n["name"]: n for n in flow["nodes"]}
    deps: dict[str, set[str]] = {name: set() for name in nodes}
    for e in flow["edges"]:
        if e["to"] in deps and e["from"] in nodes:
            deps[e["to"]].add(e["from"])
    rows: dict[str, int] = {}

    def row_of(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name in rows:
            return rows[name]
        if name in seen:      # a cycle: the loader refuses them, draw rather than loop
            return 1
        rows[name] = 1 + max((row_of(d, seen | {name}) for d in deps[name]), default=0)
        return rows[name]

    boxes: dict[str, Box] = {}
    for name in flow["inputs"]:
        spec = flow["inputs"][name]
        boxes[f"inputs.{name}"] = Box(f"inputs.{name}", name, f"input · {spec['type']}",
                                      "input", 0)
    last = 0
    for name, n in nodes.items():
        r = row_of(name)
        last = max(last, r)
        activate = ""
        if n.get("activate"):
            activate = f"when {n['activate']['when']} is {n['activate']['is']}"
        sub = n["type"] + (" · variants" if n.get("use_variants") else "") + \
            (" · aggregation" if n.get("aggregation") else "")
        boxes[name] = Box(name, name, sub, "node", r, href=link + quote(name, safe=""),
                          activate=activate)
    for name, spec in flow["outputs"].items():
        boxes[f"outputs.{name}"] = Box(f"outputs.{name}", name, f"output · {spec['type']}",
                                       "output", last + 1)
    edges: list[dict[str, Any]] = []
    feeds: dict[str, list[str]] = {k: [] for k in boxes}
    for i, e in enumerate(f for f in flow["edges"] if f["from"] in boxes and f["to"] in boxes):
        a, b = boxes[e["from"]], boxes[e["to"]]
        via: list[str] = []
        prev = a.key
        for row in range(a.row + 1, b.row):
            key = f"bend.{i}.{row}"
            boxes[key] = Box(key, "", "", "bend", row)
            feeds[key] = [prev]
            via.append(key)
            prev = key
        feeds[b.key].append(prev)
        edges.append({**e, "via": via})
    by_row: dict[int, list[Box]] = {}
    for box in boxes.values():
        by_row.setdefault(box.row, []).append(box)
    order: dict[str, float] = {}
    for r in sorted(by_row):
        row_boxes = by_row[r]
        for i, box in enumerate(row_boxes):
            above = [order[k] for k in feeds.get(box.key, []) if k in order]
            order[box.key] = sum(above) / len(above) if above else float(i)
        row_boxes.sort(key=lambda bx: order[bx.key])
        for i, box in enumerate(row_boxes):
            order[box.key] = float(i)
    widths = {r: sum(b.width for b in bs) + GAP_X * (len(bs) - 1) for r, bs in by_row.items()}
    widest = max(widths.values(), default=0)
    for r, row_boxes in by_row.items():
        x = PAD + (widest - widths[r]) / 2
        for box in row_boxes:
            box.x = x
            x += box.width + GAP_X
    return boxes, edges


def _edge_path(boxes: dict[str, Box], e: dict[str, Any]) -> str:
    a, b = boxes[e["from"]], boxes[e["to"]]
    points = [(a.centre, a.y + BOX_H)]
    for key in e["via"]:
        bend = boxes[key]
        points += [(bend.centre, bend.y), (bend.centre, bend.y + BOX_H)]
    points.append((b.centre, b.y - 2))
    d = f"M{points[0][0]:.0f},{points[0][1]:.0f}"
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        if x1 == x2:
            d += f" L{x2:.0f},{y2:.0f}"
        else:
            mid = (y1 + y2) / 2
            d += f" C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}"
    return d


def svg(flow: dict[str, Any], link: str, selected: str | None = None) -> Markup:
    boxes, edges = layout(flow, link)
    if not boxes:
        return Markup('<p class="muted">This flow has no inputs, nodes or outputs yet.</p>')
    width = int(max(b.x + b.width for b in boxes.values()) + PAD)
    height = PAD * 2 + (max(b.row for b in boxes.values()) + 1) * (BOX_H + GAP_Y) - GAP_Y
    parts = [f'<svg class="flow-graph" xmlns="http://www.w3.org/2000/svg" role="group" '
             f'aria-label="The flow\'s graph" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#57606a"/></marker></defs>']
    for e in edges:
        title = escape(f"{e['from']} → {e['to']} ({e['input']})")
        parts.append(f'<path class="edge {e["kind"]}" data-from="{escape(e["from"])}" '
                     f'data-to="{escape(e["to"])}" d="{_edge_path(boxes, e)}" '
                     f'marker-end="url(#arrow)"><title>{title}</title></path>')
    for box in boxes.values():
        if box.kind == "bend":
            continue
        x = int(box.x)
        cls = f"box {box.kind}" + (" selected" if box.key == selected else "") + \
            (" conditional" if box.activate else "")
        inner = (f'<rect x="{x}" y="{box.y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
                 f'<text x="{x + 10}" y="{box.y + 20}" class="name">'
                 f'{escape(_short(box.label))}</text>'
                 f'<text x="{x + 10}" y="{box.y + 38}" class="sub">'
                 f'{escape(_short(box.sub, 28))}</text>')
        if box.activate:
            inner += (f'<text x="{x + BOX_W - 10}" y="{box.y + 20}" class="cond" '
                      f'text-anchor="end">if</text><title>{escape(box.activate)}</title>')
        if box.href:
            parts.append(f'<a href="{escape(box.href)}" class="{cls}" data-node="'
                         f'{escape(box.key)}" aria-label="Node {escape(box.label)}'
                         f'{", " + escape(box.activate) if box.activate else ""}">'
                         f'{inner}</a>')
        else:
            parts.append(f'<g class="{cls}" data-box="{escape(box.key)}">{inner}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))
