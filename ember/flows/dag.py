"""A prompt flow as dataclasses: what ``loader.py`` reads from ``flow.dag.yaml`` and the executor
runs. No I/O here. Node input values stay as written (a literal, or a ``${...}`` reference
string); ``references.py`` parses and resolves them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class _Missing:
    """No default given (``None`` is a valid default)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

INPUT_TYPES = ("string", "int", "double", "bool", "list", "object", "image")
NODE_TYPES = ("python", "prompt", "llm", "custom_llm")


@dataclass
class FlowInput:
    name: str
    type: str = "string"
    default: Any = MISSING
    description: str = ""
    is_chat_input: bool = False
    is_chat_history: bool | None = None   # None: not said (an input named chat_history is it)
    line: int | None = None


@dataclass
class FlowOutput:
    name: str
    reference: str
    type: str = "string"
    description: str = ""
    is_chat_output: bool = False
    line: int | None = None


@dataclass
class Activate:
    """Run the node only when the value of ``when`` (a reference or a literal) equals ``is_``."""

    when: Any
    is_: Any


@dataclass
class NodeSource:
    type: str = "code"                 # code | package | package_with_prompt
    path: str | None = None            # code: a file in the flow folder (or an include)
    tool: str | None = None            # package: "promptflow.tools.openai.chat" style


@dataclass
class Node:
    name: str
    type: str                          # one of NODE_TYPES
    source: NodeSource
    inputs: dict[str, Any] = field(default_factory=dict)
    connection: str | None = None
    api: str | None = None             # llm nodes: chat | completion
    provider: str | None = None        # informational (recomputed from the connection)
    module: str | None = None          # informational
    activate: Activate | None = None
    aggregation: bool = False
    use_variants: bool = False
    variant_id: str | None = None      # the variant this body came from, when it did
    line: int | None = None


@dataclass
class NodeVariants:
    default_variant_id: str
    variants: dict[str, Node]          # variant id -> node body (named after the node)
    line: int | None = None


@dataclass
class Flow:
    path: Path                         # the flow.dag.yaml file
    inputs: dict[str, FlowInput] = field(default_factory=dict)
    outputs: dict[str, FlowOutput] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    node_variants: dict[str, NodeVariants] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    environment_variables: dict[str, Any] = field(default_factory=dict)
    additional_includes: list[str] = field(default_factory=list)
    # Bare file name (or relative path) -> the file an include provides; an include beats a
    # local file of the same name, the last listed include wins a clash.
    includes: dict[str, Path] = field(default_factory=dict)
    name: str = ""                     # display name: the folder's name unless the YAML says
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def source_path(self, node: Node) -> Path:
        """The file a node's ``source.path`` names: an include first, else the flow folder."""
        rel = node.source.path or ""
        return self.includes.get(rel) or self.includes.get(Path(rel).name) or self.folder / rel

    @property
    def chat_input(self) -> str | None:
        return next((i.name for i in self.inputs.values() if i.is_chat_input), None)

    @property
    def chat_history_input(self) -> str | None:
        marked = next((i.name for i in self.inputs.values() if i.is_chat_history), None)
        if marked:
            return marked
        hist = self.inputs.get("chat_history")
        return "chat_history" if hist is not None and hist.is_chat_history is not False else None

    @property
    def chat_output(self) -> str | None:
        return next((o.name for o in self.outputs.values() if o.is_chat_output), None)
