"""MLflow 3 traces: spans in over OTLP, the client's trace summary (StartTraceV3), search, get,
batch get, tags and deletion, with MLflow's JSON shapes in and out.

The summary of a trace is derived from its spans on the server (previews from the root span,
state from its status, duration, token usage summed over ``mlflow.chat.tokenUsage``, the
``mlflow.traceName`` tag), so a trace sent only as OTLP spans (Ember's flow engine, any OTLP
exporter) reads like one the MLflow client logged. When the client also sends its own summary
(StartTraceV3, marked ``mlflow.trace.infoFinalized``), its values win and the spans only fill
what it left out. Spans and summary may arrive in either order and in several requests.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from ember.entities import limits
from ember.entities.traces import TraceInfo, TraceSpan, TraceState
from ember.entities.tracking import Clause, OrderKey, Page
from ember.errors import InvalidInputError
from ember.store.traces import TraceStore
from ember.tracking import validation as v
from ember.tracking.otlp import dump_value, span_json
from ember.tracking.search import _AND, _NULL_OPS, _OP, _checked, _normalise_op, _Scanner
from ember.tracking.service import TrackingService

# MLflow's keys (mlflow.tracing.constant)
TOKEN_USAGE = "mlflow.trace.tokenUsage"
FINALIZED = "mlflow.trace.infoFinalized"
SOURCE_RUN = "mlflow.sourceRun"
SCHEMA_VERSION = "mlflow.trace_schema.version"
TRACE_NAME = "mlflow.traceName"
SPANS_LOCATION = "mlflow.trace.spansLocation"
ARTIFACT_LOCATION = "mlflow.artifactLocation"
TRACKING_STORE = "TRACKING_STORE"
CHAT_USAGE = "mlflow.chat.tokenUsage"
SPAN_INPUTS = "mlflow.spanInputs"
SPAN_OUTPUTS = "mlflow.spanOutputs"
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
PREVIEW_MAX_LENGTH = 1000        # MLflow's TRACE_REQUEST_RESPONSE_PREVIEW_MAX_LENGTH_OSS
MAX_SEARCH_RESULTS = 1000
MAX_BATCH_GET = 1000
MAX_INFO_ENTRIES = 1000
# MLflow's ids are tr-<hex> (or a UUID); nothing a path could make more of.
_TRACE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

# The trace filter grammar: MLflow's search_traces subset.
_PREFIXES = {"attribute": "attribute", "attributes": "attribute", "trace": "attribute",
             "tag": "tag", "tags": "tag",
             "metadata": "metadata", "request_metadata": "metadata"}
_UNSUPPORTED_PREFIXES = ("span", "feedback", "expectation", "issue", "assessment")
ATTRIBUTES = {"trace_id": "string", "request_time": "number", "execution_duration": "number",
              "end_time": "number", "state": "string", "client_request_id": "string",
              "name": "string", "run_id": "string"}
ALIASES = {"request_id": "trace_id", "timestamp": "request_time",
           "timestamp_ms": "request_time", "execution_time": "execution_duration",
           "execution_time_ms": "execution_duration", "end_time_ms": "end_time",
           "status": "state"}
ORDER_ATTRIBUTES = {**ATTRIBUTES, "experiment_id": "string"}
# Attributes MLflow keeps elsewhere: the trace name is a tag, the run is metadata.
_MOVED = {"name": ("tag", TRACE_NAME), "run_id": ("metadata", SOURCE_RUN)}


class _TraceScanner(_Scanner):
    """The run search's scanner with the trace prefixes (``trace.``, ``metadata.``...)."""

    def identifier(self) -> tuple[str | None, str]:
        if self.peek() in ("`", '"'):
            return None, self.quoted()
        word = self.match(re.compile(r"[\w.\-:/]+"))
        if word is None:
            raise self.fail("expected an identifier")
        head, dot, rest = word.partition(".")
        if dot and head.lower() in _UNSUPPORTED_PREFIXES:
            raise self.fail(f"{head} filters are not supported by this server; use trace "
                            "attributes, tag.<key> or metadata.<key>")
        if dot and head.lower() in _PREFIXES:
            if rest:
                return _PREFIXES[head.lower()], rest
            if self.peek() in ("`", '"'):
                return _PREFIXES[head.lower()], self.quoted()
            raise self.fail(f"expected a key after {head!r}.")
        return None, word


def _moved(entity: str, key: str) -> tuple[str, str]:
    return _MOVED.get(key, (entity, key)) if entity == "attribute" else (entity, key)


def parse_trace_filter(text: str | None) -> list[Clause]:
    """``trace.status = 'OK' AND tag.k = 'v' AND metadata.`mlflow.sourceRun` = 'r'``."""
    if not text or not text.strip():
        return []
    scan = _TraceScanner(text, "filter")
    clauses: list[Clause] = []
    while True:
        prefix, key = scan.identifier()
        entity = prefix or "attribute"
        raw_op = scan.match(_OP)
        if raw_op is None:
            raise scan.fail("expected a comparison (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, IS)")
        op = _normalise_op(raw_op)
        value = None if op in _NULL_OPS else scan.value()
        # metadata compares like tags (strings, IS NULL allowed)
        checked = _checked(scan, "tag" if entity == "metadata" else entity, key, op, value,
                           ATTRIBUTES, ALIASES)
        moved_entity, moved_key = _moved(entity, checked.key)
        clauses.append(Clause(moved_entity, moved_key, checked.op, checked.value))
        if scan.done():
            return clauses
        if scan.match(_AND) is None:
            raise scan.fail("clauses are joined with AND (OR is not supported)")


def parse_trace_order_by(terms: Sequence[str] | None) -> list[OrderKey]:
    """``["timestamp_ms DESC", "tag.k"]``."""
    keys: list[OrderKey] = []
    for term in terms or []:
        if not isinstance(term, str) or not term.strip():
            continue
        scan = _TraceScanner(term, "order_by")
        prefix, key = scan.identifier()
        entity = prefix or "attribute"
        if entity == "attribute":
            key = ALIASES.get(key, key)
            if key not in ORDER_ATTRIBUTES:
                raise scan.fail(f"unknown attribute {key!r}; one of "
                                f"{', '.join(sorted(ORDER_ATTRIBUTES))}")
        direction = scan.match(re.compile(r"(?i:asc|desc)\b"))
        if not scan.done():
            raise scan.fail("expected ASC or DESC at the end")
        entity, key = _moved(entity, key)
        keys.append(OrderKey(entity, key, ascending=(direction or "asc").lower() == "asc"))
    return keys


# --- the summary of a trace, derived from its spans ---

def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _messages(obj: Any) -> list[dict[str, Any]] | None:
    """Chat messages in an OpenAI-style request or response (as MLflow's previews read)."""
    if not isinstance(obj, dict):
        return None
    for name in ("messages", "input", "output"):
        items = obj.get(name)
        if isinstance(items, list):
            found = [m for m in items if isinstance(m, dict) and "role" in m and "content" in m]
            if found:
                return found
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        msg = choices[0].get("message")
        if isinstance(msg, dict) and "role" in msg and "content" in msg:
            return [msg]
    if "request" in obj:
        return _messages(obj["request"])
    return None


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                return part
            if isinstance(part, dict) and part.get("type") in ("text", "output_text"):
                return str(part.get("text", ""))
    return ""


def preview(json_text: str | None, role: str) -> str | None:
    """The last ``role`` message of a chat payload, else the payload's JSON text, cut to
    MLflow's preview length."""
    if json_text is None:
        return None
    content = None
    messages = _messages(_loads(json_text))
    if messages:
        last = next((m for m in reversed(messages) if m.get("role") == role), messages[-1])
        content = _text_of(last)
    content = (content or json_text).replace("\x00", "")   # PostgreSQL text holds no NUL
    if len(content) <= PREVIEW_MAX_LENGTH:
        return content
    return content[:PREVIEW_MAX_LENGTH - 3] + "..."


def token_usage(spans: Sequence[TraceSpan]) -> dict[str, int] | None:
    """Token usage summed over the spans' ``mlflow.chat.tokenUsage``; a span whose ancestor
    already reports usage is skipped (some integrations put the sum of their children on the
    parent), as MLflow aggregates."""
    by_id = {s.span_id: s for s in spans}
    usage: dict[str, dict[str, Any]] = {}
    for s in spans:
        value = _loads(s.attributes.get(CHAT_USAGE))
        if isinstance(value, dict):
            usage[s.span_id] = value
    if not usage:
        return None

    def covered(span: TraceSpan) -> bool:
        seen: set[str] = set()
        parent = span.parent_span_id
        while parent and parent in by_id and parent not in seen:
            if parent in usage:
                return True
            seen.add(parent)
            parent = by_id[parent].parent_span_id
        return False

    totals = dict.fromkeys(USAGE_KEYS, 0)
    for span_id, value in usage.items():
        if covered(by_id[span_id]):
            continue
        for key in USAGE_KEYS:
            count = value.get(key)
            if isinstance(count, (int, float)) and not isinstance(count, bool):
                totals[key] += int(count)
    return totals


def _root(spans: Sequence[TraceSpan]) -> TraceSpan | None:
    roots = [s for s in spans if s.parent_span_id is None]
    return min(roots, key=lambda s: s.start_time_ns) if roots else None


def summarize(info: TraceInfo, spans: Sequence[TraceSpan], *, artifact_location: str,
              run_id: str | None = None) -> TraceInfo:
    """The trace's summary given every stored span. The client's values (a finalized trace)
    stay; the spans fill in what it did not say."""
    new = dataclasses.replace(info, metadata=dict(info.metadata), tags=dict(info.tags))
    finalized = info.metadata.get(FINALIZED) == "true"
    new.metadata.setdefault(SCHEMA_VERSION, "3")
    if run_id:
        new.metadata.setdefault(SOURCE_RUN, run_id)
    new.tags.setdefault(ARTIFACT_LOCATION,
                        f"{artifact_location.rstrip('/')}/traces/{info.trace_id}/artifacts")
    if not spans:
        return new
    new.tags[SPANS_LOCATION] = TRACKING_STORE
    root = _root(spans)
    start_ns = min(s.start_time_ns for s in spans)
    if not finalized or not new.request_time:
        new.request_time = start_ns // 1_000_000
    if not finalized or new.execution_duration is None:
        end_ns = max((s.end_time_ns or 0) for s in spans)
        new.execution_duration = (end_ns - start_ns) // 1_000_000 \
            if root is not None and root.end_time_ns else None
    if not finalized or new.state in (TraceState.IN_PROGRESS, TraceState.UNSPECIFIED):
        if root is None:
            new.state = TraceState.IN_PROGRESS
        else:
            new.state = TraceState.ERROR if root.status == "ERROR" else TraceState.OK
    if root is not None:
        if not finalized or new.request_preview is None:
            new.request_preview = preview(root.attributes.get(SPAN_INPUTS), "user")
        if not finalized or new.response_preview is None:
            new.response_preview = preview(root.attributes.get(SPAN_OUTPUTS), "assistant")
        if not finalized or TRACE_NAME not in new.tags:
            new.tags[TRACE_NAME] = root.name
    usage = token_usage(spans)
    if usage and (not finalized or TOKEN_USAGE not in new.metadata):
        new.metadata[TOKEN_USAGE] = dump_value(usage)
    return new


# --- wire ---

def _timestamp(ms: int) -> str:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts.ToJsonString()


def _duration(ms: int) -> str:
    d = Duration()
    d.FromMilliseconds(ms)
    return d.ToJsonString()


def trace_info_json(info: TraceInfo) -> dict[str, Any]:
    """MLflow's TraceInfoV3 in protobuf's JSON mapping."""
    out: dict[str, Any] = {
        "trace_id": info.trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT",
                           "mlflow_experiment": {"experiment_id": info.experiment_id}},
        "request_time": _timestamp(info.request_time),
        "state": info.state,
        "trace_metadata": info.metadata,
        "tags": info.tags,
    }
    if info.execution_duration is not None:
        out["execution_duration"] = _duration(info.execution_duration)
    for name in ("request_preview", "response_preview", "client_request_id"):
        value = getattr(info, name)
        if value is not None:
            out[name] = value
    return out


def trace_json(info: TraceInfo, spans: Sequence[TraceSpan]) -> dict[str, Any]:
    return {"trace_info": trace_info_json(info), "spans": [span_json(s) for s in spans]}


def _millis(value: Any, name: str, parse: type[Timestamp] | type[Duration]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        holder = parse()
        try:
            holder.FromJsonString(value)
        except ValueError as exc:
            raise InvalidInputError(f"Invalid value {value!r} for '{name}': {exc}") from exc
        return int(holder.ToMilliseconds())
    raise InvalidInputError(f"Invalid value {value!r} for '{name}'")


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):   # [{"key", "value"}], the v2 form
        value = {e.get("key"): e.get("value") for e in value if isinstance(e, dict)}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(x, str)
                                              for k, x in value.items()):
        raise InvalidInputError(f"'{name}' must map strings to strings")
    limits.check_mapping(name, value, MAX_INFO_ENTRIES, max_value=limits.MAX_TEXT_LENGTH)
    return {k: _no_nul(x, f"{name}[{k[:50]!r}]") for k, x in value.items()}


def _no_nul(value: str, name: str) -> str:
    if "\x00" in value:
        raise InvalidInputError(f"{name} holds a NUL character")
    return value


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"'{name}' must be a string")
    limits.check_length(name, value, limits.MAX_TEXT_LENGTH)
    return _no_nul(value, name)


def check_trace_id(value: object) -> str:
    if not isinstance(value, str) or not _TRACE_ID.match(value):
        raise InvalidInputError(f"Invalid trace ID {value!r}: 1 to 64 letters, digits, '_' "
                                "or '-'")
    return value


def experiment_of_location(location: Any) -> object:
    if not isinstance(location, dict):
        raise InvalidInputError("a trace location must be an object")
    kind = location.get("type", "MLFLOW_EXPERIMENT")
    exp = location.get("mlflow_experiment")
    if kind != "MLFLOW_EXPERIMENT" or not isinstance(exp, dict):
        raise InvalidInputError(f"trace location type {kind!r} is not supported; this server "
                                "stores traces in MLflow experiments")
    return exp.get("experiment_id")


class TraceService:
    """The rules of MLflow traces over a TraceStore; experiments and runs are the tracking
    service's (a trace's experiment must exist in the caller's workspace)."""

    def __init__(self, store: TraceStore, tracking: TrackingService) -> None:
        self.store = store
        self.tracking = tracking

    def _experiment(self, workspace: str, experiment_id: object) -> tuple[str, str]:
        """(id, artifact location) of an experiment of this workspace; NotFoundError."""
        exp = self.tracking.get_experiment(workspace, experiment_id)
        return exp.experiment_id, exp.artifact_location

    def log_spans(self, workspace: str, experiment_id: object, spans: Sequence[TraceSpan],
                  run_id: str | None = None) -> list[TraceInfo]:
        """Store spans of one OTLP request, all or nothing, and re-summarise their traces."""
        exp_id, location = self._experiment(workspace, experiment_id)
        if run_id:
            self.tracking.get_run(workspace, run_id)

        def summary(info: TraceInfo, all_spans: Sequence[TraceSpan]) -> TraceInfo:
            return summarize(info, all_spans, artifact_location=location, run_id=run_id)

        return self.store.log_spans(workspace, exp_id, spans, summary)

    def start_trace(self, workspace: str, body: Mapping[str, Any]) -> TraceInfo:
        """MLflow's StartTraceV3: the client's summary of a finished trace."""
        trace = body.get("trace")
        raw = trace.get("trace_info") if isinstance(trace, dict) else None
        if not isinstance(raw, dict):
            raise InvalidInputError("Missing value for required parameter 'trace.trace_info'.")
        exp_id, location = self._experiment(
            workspace, experiment_of_location(raw.get("trace_location") or {}))
        state = raw.get("state") or TraceState.UNSPECIFIED
        if state not in TraceState.ALL:
            raise InvalidInputError(f"Invalid trace state {state!r}; one of "
                                    f"{', '.join(sorted(TraceState.ALL))}")
        metadata = _string_map(raw.get("trace_metadata"), "trace_metadata")
        metadata[FINALIZED] = "true"
        info = TraceInfo(
            trace_id=check_trace_id(raw.get("trace_id")), workspace=workspace,
            experiment_id=exp_id,
            request_time=_millis(raw.get("request_time"), "request_time", Timestamp) or 0,
            execution_duration=_millis(raw.get("execution_duration"), "execution_duration",
                                       Duration),
            state=state, request_preview=_optional_text(raw, "request_preview"),
            response_preview=_optional_text(raw, "response_preview"),
            client_request_id=_optional_text(raw, "client_request_id"),
            metadata=metadata, tags=_string_map(raw.get("tags"), "tags"))
        limits.check_length("client_request_id", info.client_request_id, 255)
        run_id = metadata.get(SOURCE_RUN)
        if run_id:
            self.tracking.get_run(workspace, run_id)

        def summary(stored: TraceInfo, spans: Sequence[TraceSpan]) -> TraceInfo:
            return summarize(stored, spans, artifact_location=location)

        return self.store.start_trace(info, summary)

    def get_trace_info(self, workspace: str, trace_id: object) -> TraceInfo:
        return self.store.get_trace_info(workspace, check_trace_id(trace_id))

    def get_trace(self, workspace: str, trace_id: object) -> tuple[TraceInfo, list[TraceSpan]]:
        info = self.get_trace_info(workspace, trace_id)
        return info, self.store.get_spans(workspace, [info.trace_id]).get(info.trace_id, [])

    def _ids(self, trace_ids: Sequence[object]) -> list[str]:
        if len(trace_ids) > MAX_BATCH_GET:
            raise InvalidInputError(f"{len(trace_ids)} trace ids asked for; the limit is "
                                    f"{MAX_BATCH_GET}")
        return [check_trace_id(t) for t in trace_ids]

    def _in_experiments(self, workspace: str, infos: list[TraceInfo],
                        experiment_ids: Sequence[object] | None) -> list[TraceInfo]:
        if not experiment_ids:
            return infos
        wanted = {self.tracking.experiment_id(workspace, e) for e in experiment_ids}
        return [i for i in infos if i.experiment_id in wanted]

    def batch_get_infos(self, workspace: str, trace_ids: Sequence[object],
                        experiment_ids: Sequence[object] | None = None) -> list[TraceInfo]:
        infos = self.store.get_trace_infos(workspace, self._ids(trace_ids))
        return self._in_experiments(workspace, infos, experiment_ids)

    def batch_get(self, workspace: str, trace_ids: Sequence[object],
                  experiment_ids: Sequence[object] | None = None
                  ) -> list[tuple[TraceInfo, list[TraceSpan]]]:
        infos = self.batch_get_infos(workspace, trace_ids, experiment_ids)
        spans = self.store.get_spans(workspace, [i.trace_id for i in infos])
        return [(i, spans.get(i.trace_id, [])) for i in infos]

    def search(self, workspace: str, experiment_ids: Sequence[object], *,
               filter_string: str | None = None, order_by: Sequence[str] = (),
               max_results: int | None = None, offset: int = 0) -> Page[TraceInfo]:
        if not experiment_ids:
            raise InvalidInputError("search_traces needs at least one experiment location")
        ids = [self._experiment(workspace, e)[0] for e in experiment_ids]
        return self.store.search_traces(
            workspace, ids, clauses=parse_trace_filter(filter_string),
            order_by=parse_trace_order_by(order_by),
            max_results=v.page_size(max_results, 100, MAX_SEARCH_RESULTS), offset=offset)

    def set_tag(self, workspace: str, trace_id: object, key: object, value: object) -> None:
        self.store.set_trace_tag(workspace, check_trace_id(trace_id), v.check_key(key),
                                 _no_nul(v.truncated(value, v.MAX_TAG_VALUE_LENGTH, "value"),
                                         "value"))

    def delete_tag(self, workspace: str, trace_id: object, key: object) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidInputError("Missing value for required parameter 'key'.")
        self.store.delete_trace_tag(workspace, check_trace_id(trace_id), key)

    def delete_traces(self, workspace: str, experiment_id: object, *,
                      trace_ids: Sequence[object] | None = None,
                      max_timestamp_ms: int | None = None,
                      max_traces: int | None = None) -> int:
        """MLflow's DeleteTraces: by ids, or the oldest up to a time (optionally at most
        ``max_traces`` of them); exactly one of the two."""
        if bool(trace_ids) == (max_timestamp_ms is not None):
            raise InvalidInputError("DeleteTraces takes either 'request_ids' or "
                                    "'max_timestamp_millis', and exactly one of them")
        if trace_ids and max_traces is not None:
            raise InvalidInputError("'max_traces' goes with 'max_timestamp_millis', not with "
                                    "'request_ids'")
        if max_traces is not None and max_traces < 1:
            raise InvalidInputError("'max_traces' must be a positive number")
        exp_id, _ = self._experiment(workspace, experiment_id)
        ids = [check_trace_id(t) for t in trace_ids] if trace_ids else None
        return self.store.delete_traces(workspace, exp_id, trace_ids=ids,
                                        max_timestamp_ms=max_timestamp_ms,
                                        max_traces=max_traces)
