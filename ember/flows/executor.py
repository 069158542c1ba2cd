"""Runs a flow: one line at a time (``run_line``), the aggregation nodes once over many lines
(``run_aggregation``), or a single node (``run_node``, ``flow test --node``). The CLI, batch
runs and served flows all call this.

Decisions:
- A bad line input (a required input missing, a value that does not convert to the input's
  type) gives a Failed ``LineResult`` naming the input, not an exception: a batch needs a
  result per line. Node failures never raise either; the line is Failed with promptflow's
  message (``Execution failure in 'upper': (ValueError) bad line``) and the user's traceback.
- The flow's ``environment_variables`` (literals, or ``${conn.key}`` read from a connection)
  go into ``os.environ`` when the executor is created: process-wide, as in promptflow, where
  each flow runs in its own process.
- A generator output is joined into a string, except when ``stream`` is on and the node feeds
  exactly one flow output and nothing else: the caller then gets the generator (sync or async)
  in ``LineResult.outputs`` and streams it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ember.errors import (
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
    UserCodeError,
)
from ember.flows import _schedule, _setup, _types, references, tools
from ember.flows.connections import ConnectionProvider
from ember.flows.dag import MISSING, Flow, Node
from ember.flows.node_context import NodeContext
from ember.flows.promptflow_compat._context import current_tracer, metrics_sink
from ember.flows.trace import CHAIN, LLM, PARSER, TOOL, Tracer

log = logging.getLogger(__name__)
T = TypeVar("T")
SPAN_TYPES = {"python": TOOL, "prompt": PARSER, "llm": LLM, "custom_llm": LLM}


@dataclass
class NodeRun:
    name: str
    status: str                      # "Completed" | "Bypassed" | "Failed"
    output: Any
    error: dict[str, Any] | None
    start_time: float
    end_time: float


@dataclass
class LineResult:
    line_number: int | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    status: str                      # "Completed" | "Failed"
    error: dict[str, Any] | None     # {"message", "node", "type", "traceback"}
    node_runs: dict[str, NodeRun]
    trace_id: str | None


@dataclass
class AggregationResult:
    status: str                      # "Completed" | "Failed"
    error: dict[str, Any] | None
    metrics: dict[str, float]
    node_runs: dict[str, NodeRun]


def node_error(node: str | None, exc: BaseException) -> dict[str, Any]:
    where = f"Execution failure in '{node}': " if node else ""
    return {"message": f"{where}({type(exc).__name__}) {exc}", "node": node,
            "type": type(exc).__name__, "traceback": tools.user_traceback(exc)}


class FlowExecutor:
    """Runs one loaded flow. Creating it loads the python tools and looks up the connections
    the nodes name (SpecError, UserCodeError, NotFoundError or UnsupportedError when a node
    cannot run), and sets the environment variables."""

    def __init__(self, flow: Flow, connections: ConnectionProvider, *,
                 tracer: Tracer | None = None, stream: bool = False,
                 overrides: dict[str, dict[str, Any]] | None = None,
                 environment_variables: dict[str, Any] | None = None) -> None:
        """``environment_variables``: a run's own (``--environment-variables``); they win over
        the flow's, which win over the process environment, as in promptflow."""
        self.overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self.flow = _setup.apply_overrides(flow, self.overrides) if self.overrides else flow
        self.connections = connections
        self.tracer = tracer or Tracer()
        self.stream = stream
        for node in self.flow.nodes:
            if node.type == "custom_llm":
                raise UnsupportedError(f"node '{node.name}': custom_llm nodes "
                                       f"({node.source.tool}) are not supported")
        self.prepared = tools.prepare_flow(self.flow)
        for prepared in self.prepared.values():
            tools.resolve_connections(prepared, connections)
        for node in self.flow.nodes:
            if node.type == "llm" and node.connection:
                connections.get(node.connection)   # NotFoundError now, not on every line
        self.line_nodes = [n for n in self.flow.nodes if not n.aggregation]
        self.aggregation_nodes = [n for n in self.flow.nodes if n.aggregation]
        self.streamable = _setup.streamable_nodes(self.flow)
        _setup.set_environment({**self.flow.environment_variables,
                                **(environment_variables or {})}, connections)

    # -- one line ---------------------------------------------------------------------------

    def line_inputs(self, given: dict[str, Any]) -> dict[str, Any]:
        """The flow inputs of a line: defaults filled, values converted to the declared types.
        Raises InvalidInputError naming the input."""
        values: dict[str, Any] = {}
        for name, spec in self.flow.inputs.items():
            if name in given:
                value = given[name]
            elif spec.default is not MISSING:
                value = copy.deepcopy(spec.default)   # a line may mutate its list or dict
            else:
                raise InvalidInputError(f"flow input '{name}' is required (it has no default)")
            try:
                values[name] = _types.convert(value, spec.type)
            except ValueError as exc:
                raise InvalidInputError(f"flow input '{name}' of type {spec.type}: {exc}") \
                    from None
        return values

    async def run_line(self, inputs: dict[str, Any], line_number: int | None = None
                       ) -> LineResult:
        """Run the regular nodes on one line of inputs; never raises for bad inputs or node
        failures (see the module docstring)."""
        try:
            values = self.line_inputs(inputs)
        except InvalidInputError as exc:
            return LineResult(line_number, dict(inputs), {}, "Failed",
                              {"message": exc.message, "node": None,
                               "type": "InvalidInputError", "traceback": None}, {}, None)
        attributes = {"line_number": line_number} if line_number is not None else {}
        token = current_tracer.set(self.tracer)
        try:
            with self.tracer.span(self.flow.name, CHAIN, inputs=values,
                                  attributes=attributes) as span:
                outcome = await self._run(self.line_nodes, self._line_resolver(values), values)
                outputs: dict[str, Any] = {}
                error = outcome.error
                if error is None:
                    try:
                        outputs = self._outputs(values, outcome)
                    except references.ResolveError as exc:
                        error = {"message": exc.message, "node": None, "type": "ResolveError",
                                 "traceback": None}
                if error is not None:
                    span.status, span.status_message = "ERROR", error["message"]
                    outputs = {}
                span.set_outputs(outputs)
        finally:
            current_tracer.reset(token)
        return LineResult(line_number, values, outputs,
                          "Failed" if error is not None else "Completed", error, outcome.runs,
                          span.trace_id)

    def run_line_sync(self, inputs: dict[str, Any], line_number: int | None = None
                      ) -> LineResult:
        """``run_line`` in a fresh event loop (not from inside a running loop)."""
        return asyncio.run(_closing(self.run_line(inputs, line_number)))

    def _line_resolver(self, flow_inputs: dict[str, Any]) -> _schedule.Resolver:
        def resolve(value: Any, outputs: dict[str, Any], bypassed: set[str]) -> Any:
            ref = references.parse(value)
            if ref is None:
                return value
            if ref.is_node and ref.name in bypassed:
                return None
            return references.resolve(ref, flow_inputs, outputs)
        return resolve

    def _outputs(self, values: dict[str, Any], outcome: _schedule.Outcome) -> dict[str, Any]:
        resolve = self._line_resolver(values)
        return {name: resolve(out.reference, outcome.outputs, outcome.bypassed)
                for name, out in self.flow.outputs.items()}

    # -- running nodes ----------------------------------------------------------------------

    async def _run(self, nodes: list[Node], resolve: _schedule.Resolver,
                   flow_inputs: dict[str, Any]) -> _schedule.Outcome:
        def inputs_of(node: Node, outputs: dict[str, Any], bypassed: set[str]
                      ) -> dict[str, Any]:
            prepared = self.prepared.get(node.name)
            found: dict[str, Any] = {}
            for key, raw in node.inputs.items():
                if prepared is not None and key in prepared.skipped:
                    continue
                if prepared is not None and key in prepared.literals:
                    found[key] = prepared.literals[key]
                    continue
                ref = references.parse(raw)
                if ref is not None and ref.is_node and ref.name in bypassed:
                    # promptflow: the parameter's default applies, else None (with a warning).
                    if prepared is not None and prepared.has_default(key):
                        continue
                    log.warning("node '%s' input '%s' reads bypassed node '%s' and has no "
                                "default; it gets None", node.name, key, ref.name)
                found[key] = resolve(raw, outputs, bypassed)
            return found

        def bypass_run(node: Node) -> NodeRun:
            now = time.time()
            return NodeRun(node.name, "Bypassed", None, None, now, now)

        def failed_run(node: Node, exc: BaseException) -> NodeRun:
            now = time.time()
            return NodeRun(node.name, "Failed", None, node_error(node.name, exc), now, now)

        async def execute(node: Node, values: dict[str, Any]) -> NodeRun:
            return await self._execute(node, values, flow_inputs)

        return await _schedule.run_nodes(nodes, resolve, inputs_of, execute, bypass_run,
                                         failed_run)

    async def _execute(self, node: Node, values: dict[str, Any], flow_inputs: dict[str, Any]
                       ) -> NodeRun:
        start = time.time()
        ctx = NodeContext(flow=self.flow, node=node, connections=self.connections,
                          tracer=self.tracer,
                          stream=self.stream and node.name in self.streamable,
                          flow_inputs=flow_inputs,
                          overrides=dict(self.overrides.get(node.name) or {}))
        try:
            prepared = self.prepared.get(node.name)
            kind = LLM if prepared is not None and prepared.package else \
                SPAN_TYPES.get(node.type, TOOL)
            with self.tracer.span(node.name, kind, inputs=values,
                                  attributes={"node_name": node.name}) as span:
                output = await self._call(node, ctx, values)
                if not ctx.stream:
                    output = await _join(output)
                span.set_outputs(output)
        except Exception as exc:  # noqa: BLE001 - the node's failure, reported in the result
            return NodeRun(node.name, "Failed", None, node_error(node.name, exc), start,
                           time.time())
        return NodeRun(node.name, "Completed", output, None, start, time.time())

    async def _call(self, node: Node, ctx: NodeContext, values: dict[str, Any]) -> Any:
        if node.type == "python":
            return await tools.invoke(self.prepared[node.name], ctx, values)
        # The llm/prompt runners (and openai) load on first use.
        from ember.flows import llm

        if node.type == "llm":
            return await llm.run_llm_node(ctx, values)
        if node.type == "prompt":
            return llm.run_prompt_node(ctx, values)
        raise UnsupportedError(f"node '{node.name}': node type {node.type!r} is not supported")

    # -- aggregation ------------------------------------------------------------------------

    async def run_aggregation(self, lines: list[LineResult]) -> AggregationResult:
        """Run the aggregation nodes once over the completed lines: their references to flow
        inputs and line nodes get lists (one item per line, None where the node was bypassed),
        to other aggregation nodes the value. ``log_metric`` calls become ``metrics``. Without
        aggregation nodes, or without a completed line, nothing runs."""
        done = [line for line in lines if line.status == "Completed"]
        if not self.aggregation_nodes or not done:
            return AggregationResult("Completed", None, {}, {})
        sink: dict[str, float] = {}
        names = {n.name for n in self.aggregation_nodes}

        def resolve(value: Any, outputs: dict[str, Any], bypassed: set[str]) -> Any:
            ref = references.parse(value)
            if ref is None:
                return value
            if ref.is_node and ref.name in names:
                return None if ref.name in bypassed else references.resolve(ref, {}, outputs)
            if not ref.is_node:
                return [references.resolve(ref, line.inputs, {}) for line in done]
            items = []
            for line in done:
                run = line.node_runs.get(ref.name)
                ok = run is not None and run.status == "Completed"
                items.append(references.walk(run.output, ref.path, ref) if ok and run else None)
            return items

        tokens = (metrics_sink.set(sink), current_tracer.set(self.tracer))
        try:
            with self.tracer.span(f"{self.flow.name}.aggregation", CHAIN,
                                  inputs={"lines": len(done)}) as span:
                outcome = await self._run(self.aggregation_nodes, resolve, {})
                if outcome.error is not None:
                    span.status, span.status_message = "ERROR", outcome.error["message"]
                span.set_outputs(dict(sink))
        finally:
            metrics_sink.reset(tokens[0])
            current_tracer.reset(tokens[1])
        return AggregationResult("Failed" if outcome.error else "Completed", outcome.error,
                                 dict(sink), outcome.runs)

    # -- one node ---------------------------------------------------------------------------

    async def run_node(self, node_name: str, inputs: dict[str, Any]) -> Any:
        """Run one node (``flow test --node``). ``inputs`` may name the node's own inputs, the
        flow inputs it reads, or upstream outputs as ``node`` / ``node.output``. Raises
        NotFoundError, InvalidInputError for a value not given, UserCodeError when it fails."""
        try:
            node = self.flow.node(node_name)
        except KeyError:
            raise NotFoundError(f"the flow has no node {node_name!r} (nodes: "
                                f"{', '.join(n.name for n in self.flow.nodes)})") from None
        prepared = self.prepared.get(node.name)
        values: dict[str, Any] = {}
        for key, raw in node.inputs.items():
            ref = references.parse(raw)
            if key in inputs:
                values[key] = inputs[key]
            elif prepared is not None and key in prepared.skipped:
                continue
            elif ref is None:
                values[key] = prepared.literals.get(key, raw) if prepared else raw
            else:
                values[key] = self._given(node, key, ref, inputs)
        sink: dict[str, float] = {}
        tokens = (metrics_sink.set(sink if node.aggregation else None),
                  current_tracer.set(self.tracer))
        try:
            flow_inputs = {k: v for k, v in inputs.items() if k in self.flow.inputs}
            run = await self._execute(node, values, flow_inputs)
        finally:
            metrics_sink.reset(tokens[0])
            current_tracer.reset(tokens[1])
        if run.status != "Completed":
            assert run.error is not None
            raise UserCodeError(run.error["message"], details=run.error)
        return run.output

    def _given(self, node: Node, key: str, ref: references.Reference,
               inputs: dict[str, Any]) -> Any:
        if not ref.is_node:
            if ref.name in inputs:
                return references.walk(inputs[ref.name], ref.path, ref)
            spec = self.flow.inputs.get(ref.name)
            if spec is not None and spec.default is not MISSING:
                return references.walk(spec.default, ref.path, ref)
        else:
            for name in (f"{ref.name}.output", ref.name):
                if name in inputs:
                    return references.walk(inputs[name], ref.path, ref)
        raise InvalidInputError(f"node '{node.name}' input '{key}' reads {ref}; give it as "
                                f"'{key}' (or '{ref.name}' for the source)")


async def _closing(work: Awaitable[T]) -> T:
    """Await ``work``, then close the LLM clients cached for this event loop (their connection
    pools belong to the loop that asyncio.run is about to close)."""
    try:
        return await work
    finally:
        llm = sys.modules.get("ember.flows.llm")
        if llm is not None:
            await llm.close_clients()


async def _join(output: Any) -> Any:
    """A generator's pieces joined into one string (promptflow's non-streaming behaviour)."""
    if isinstance(output, AsyncIterator):
        return "".join([str(piece) async for piece in output])
    if isinstance(output, Iterator) and not isinstance(output, (str, bytes, dict, list)):
        return await tools.run_sync(lambda: "".join(str(piece) for piece in output))
    return output


def run_flow(flow: Flow | str | Path, inputs: dict[str, Any], connections: ConnectionProvider,
             *, variant: str | None = None, tracer: Tracer | None = None) -> dict[str, Any]:
    """``flow test`` in one call: the line, then the aggregation over it; returns the outputs.
    Raises UserCodeError (or InvalidInputError for a bad input) when either fails."""
    if not isinstance(flow, Flow):
        from ember.flows.loader import load_flow
        flow = load_flow(flow, variant)
    executor = FlowExecutor(flow, connections, tracer=tracer)

    async def both() -> tuple[LineResult, AggregationResult]:
        line = await executor.run_line(inputs)
        return line, await executor.run_aggregation([line])

    line, aggregation = asyncio.run(_closing(both()))
    for error in (line.error, aggregation.error):
        if error is not None:
            cls = InvalidInputError if error["type"] == "InvalidInputError" else UserCodeError
            raise cls(error["message"], details=error)
    return line.outputs


__all__ = ["AggregationResult", "FlowExecutor", "LineResult", "NodeRun", "run_flow"]
