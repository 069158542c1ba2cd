"""Runs a set of nodes as a DAG: a node starts as soon as everything it depends on is done,
independent nodes run together (asyncio tasks), ``activate`` conditions and bypassing follow
promptflow's rules. Used by the executor for a line (regular nodes) and for the aggregation
(aggregation nodes over many lines); ``Resolver`` is what differs between the two."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ember.flows import _graph, references
from ember.flows.dag import Node


class Resolver(Protocol):
    def __call__(self, value: Any, outputs: dict[str, Any], bypassed: set[str]) -> Any:
        """``value`` itself when a literal, else what its reference names; a reference to a
        bypassed node gives None. Raises ResolveError."""
        ...


@dataclass
class Outcome:
    runs: dict[str, Any] = field(default_factory=dict)        # name -> NodeRun
    outputs: dict[str, Any] = field(default_factory=dict)     # completed nodes' outputs
    bypassed: set[str] = field(default_factory=set)
    error: dict[str, Any] | None = None


def should_bypass(node: Node, names: set[str], outputs: dict[str, Any], bypassed: set[str],
                  resolve: Resolver) -> bool:
    """promptflow's rule (``DAGManager._is_node_bypassable``): a node with ``activate`` is
    bypassed when the node its condition reads was bypassed or when the condition's value is
    not ``==`` to ``is``, and otherwise runs; a node without one is bypassed when every node its
    inputs read was bypassed."""
    if node.activate is not None:
        ref = _graph.activate_reference(node)
        if ref is not None and ref.is_node and ref.name in bypassed:
            return True
        return bool(resolve(node.activate.when, outputs, bypassed) != node.activate.is_)
    deps = _graph.input_dependencies(node) & names
    return bool(deps) and deps <= bypassed


async def run_nodes(nodes: list[Node], resolve: Resolver,
                    inputs_of: Callable[[Node, dict[str, Any], set[str]], dict[str, Any]],
                    execute: Callable[[Node, dict[str, Any]], Awaitable[Any]],
                    bypass_run: Callable[[Node], Any],
                    failed_run: Callable[[Node, BaseException], Any]) -> Outcome:
    """Run ``nodes``; ``execute`` returns a NodeRun and never raises for a node's failure.
    After the first failure no node starts; the running ones are awaited."""
    names = {n.name for n in nodes}
    deps = {n.name: _graph.dependencies(n) & names for n in nodes}
    pending = list(nodes)
    out = Outcome()
    running: dict[asyncio.Task[Any], Node] = {}
    try:
        while True:
            ready: list[tuple[Node, dict[str, Any]]] = []
            progressed = True
            while progressed and out.error is None:
                progressed = False
                for node in list(pending):
                    if not deps[node.name] <= out.runs.keys():
                        continue
                    pending.remove(node)
                    progressed = True
                    try:
                        if should_bypass(node, names, out.outputs, out.bypassed, resolve):
                            out.runs[node.name] = bypass_run(node)
                            out.bypassed.add(node.name)
                            continue
                        values = inputs_of(node, out.outputs, out.bypassed)
                    except references.ResolveError as exc:
                        run = failed_run(node, exc)
                        out.runs[node.name], out.error = run, run.error
                        break
                    ready.append((node, values))
            if len(ready) == 1 and not running and out.error is None:
                # One node to run and none running (a chain's usual step): awaited in place,
                # without a task and a wait around it (a third of a short line's loop turns).
                node, values = ready[0]
                _record(out, node, await execute(node, values))
                continue
            for node, values in ready:
                running[asyncio.ensure_future(execute(node, values))] = node
            if not running:
                return out
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                _record(out, running.pop(task), task.result())
    except asyncio.CancelledError:
        for task in running:
            task.cancel()
        raise


def _record(out: Outcome, node: Node, run: Any) -> None:
    out.runs[node.name] = run
    if run.status == "Completed":
        out.outputs[node.name] = run.output
    elif out.error is None:
        out.error = run.error
