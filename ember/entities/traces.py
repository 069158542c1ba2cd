"""MLflow 3 traces: a trace's summary (``TraceInfo``) and its spans (``TraceSpan``).

A trace is addressed by ``tr-<32 hex digits>`` (MLflow's id for an OTLP trace id) within one
workspace: the same id in two workspaces is two traces, so ids never leak across workspaces.
Span attribute values are kept as MLflow keeps them: each value is JSON text
(``mlflow.spanInputs`` -> ``'{"x": 21}'``, ``mlflow.spanType`` -> ``'"CHAIN"'``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TRACE_ID_PREFIX = "tr-"


class TraceState:
    """MLflow's ``TraceState`` names (the wire's ``state``)."""

    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"
    UNSPECIFIED = "STATE_UNSPECIFIED"
    ALL = frozenset({OK, ERROR, IN_PROGRESS, UNSPECIFIED})


class SpanStatus:
    """A span's status code, as MLflow names it (OTLP's ``STATUS_CODE_<name>``)."""

    OK = "OK"
    ERROR = "ERROR"
    UNSET = "UNSET"


@dataclass(slots=True)
class TraceSpan:
    """One span as stored. ``attributes`` maps keys to JSON text; ``events`` hold plain values
    (``{"name", "time_unix_nano", "attributes": {key: value}}``)."""

    trace_id: str                      # tr-<hex>
    span_id: str                       # 16 hex digits
    parent_span_id: str | None
    name: str
    start_time_ns: int
    end_time_ns: int | None = None
    span_type: str | None = None       # from mlflow.spanType (CHAIN, TOOL, LLM, CHAT_MODEL...)
    status: str = SpanStatus.UNSET
    status_message: str = ""
    kind: int = 0                      # OTLP SpanKind
    attributes: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class TraceInfo:
    """What MLflow calls TraceInfoV3: times in milliseconds, metadata and tags as strings."""

    trace_id: str
    workspace: str
    experiment_id: str
    request_time: int = 0
    execution_duration: int | None = None
    state: str = TraceState.UNSPECIFIED
    request_preview: str | None = None
    response_preview: str | None = None
    client_request_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
