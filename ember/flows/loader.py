"""``flow.dag.yaml`` -> :class:`~ember.flows.dag.Flow`, with every problem a SpecError that
names the file, the line and the key.

Loading applies the variant choice (``node_variants`` + ``use_variants``), resolves
``additional_includes`` (the only way a node may reach outside its flow folder) and checks the
graph (``_checks.py``). It never imports user code: ``validate_flow`` adds the tool checks that
need it (literal inputs against a python tool's annotations).

Accepted beyond the reference's key list: top-level ``id`` and ``name``, which Azure ML's prompt
flow UI writes into the flows it exports (metadata only; ``display_name`` wins for the name).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ember.errors import SpecError
from ember.flows import _checks
from ember.flows.dag import (
    INPUT_TYPES,
    MISSING,
    NODE_TYPES,
    Activate,
    Flow,
    FlowInput,
    FlowOutput,
    Node,
    NodeSource,
    NodeVariants,
)
from ember.specs.yamlio import load_yaml, type_name

log = logging.getLogger(__name__)

TOP_KEYS = frozenset({
    "inputs", "outputs", "nodes", "node_variants", "environment", "environment_variables",
    "additional_includes", "$schema", "type", "language", "description", "display_name",
    "tags", "id", "name"})
NODE_KEYS = frozenset({
    "name", "type", "source", "inputs", "connection", "api", "provider", "module", "activate",
    "aggregation", "reduce", "use_variants", "enable_cache", "comment"})
INPUT_KEYS = frozenset({"type", "default", "description", "enum", "is_chat_input",
                        "is_chat_history"})
OUTPUT_KEYS = frozenset({"type", "reference", "description", "is_chat_output",
                         "evaluation_only"})
SOURCE_KEYS = frozenset({"type", "path", "tool"})
SOURCE_TYPES = ("code", "package", "package_with_prompt")
VARIANT_ARG = re.compile(r"^\$\{\s*(?P<node>[^.{}\s]+)\s*\.\s*(?P<variant>[^.{}\s]+)\s*\}$")
FLOW_FILES = ("flow.dag.yaml", "flow.dag.yml")


def line_of(node: Any, key: Any) -> int | None:
    """1-based line of ``key`` in a ruamel mapping (or of index ``key`` in a list)."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        pos = lc.item(key) if isinstance(node, list) else lc.key(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return pos[0] + 1 if pos else None


def plain(value: Any) -> Any:
    """ruamel's round-trip types as plain dicts, lists, str, int, float, bool."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


class _Doc:
    """The file being read: builds its SpecErrors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        # Lines of keys the checks report on ("nodes.x.inputs.y" -> line), and where each
        # (node name, variant id) body sits in the file ("nodes.x", "node_variants.x....node").
        self.lines: dict[str, int | None] = {}
        self.prefix: dict[tuple[str, str | None], str] = {}

    def where(self, node: Node) -> str:
        return self.prefix.get((node.name, node.variant_id), f"nodes.{node.name}")

    def line(self, node: Node, key: str) -> int | None:
        return self.lines.get(f"{self.where(node)}.{key}") or node.line

    def error(self, message: str, *, line: int | None, key: str | None,
              hint: str | None = None) -> SpecError:
        return SpecError(message, file=self.file, line=line, key=key, hint=hint)

    def mapping(self, value: Any, *, line: int | None, key: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(f"{key} must be a mapping, not {type_name(value)}", line=line,
                             key=key)
        return value

    def known(self, value: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
        for key in value:
            if str(key) not in allowed:
                raise self.error(f"unknown key '{key}' in {where}", line=line_of(value, key),
                                 key=f"{where}.{key}" if where != "flow" else str(key),
                                 hint="allowed: " + ", ".join(sorted(allowed)))


def flow_file(path: str | Path) -> Path:
    """The ``flow.dag.yaml`` of a flow folder (or the file itself)."""
    path = Path(path)
    if path.is_dir():
        for name in FLOW_FILES:
            if (path / name).is_file():
                return path / name
        if (path / "flow.flex.yaml").is_file() or any(path.glob("*.prompty")):
            raise SpecError("flex flows and prompty files are not supported; only DAG flows "
                            "(flow.dag.yaml)", file=str(path))
        raise SpecError("no flow.dag.yaml in this folder", file=str(path))
    if not path.exists():
        raise SpecError("flow not found", file=str(path))
    return path


def load_flow(path: str | Path, variant: str | None = None) -> Flow:
    """Read and check a flow; ``variant`` is ``'${node.variant_id}'`` (one node tuned, every
    other variant node on its default). Raises SpecError naming file, line and key."""
    file = flow_file(path)
    doc = _Doc(file)
    data = load_yaml(file)
    doc.known(data, TOP_KEYS, "flow")
    flow = Flow(path=file.resolve())
    flow.name = str(data.get("display_name") or data.get("name") or file.resolve().parent.name)
    flow.description = str(data.get("description") or "")
    flow.tags = {str(k): str(v) for k, v in doc.mapping(
        data.get("tags"), line=line_of(data, "tags"), key="tags").items()}
    inputs = doc.mapping(data.get("inputs"), line=line_of(data, "inputs"), key="inputs")
    flow.inputs = {str(name): _input(doc, inputs, str(name)) for name in inputs}
    outputs = doc.mapping(data.get("outputs"), line=line_of(data, "outputs"), key="outputs")
    flow.outputs = {str(name): _output(doc, outputs, str(name)) for name in outputs}
    flow.node_variants = _node_variants(doc, data)
    flow.nodes = _nodes(doc, data)
    _apply_variants(doc, flow, variant, data)
    flow.environment = plain(doc.mapping(data.get("environment"),
                                         line=line_of(data, "environment"), key="environment"))
    flow.environment_variables = plain(doc.mapping(
        data.get("environment_variables"), line=line_of(data, "environment_variables"),
        key="environment_variables"))
    _includes(doc, flow, data)
    _checks.check_nodes(doc, flow)
    _checks.check_graph(doc, flow, log)
    return flow


def validate_flow(path: str | Path, variant: str | None = None) -> Flow:
    """``load_flow`` plus the checks that import the python tools (``pf flow validate``): no
    ``@tool`` or several, an input the tool does not take or a required one not set, a literal
    its annotation cannot take (SpecError); a tool file that does not import (UserCodeError);
    a package tool Ember does not run (UnsupportedError). Connections are not looked up."""
    from ember.flows import tools

    flow = load_flow(path, variant)
    tools.prepare_flow(flow)
    return flow


def _input(doc: _Doc, inputs: Mapping[str, Any], name: str) -> FlowInput:
    raw = doc.mapping(inputs[name], line=line_of(inputs, name), key=f"inputs.{name}")
    doc.known(raw, INPUT_KEYS, f"inputs.{name}")
    kind = str(raw.get("type", "string"))
    if kind not in INPUT_TYPES:
        raise doc.error(f"input '{name}' has unknown type '{kind}'",
                        line=line_of(raw, "type") or line_of(inputs, name),
                        key=f"inputs.{name}.type", hint="types: " + ", ".join(INPUT_TYPES))
    hist = raw.get("is_chat_history")
    return FlowInput(name=name, type=kind,
                     default=plain(raw["default"]) if "default" in raw else MISSING,
                     description=str(raw.get("description") or ""),
                     is_chat_input=bool(raw.get("is_chat_input", False)),
                     is_chat_history=None if hist is None else bool(hist),
                     line=line_of(inputs, name))


def _output(doc: _Doc, outputs: Mapping[str, Any], name: str) -> FlowOutput:
    raw = doc.mapping(outputs[name], line=line_of(outputs, name), key=f"outputs.{name}")
    doc.known(raw, OUTPUT_KEYS, f"outputs.{name}")
    ref = raw.get("reference")
    if ref is None or not str(ref).strip():
        raise doc.error(f"output '{name}' has an empty reference",
                        line=line_of(raw, "reference") or line_of(outputs, name),
                        key=f"outputs.{name}.reference",
                        hint="set reference: ${node.output} or ${inputs.x}")
    return FlowOutput(name=name, reference=str(ref).strip(), type=str(raw.get("type", "string")),
                      description=str(raw.get("description") or ""),
                      is_chat_output=bool(raw.get("is_chat_output", False)),
                      line=line_of(raw, "reference") or line_of(outputs, name))


def _nodes(doc: _Doc, data: Mapping[str, Any]) -> list[Node]:
    raw = data.get("nodes")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise doc.error(f"nodes must be a list, not {type_name(raw)}",
                        line=line_of(data, "nodes"), key="nodes")
    nodes: list[Node] = []
    seen: dict[str, int | None] = {}
    for index, item in enumerate(raw):
        line = line_of(raw, index)
        body = doc.mapping(item, line=line, key=f"nodes[{index}]")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise doc.error("node has no name", line=line, key=f"nodes[{index}].name")
        if name in seen:
            raise doc.error(f"duplicate node name '{name}' (first at line {seen[name]})",
                            line=line_of(body, "name") or line, key=f"nodes.{name}.name")
        seen[name] = line_of(body, "name") or line
        if body.get("use_variants"):
            doc.known(body, NODE_KEYS, f"nodes.{name}")
            nodes.append(Node(name=name, type="", source=NodeSource(), use_variants=True,
                              line=seen[name]))
            continue
        doc.prefix[(name, None)] = f"nodes.{name}"
        nodes.append(_node(doc, body, name, f"nodes.{name}", seen[name]))
    return nodes


def _node(doc: _Doc, body: Mapping[str, Any], name: str, where: str,
          line: int | None) -> Node:
    doc.known(body, NODE_KEYS, where)
    kind = body.get("type")
    if kind not in NODE_TYPES:
        raise doc.error(f"node '{name}' has unknown type {kind!r}" if kind is not None
                        else f"node '{name}' has no type",
                        line=line_of(body, "type") or line, key=f"{where}.type",
                        hint="types: " + ", ".join(NODE_TYPES))
    src = doc.mapping(body.get("source"), line=line_of(body, "source"), key=f"{where}.source")
    doc.known(src, SOURCE_KEYS, f"{where}.source")
    source = NodeSource(type=str(src.get("type", "code")),
                        path=str(src["path"]) if src.get("path") is not None else None,
                        tool=str(src["tool"]) if src.get("tool") is not None else None)
    if source.type not in SOURCE_TYPES:
        raise doc.error(f"node '{name}' has unknown source type '{source.type}'",
                        line=line_of(src, "type") or line, key=f"{where}.source.type",
                        hint="types: " + ", ".join(SOURCE_TYPES))
    if source.type == "code" and not source.path:
        raise doc.error(f"node '{name}' has no source.path", line=line_of(body, "source") or line,
                        key=f"{where}.source.path")
    if source.type != "code" and not source.tool:
        raise doc.error(f"node '{name}' has a {source.type} source without 'tool'",
                        line=line_of(body, "source") or line, key=f"{where}.source.tool")
    inputs = doc.mapping(body.get("inputs"), line=line_of(body, "inputs"), key=f"{where}.inputs")
    activate = None
    if body.get("activate") is not None:
        act = doc.mapping(body["activate"], line=line_of(body, "activate"),
                          key=f"{where}.activate")
        doc.known(act, frozenset({"when", "is"}), f"{where}.activate")
        if "when" not in act or "is" not in act:
            raise doc.error(f"node '{name}': activate needs both 'when' and 'is'",
                            line=line_of(body, "activate"), key=f"{where}.activate")
        activate = Activate(when=plain(act["when"]), is_=plain(act["is"]))
    aggregation = body.get("aggregation", body.get("reduce", False))
    for key in inputs:
        doc.lines[f"{where}.inputs.{key}"] = line_of(inputs, key)
    for key in ("source.path", "activate.when", "connection", "api"):
        holder: Any = {"source": src, "activate": body.get("activate")}.get(key.split(".")[0],
                                                                          body)
        doc.lines[f"{where}.{key}"] = line_of(holder, key.split(".")[-1])

    def text(key: str) -> str | None:
        return str(body[key]) if body.get(key) is not None else None

    return Node(name=name, type=str(kind), source=source,
                inputs={str(k): plain(v) for k, v in inputs.items()},
                connection=text("connection"), api=text("api"), provider=text("provider"),
                module=text("module"), activate=activate, aggregation=bool(aggregation),
                line=line)


def _node_variants(doc: _Doc, data: Mapping[str, Any]) -> dict[str, NodeVariants]:
    raw = doc.mapping(data.get("node_variants"), line=line_of(data, "node_variants"),
                      key="node_variants")
    found: dict[str, NodeVariants] = {}
    for name in raw:
        where = f"node_variants.{name}"
        entry = doc.mapping(raw[name], line=line_of(raw, name), key=where)
        doc.known(entry, frozenset({"default_variant_id", "variants"}), where)
        variants = doc.mapping(entry.get("variants"), line=line_of(entry, "variants"),
                               key=f"{where}.variants")
        if not variants:
            raise doc.error(f"node '{name}' has no variants", line=line_of(raw, name),
                            key=f"{where}.variants")
        bodies: dict[str, Node] = {}
        for vid in variants:
            vwhere = f"{where}.variants.{vid}"
            holder = doc.mapping(variants[vid], line=line_of(variants, vid), key=vwhere)
            doc.known(holder, frozenset({"node"}), vwhere)
            body = doc.mapping(holder.get("node"), line=line_of(holder, "node"),
                               key=f"{vwhere}.node")
            node = _node(doc, body, str(name), f"{vwhere}.node", line_of(variants, vid))
            node.use_variants, node.variant_id = True, str(vid)
            doc.prefix[(str(name), str(vid))] = f"{vwhere}.node"
            bodies[str(vid)] = node
        default = entry.get("default_variant_id")
        if default is None or str(default) not in bodies:
            raise doc.error(f"node '{name}': default_variant_id {default!r} is not one of its "
                            f"variants ({', '.join(bodies)})",
                            line=line_of(entry, "default_variant_id") or line_of(raw, name),
                            key=f"{where}.default_variant_id")
        found[str(name)] = NodeVariants(default_variant_id=str(default), variants=bodies,
                                        line=line_of(raw, name))
    return found


def _apply_variants(doc: _Doc, flow: Flow, variant: str | None, data: Mapping[str, Any]) -> None:
    chosen: tuple[str, str] | None = None
    if variant:
        match = VARIANT_ARG.match(variant.strip())
        if match is None:
            raise doc.error(f"variant {variant!r} is not of the form '${{node.variant_id}}'",
                            line=None, key="node_variants")
        chosen = (match["node"], match["variant"])
        uses = {n.name for n in flow.nodes if n.use_variants}
        if chosen[0] not in flow.node_variants or chosen[0] not in uses:
            raise doc.error(f"variant {variant!r}: node '{chosen[0]}' has no variants",
                            line=line_of(data, "node_variants"), key="node_variants",
                            hint="variant nodes: " + (", ".join(sorted(uses)) or "none"))
        ids = flow.node_variants[chosen[0]].variants
        if chosen[1] not in ids:
            raise doc.error(f"variant {variant!r}: node '{chosen[0]}' has no variant "
                            f"'{chosen[1]}'", line=flow.node_variants[chosen[0]].line,
                            key=f"node_variants.{chosen[0]}.variants",
                            hint="variants: " + ", ".join(ids))
    for index, node in enumerate(flow.nodes):
        if not node.use_variants:
            continue
        entry = flow.node_variants.get(node.name)
        if entry is None:
            raise doc.error(f"node '{node.name}' has use_variants but no node_variants entry",
                            line=node.line, key=f"nodes.{node.name}.use_variants")
        vid = chosen[1] if chosen and chosen[0] == node.name else entry.default_variant_id
        body = entry.variants[vid]
        flow.nodes[index] = replace(body, inputs=dict(body.inputs), name=node.name,
                                    use_variants=True, variant_id=vid)


def _includes(doc: _Doc, flow: Flow, data: Mapping[str, Any]) -> None:
    raw = data.get("additional_includes")
    if raw is None:
        return
    if not isinstance(raw, list):
        raise doc.error(f"additional_includes must be a list, not {type_name(raw)}",
                        line=line_of(data, "additional_includes"), key="additional_includes")
    for index, item in enumerate(raw):
        line = line_of(raw, index)
        target = (flow.folder / str(item)).resolve()
        if not target.exists():
            raise doc.error(f"additional include '{item}' not found (resolved to {target})",
                            line=line, key=f"additional_includes[{index}]")
        flow.additional_includes.append(str(item))
        flow.includes[target.name] = target
        if target.is_dir():
            for file in sorted(target.rglob("*")):
                if file.is_file() and "__pycache__" not in file.parts:
                    flow.includes[f"{target.name}/{file.relative_to(target).as_posix()}"] = file
