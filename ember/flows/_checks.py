"""The checks ``load_flow`` runs once the YAML is read: node sources (present, inside the flow
folder unless an include provides them), llm node settings, and the graph (references to
missing nodes or inputs, aggregation rules, cycles). Each failure is a SpecError with the line
of the offending key; ``doc`` is the loader's ``_Doc``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ember.flows import _graph, references
from ember.flows.dag import Flow, Node
from ember.flows.references import Reference, ReferenceSyntaxError


def check_nodes(doc: Any, flow: Flow) -> None:
    for node in flow.nodes:
        where = doc.where(node)
        if node.type == "llm":
            for key in ("connection", "api"):
                if not getattr(node, key):
                    raise doc.error(f"llm node '{node.name}' has no '{key}'", line=node.line,
                                    key=f"{where}.{key}",
                                    hint="api: chat or completion" if key == "api" else
                                    "name a connection (ember connection create)")
        if node.source.type == "code" and node.source.path:
            check_source(doc, flow, node)


def check_source(doc: Any, flow: Flow, node: Node) -> None:
    rel = node.source.path or ""
    if rel in flow.includes or Path(rel).name in flow.includes:
        return
    where = doc.where(node)
    line = doc.line(node, "source.path")
    root = flow.folder.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise doc.error(f"node '{node.name}': source path '{rel}' is outside the flow folder",
                        line=line, key=f"{where}.source.path",
                        hint="list files from elsewhere in additional_includes and name them "
                        "by file name")
    if not target.is_file():
        raise doc.error(f"node '{node.name}': source file '{rel}' not found in {root}",
                        line=line, key=f"{where}.source.path")


def _parse(doc: Any, node: Node, key: str, value: Any) -> Reference | None:
    try:
        return references.parse(value)
    except ReferenceSyntaxError as exc:
        raise doc.error(f"node '{node.name}': {exc}", line=doc.line(node, key),
                        key=f"{doc.where(node)}.{key}") from None


def check_graph(doc: Any, flow: Flow, log: logging.Logger) -> None:
    nodes = {node.name: node for node in flow.nodes}
    for node in flow.nodes:
        refs = [(f"inputs.{k}", _parse(doc, node, f"inputs.{k}", v))
                for k, v in node.inputs.items()]
        if node.activate is not None:
            refs.append(("activate.when", _parse(doc, node, "activate.when",
                                                 node.activate.when)))
        for key, ref in refs:
            if ref is None:
                continue
            line, full = doc.line(node, key), f"{doc.where(node)}.{key}"
            if not ref.is_node:
                if ref.name not in flow.inputs:
                    raise doc.error(f"node '{node.name}' references {ref}, but the flow has no "
                                    f"input '{ref.name}'", line=line, key=full,
                                    hint="inputs: " + (", ".join(flow.inputs) or "none"))
                continue
            target = nodes.get(ref.name)
            if target is None:
                raise doc.error(f"node '{node.name}' references {ref}, but there is no node "
                                f"'{ref.name}'", line=line, key=full,
                                hint="nodes: " + ", ".join(nodes))
            if target.aggregation and not node.aggregation:
                raise doc.error(f"node '{node.name}' references aggregation node "
                                f"'{ref.name}'; only aggregation nodes may", line=line, key=full)
            if key == "activate.when" and node.aggregation and not target.aggregation:
                raise doc.error(f"aggregation node '{node.name}' has an activate condition on "
                                f"regular node '{ref.name}'", line=line, key=full)
    _check_outputs(doc, flow, nodes, log)
    cycle = _graph.find_cycle(flow.nodes)
    if cycle:
        first = nodes[cycle[0]]
        raise doc.error(f"the nodes {cycle} reference each other in a cycle",
                        line=first.line, key=f"{doc.where(first)}.inputs",
                        hint="a flow is a DAG; review the references between these nodes")


def _check_outputs(doc: Any, flow: Flow, nodes: dict[str, Node], log: logging.Logger) -> None:
    for name, output in list(flow.outputs.items()):
        key = f"outputs.{name}.reference"
        try:
            ref = references.parse(output.reference)
        except ReferenceSyntaxError as exc:
            raise doc.error(f"output '{name}': {exc}", line=output.line, key=key) from None
        if ref is None:
            raise doc.error(f"output '{name}': {output.reference!r} is not a reference",
                            line=output.line, key=key,
                            hint="use ${node.output} or ${inputs.x}")
        if not ref.is_node:
            if ref.name not in flow.inputs:
                raise doc.error(f"output '{name}' references {ref}, but the flow has no input "
                                f"'{ref.name}'", line=output.line, key=key)
            continue
        target = nodes.get(ref.name)
        if target is None:
            raise doc.error(f"output '{name}' references {ref}, but there is no node "
                            f"'{ref.name}'", line=output.line, key=key,
                            hint="nodes: " + ", ".join(nodes))
        if target.aggregation:
            # promptflow drops these (aggregation nodes produce no line outputs) with a warning.
            log.warning("%s:%s: output '%s' references aggregation node '%s'; dropped",
                        doc.file, output.line, name, ref.name)
            del flow.outputs[name]
