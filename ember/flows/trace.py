"""Spans of a flow run, recorded in process and exported as MLflow traces.

A *trace* is one flow line (or one ``flow test``); its spans are the flow itself, each node, and
each LLM call. Spans nest through a context variable, so a node that runs in a worker thread
(``asyncio.to_thread`` copies the context) or in an asyncio task gets the right parent.

Export: OTLP/HTTP JSON (``POST <tracking uri>/v1/traces`` with the ``x-mlflow-experiment-id``
header), the route an MLflow 3.4+ server takes spans on. Attribute values follow MLflow's own
convention: every ``mlflow.*`` attribute is a JSON-encoded string (``mlflow.spanInputs``,
``mlflow.spanOutputs``, ``mlflow.spanType``, ``mlflow.traceRequestId``, and on LLM spans
``mlflow.chat.tokenUsage``), so ``mlflow.get_trace`` shows them as it shows its own spans.
promptflow's attribute names (``span_type``, ``node_name``, ``llm.usage.*``) are kept beside them.
"""

from __future__ import annotations

import contextvars
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# MLflow span types (mlflow.entities.SpanType) used by flows.
CHAIN = "CHAIN"          # the flow
TOOL = "TOOL"            # a python node
LLM = "LLM"              # a completion call
CHAT_MODEL = "CHAT_MODEL"  # a chat completion call
EMBEDDING = "EMBEDDING"
PARSER = "PARSER"        # a prompt node (renders a template)

_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("ember_flow_span",
                                                                       default=None)

# Trace and span ids need to be unique, not secret (OpenTelemetry's SDK draws them the same
# way): a generator seeded from the system instead of a system call for each of a batch's
# thousands of spans. Its own instance, so a tool's random.seed() cannot repeat ids; seeded
# again in a forked child, which would otherwise draw its parent's ids.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def _json(value: Any) -> str:
    return json.dumps(value, default=_fallback, ensure_ascii=False)


def _fallback(value: Any) -> Any:
    # Generators, connection objects, bytes...: a trace shows what they are, never raises.
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return repr(value)


@dataclass
class Span:
    """One span. ``attributes`` holds JSON-able values; ``to_otlp`` encodes them."""

    name: str
    span_type: str
    trace_id: str                      # 32 hex digits
    span_id: str                       # 16 hex digits
    parent_id: str | None
    start_ns: int
    end_ns: int | None = None
    status: str = "UNSET"              # "OK" | "ERROR" | "UNSET"
    status_message: str = ""
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def set_outputs(self, outputs: Any) -> None:
        self.outputs = outputs

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_token_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Token usage of an LLM call, in MLflow's and promptflow's attribute names."""
        total = prompt_tokens + completion_tokens
        self.attributes["mlflow.chat.tokenUsage"] = {
            "input_tokens": prompt_tokens, "output_tokens": completion_tokens,
            "total_tokens": total}
        self.attributes["llm.usage.prompt_tokens"] = prompt_tokens
        self.attributes["llm.usage.completion_tokens"] = completion_tokens
        self.attributes["llm.usage.total_tokens"] = total

    def record_error(self, exc: BaseException) -> None:
        self.status = "ERROR"
        self.status_message = f"{type(exc).__name__}: {exc}"
        self.events.append({"name": "exception", "time_ns": time.time_ns(), "attributes": {
            "exception.type": type(exc).__name__, "exception.message": str(exc)}})

    def to_otlp(self) -> dict[str, Any]:
        """This span as an OTLP JSON span (hex ids, as OTLP/HTTP JSON writes them)."""
        attrs: dict[str, Any] = {
            "mlflow.traceRequestId": "tr-" + self.trace_id,
            "mlflow.spanType": self.span_type,
            "mlflow.spanInputs": self.inputs,
            "mlflow.spanOutputs": self.outputs,
        }
        attrs.update(self.attributes)
        encoded = [{"key": k, "value": {"stringValue": _json(v)}} for k, v in attrs.items()]
        span: dict[str, Any] = {
            "traceId": self.trace_id, "spanId": self.span_id, "name": self.name,
            "kind": 1,  # SPAN_KIND_INTERNAL
            "startTimeUnixNano": str(self.start_ns),
            "endTimeUnixNano": str(self.end_ns or self.start_ns),
            "attributes": encoded,
            "events": [{"name": e["name"], "timeUnixNano": str(e["time_ns"]), "attributes": [
                {"key": k, "value": {"stringValue": str(v)}}
                for k, v in e["attributes"].items()]} for e in self.events],
            "status": {"code": {"OK": 1, "ERROR": 2}.get(self.status, 0),
                       "message": self.status_message},
        }
        if self.parent_id:
            span["parentSpanId"] = self.parent_id
        return span


class Tracer:
    """Collects the spans of one or more traces; thread-safe. A run keeps one per line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[Span] = []

    @contextmanager
    def span(self, name: str, span_type: str, inputs: Any = None,
             attributes: dict[str, Any] | None = None) -> Iterator[Span]:
        """Open a span under the current one (a new trace when there is none); the span ends
        when the block does, with status ERROR and the exception recorded if it raises."""
        parent = _current.get()
        trace_id = parent.trace_id if parent is not None else _ids.randbytes(16).hex()
        span = Span(name=name, span_type=span_type, trace_id=trace_id,
                    span_id=_ids.randbytes(8).hex(),
                    parent_id=parent.span_id if parent is not None else None,
                    start_ns=time.time_ns(), inputs=inputs,
                    attributes=dict(attributes or {}))
        token = _current.set(span)
        try:
            yield span
        except BaseException as exc:
            span.record_error(exc)
            raise
        else:
            if span.status == "UNSET":
                span.status = "OK"
        finally:
            _current.reset(token)
            span.end_ns = time.time_ns()
            with self._lock:
                self.spans.append(span)

    def trace_ids(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys(s.trace_id for s in self.spans))

    def take(self) -> list[Span]:
        """The finished spans so far, removed from the tracer (for an incremental export)."""
        with self._lock:
            spans, self.spans = self.spans, []
        return spans


def current_span() -> Span | None:
    """The innermost open span of this context, if any (an LLM call adds its usage to it)."""
    return _current.get()


def to_otlp_request(spans: list[Span], service_name: str = "ember-flow") -> dict[str, Any]:
    """An OTLP ``ExportTraceServiceRequest`` in JSON form."""
    return {"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service_name}},
            {"key": "telemetry.sdk.name", "value": {"stringValue": "ember"}}]},
        "scopeSpans": [{"scope": {"name": "ember.flows"},
                        "spans": [s.to_otlp() for s in spans]}]}]}
