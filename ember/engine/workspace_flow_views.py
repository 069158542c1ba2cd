"""How the API shows a workspace flow (``engine/workspace_flows.py``): its files, its YAML,
and its graph: inputs, outputs, nodes (with their variants and activate conditions) and the
edges the ``${...}`` references make."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ember.flows import _graph, references
from ember.flows.dag import MISSING, Flow


@dataclass
class FlowNodeView:
    name: str
    type: str
    source: str | None
    tool: str | None
    inputs: dict[str, Any]
    activate: dict[str, Any] | None
    aggregation: bool
    use_variants: bool
    variants: list[str] = field(default_factory=list)
    default_variant: str | None = None
    # variant id -> {"inputs", "source"}: each variant's own body
    variant_bodies: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class FlowView:
    """A flow as the API shows it: its files, its YAML, and its graph (``error`` instead when
    ``flow.dag.yaml`` does not load)."""

    name: str
    files: dict[str, int]
    dag: str
    error: str | None
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    nodes: list[FlowNodeView]
    edges: list[dict[str, str]]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))



def flow_view(name: str, sizes: dict[str, int], dag: str, flow: Flow) -> FlowView:
    variants = flow.node_variants
    nodes = []
    for n in flow.nodes:
        nv = variants.get(n.name)
        nodes.append(FlowNodeView(
            name=n.name, type=n.type, source=n.source.path, tool=n.source.tool,
            inputs=_plain(n.inputs),
            activate={"when": _plain(n.activate.when), "is": _plain(n.activate.is_)}
            if n.activate else None,
            aggregation=n.aggregation, use_variants=nv is not None,
            variants=sorted(nv.variants) if nv else [],
            default_variant=nv.default_variant_id if nv else None,
            variant_bodies={vid: {"inputs": _plain(body.inputs), "source": body.source.path}
                            for vid, body in nv.variants.items()} if nv else {}))
    edges: list[dict[str, str]] = []
    for n in flow.nodes:
        for key, ref in _graph.input_references(n).items():
            edges.append({"from": ref.name if ref.is_node else f"inputs.{ref.name}",
                          "to": n.name, "input": key, "kind": "data"})
        act = _graph.activate_reference(n)
        if act is not None:
            edges.append({"from": act.name if act.is_node else f"inputs.{act.name}",
                          "to": n.name, "input": "activate", "kind": "activate"})
    for o in flow.outputs.values():
        out_ref = references.parse(o.reference)
        if out_ref is not None:
            edges.append({"from": out_ref.name if out_ref.is_node else f"inputs.{out_ref.name}",
                          "to": f"outputs.{o.name}", "input": o.name, "kind": "output"})
    inputs = {k: {"type": v.type, "default": None if v.default is MISSING else
                  _plain(v.default), "required": v.default is MISSING}
              for k, v in flow.inputs.items()}
    outputs = {k: {"type": v.type, "reference": v.reference} for k, v in flow.outputs.items()}
    return FlowView(name, sizes, dag, None, inputs, outputs, nodes, edges)
