"""What a node's runner gets besides its inputs: the flow, the node, connections, the tracer,
and whether the consumer of this run reads streamed outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ember.flows.connections import ConnectionProvider
from ember.flows.dag import Flow, Node
from ember.flows.trace import Tracer


@dataclass
class NodeContext:
    flow: Flow
    node: Node
    connections: ConnectionProvider
    tracer: Tracer
    # True when the consumer reads outputs as they are produced (``flow serve`` with SSE,
    # ``flow test`` printing as it goes): an llm node then returns a generator of text pieces.
    stream: bool = False
    # The flow inputs of this line: an llm node swaps role markers found in these values for
    # placeholders before splitting the rendered chat, so user text cannot inject a turn.
    flow_inputs: dict[str, Any] = field(default_factory=dict)
    # Overrides from ``--connections node.connection=x node.model=y`` for this node.
    overrides: dict[str, Any] = field(default_factory=dict)
