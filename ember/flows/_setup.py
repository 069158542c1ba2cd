"""What an executor sets up before it runs anything: ``--connections`` overrides applied to the
nodes, the environment variables put into ``os.environ``, and which nodes may stream."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

from ember.errors import InvalidInputError
from ember.flows import _graph, references
from ember.flows.connections import ConnectionProvider, from_plain
from ember.flows.dag import Flow

_CONN_REF = re.compile(r"^\$\{\s*(?P<conn>[^.{}\s]+)\s*\.\s*(?P<key>[^{}\s]+)\s*\}$")


def apply_overrides(flow: Flow, overrides: dict[str, dict[str, Any]]) -> Flow:
    """``--connections node.connection=x node.deployment_name=y``: ``connection`` sets the
    node's connection (or, for a python node without one, its ``connection`` input); any
    other key sets that node input."""
    nodes = {n.name: n for n in flow.nodes}
    for name in overrides:
        if name not in nodes:
            raise InvalidInputError(f"--connections names node {name!r}, which the flow does "
                                    f"not have (nodes: {', '.join(nodes)})")
    changed = []
    for node in flow.nodes:
        values = dict(overrides.get(node.name) or {})
        if not values:
            changed.append(node)
            continue
        connection = node.connection
        if "connection" in values and (node.type != "python" or node.connection):
            connection = str(values.pop("connection"))
        changed.append(replace(node, connection=connection, inputs={**node.inputs, **values}))
    return replace(flow, nodes=changed)


def set_environment(variables: dict[str, Any], connections: ConnectionProvider) -> None:
    """Put ``variables`` into ``os.environ`` (process-wide, as in promptflow, where a flow runs
    in a process of its own); ``${conn.key}`` values are read from that connection."""
    for key, value in variables.items():
        match = _CONN_REF.match(value) if isinstance(value, str) else None
        if match is not None:
            conn = from_plain(connections.get(match["conn"]))
            try:
                value = getattr(conn, match["key"])
            except AttributeError:
                raise InvalidInputError(f"environment variable {key}: connection "
                                        f"{match['conn']!r} has no {match['key']!r}") from None
        os.environ[str(key)] = "" if value is None else str(value)


def streamable_nodes(flow: Flow) -> set[str]:
    """Nodes whose generator output may reach the caller unjoined: read by exactly one flow
    output, whole (no path into it), and by no node."""
    fed: dict[str, int] = {}
    for output in flow.outputs.values():
        ref = references.parse(output.reference)
        if ref is not None and ref.is_node:
            fed[ref.name] = fed.get(ref.name, 0) + (1 if not ref.path else 2)
    used: set[str] = set().union(*(_graph.dependencies(n) for n in flow.nodes))
    return {name for name, count in fed.items() if count == 1 and name not in used}
