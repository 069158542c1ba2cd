"""The dependency graph of a flow's nodes, shared by the loader (which rejects cycles) and the
executor (which runs a node once what it depends on is done).

A node depends on every node its inputs reference and on the node its ``activate.when``
references (promptflow collects both). Only whole-string input values can be references, so a
list or mapping literal is never scanned.
"""

from __future__ import annotations

from collections.abc import Iterable

from ember.flows import references
from ember.flows.dag import Node
from ember.flows.references import Reference


def input_references(node: Node) -> dict[str, Reference]:
    """Input name -> the reference its value holds (literals left out). Raises
    ReferenceSyntaxError for a malformed ``${...}`` value."""
    found: dict[str, Reference] = {}
    for key, value in node.inputs.items():
        ref = references.parse(value)
        if ref is not None:
            found[key] = ref
    return found


def activate_reference(node: Node) -> Reference | None:
    return references.parse(node.activate.when) if node.activate is not None else None


def input_dependencies(node: Node) -> set[str]:
    """The nodes this node's inputs read from."""
    return {ref.name for ref in input_references(node).values() if ref.is_node}


def dependencies(node: Node) -> set[str]:
    """Everything that must finish before ``node`` may start (inputs and ``activate.when``)."""
    deps = input_dependencies(node)
    ref = activate_reference(node)
    if ref is not None and ref.is_node:
        deps.add(ref.name)
    return deps


def find_cycle(nodes: Iterable[Node]) -> list[str] | None:
    """The names of the nodes on a cycle or downstream of one, sorted, or None: what is left
    once every node that can run has been taken out (promptflow's ``NodeCircularDependency``
    lists the nodes the same way)."""
    remaining = {node.name: dependencies(node) for node in nodes}
    names = set(remaining)
    done: set[str] = set()
    progress = True
    while progress:
        progress = False
        for name, deps in list(remaining.items()):
            if all(d in done or d not in names for d in deps):
                done.add(name)
                del remaining[name]
                progress = True
    return sorted(remaining) or None
