"""A flow's graph laid out on the server as SVG: the flow's inputs on top, each node on the row
below the last node it reads (longest path), the outputs at the bottom; edges from the
``${...}`` references, dashed for an ``activate`` condition (labelled ``when … is …``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 176, 48, 36, 64, 16


@dataclass
class Box:
    key: str
    label: str
    sub: str
    kind: str          # input | node | output
    row: int
    col: int = 0
    href: str | None = None
    activate: str = ""

    @property
    def x(self) -> int:
        return PAD + self.col * (BOX_W + GAP_X)

    @property
    def y(self) -> int:
        return PAD + self.row * (BOX_H + GAP_Y)


def _short(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def layout(flow: dict[str, Any], link: str) -> tuple[dict[str, Box], list[dict[str, str]]]:
    """Boxes by key (``inputs.<x>``, node names, ``outputs.<x>``) and the edges between them;
    ``link``: the node page's URL without the node (``...?node=``)."""
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
    by_row: dict[int, list[Box]] = {}
    for box in boxes.values():
        by_row.setdefault(box.row, []).append(box)
    for row in by_row.values():
        for i, box in enumerate(row):
            box.col = i
    edges = [e for e in flow["edges"] if e["from"] in boxes and e["to"] in boxes]
    return boxes, edges


def svg(flow: dict[str, Any], link: str, selected: str | None = None) -> Markup:
    boxes, edges = layout(flow, link)
    if not boxes:
        return Markup('<p class="muted">This flow has no inputs, nodes or outputs yet.</p>')
    width = PAD * 2 + (max(b.col for b in boxes.values()) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + (max(b.row for b in boxes.values()) + 1) * (BOX_H + GAP_Y) - GAP_Y
    parts = [f'<svg class="flow-graph" xmlns="http://www.w3.org/2000/svg" role="group" '
             f'aria-label="The flow\'s graph" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#57606a"/></marker></defs>']
    for e in edges:
        a, b = boxes[e["from"]], boxes[e["to"]]
        x1, y1 = a.x + BOX_W / 2, a.y + BOX_H
        x2, y2 = b.x + BOX_W / 2, b.y
        mid = (y1 + y2) / 2
        cls = "edge " + e["kind"]
        title = escape(f"{e['from']} → {e['to']} ({e['input']})")
        parts.append(f'<path class="{cls}" data-from="{escape(e["from"])}" '
                     f'data-to="{escape(e["to"])}" d="M{x1},{y1} C{x1},{mid} {x2},{mid} '
                     f'{x2},{y2 - 2}" marker-end="url(#arrow)"><title>{title}</title></path>')
    for box in boxes.values():
        cls = f"box {box.kind}" + (" selected" if box.key == selected else "") + \
            (" conditional" if box.activate else "")
        inner = (f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
                 f'<text x="{box.x + 10}" y="{box.y + 20}" class="name">'
                 f'{escape(_short(box.label))}</text>'
                 f'<text x="{box.x + 10}" y="{box.y + 38}" class="sub">'
                 f'{escape(_short(box.sub, 28))}</text>')
        if box.activate:
            inner += (f'<text x="{box.x + BOX_W - 10}" y="{box.y + 20}" class="cond" '
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
