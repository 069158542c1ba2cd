"""OTLP trace export requests (protobuf or JSON) -> stored spans, and stored spans -> the OTLP
JSON spans that MLflow's trace reads (``traces/get``, ``traces/batchGet``) return.

Attribute values: the MLflow client (and any OTLP exporter) sends native OTLP values
(``kvlistValue``, ``intValue``...); MLflow stores each as JSON text, and so does Ember.
Ember's own flow engine (``ember.flows.trace``: resource ``telemetry.sdk.name = ember``, scope
``ember.flows``) sends every attribute as a ``stringValue`` that already *is* JSON text, so its
strings are kept as they are, not encoded a second time. On the way out every value goes back to a native OTLP
value, which is what the client's ``Span.from_otel_proto`` decodes.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import zlib
from typing import Any

import orjson
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus

from ember.entities import limits
from ember.entities.traces import TRACE_ID_PREFIX, SpanStatus, TraceSpan
from ember.errors import InvalidInputError, PayloadTooLargeError
from ember.tracking._otlp_json import spans_from_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SPAN_TYPE = "mlflow.spanType"
REQUEST_ID = "mlflow.traceRequestId"
# A decompressed body may be no larger than an uncompressed one could be.
MAX_DECOMPRESSED_BYTES = limits.MAX_JSON_BODY_BYTES
_HEX_ID_FIELDS = {"traceId": 32, "spanId": 16, "parentSpanId": 16,
                  "trace_id": 32, "span_id": 16, "parent_span_id": 16}
_STATUS = {ProtoStatus.STATUS_CODE_OK: SpanStatus.OK,
           ProtoStatus.STATUS_CODE_ERROR: SpanStatus.ERROR}
_STATUS_NAMES = {SpanStatus.OK: "STATUS_CODE_OK", SpanStatus.ERROR: "STATUS_CODE_ERROR",
                 SpanStatus.UNSET: "STATUS_CODE_UNSET"}
_INT64 = 1 << 63


def dump_value(value: Any) -> str:
    """A value as the JSON text MLflow stores for a span attribute."""
    return json.dumps(value, ensure_ascii=False, default=str)


# --- in ---

def _decompress(body: bytes, encoding: str | None) -> bytes:
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return body
    if name == "gzip":
        stream: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif name == "deflate":
        stream = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS)
    else:
        raise InvalidInputError(f"Content-Encoding {encoding!r} is not supported; "
                                "send gzip, deflate or no encoding")
    try:
        out = stream.decompress(body, MAX_DECOMPRESSED_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInputError(f"the body is not valid {name} data: {exc}") from exc
    if len(out) > MAX_DECOMPRESSED_BYTES:
        raise PayloadTooLargeError(
            f"the decompressed request body is larger than {MAX_DECOMPRESSED_BYTES} bytes, the "
            "limit of this route (see Limits in the README)")
    return out


def _hex_ids_to_base64(data: Any) -> None:
    """OTLP JSON writes ids as hex, protobuf's JSON mapping reads bytes as base64."""
    for rs in data.get("resourceSpans") or data.get("resource_spans") or []:
        if not isinstance(rs, dict):
            continue
        for ss in rs.get("scopeSpans") or rs.get("scope_spans") or []:
            if not isinstance(ss, dict):
                continue
            for span in ss.get("spans") or []:
                if not isinstance(span, dict):
                    continue
                for holder in [span, *[x for x in span.get("links") or []
                                       if isinstance(x, dict)]]:
                    for name, width in _HEX_ID_FIELDS.items():
                        value = holder.get(name)
                        if isinstance(value, str) and len(value) == width:
                            try:
                                holder[name] = base64.b64encode(bytes.fromhex(value)).decode()
                            except ValueError:
                                pass   # not hex: left for protobuf to read as base64


def parse_request(body: bytes, content_type: str | None,
                  content_encoding: str | None = None) -> list[TraceSpan]:
    """The spans of an OTLP ``ExportTraceServiceRequest``; InvalidInputError (400) names what
    is wrong with a body that is empty, undecodable, or holds no span."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise InvalidInputError(f"Content-Type {content_type!r} is not an OTLP encoding; send "
                                f"{PROTOBUF} or {JSON}")
    if not body:
        raise InvalidInputError("the request body is empty; an OTLP ExportTraceServiceRequest "
                                "with at least one span is expected")
    body = _decompress(body, content_encoding)
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, ValueError) as exc:
            raise InvalidInputError(
                f"the body is not an OTLP ExportTraceServiceRequest in protobuf: {exc}") from exc
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInputError("the body must be a JSON object (an OTLP "
                                    "ExportTraceServiceRequest)")
        fast = spans_from_json(data, _span_of)
        if fast is not None:
            if not fast:
                raise InvalidInputError("the OTLP request holds no span")
            return fast
        _hex_ids_to_base64(data)
        try:
            ParseDict(data, request, ignore_unknown_fields=True)
        except (ParseError, ValueError, TypeError, binascii.Error) as exc:
            raise InvalidInputError(
                f"the body is not an OTLP ExportTraceServiceRequest in JSON: {exc}") from exc
    spans: list[TraceSpan] = []
    for rs in request.resource_spans:
        resource = {a.key: decode_any(a.value) for a in rs.resource.attributes}
        from_ember = resource.get("telemetry.sdk.name") == "ember"
        for ss in rs.scope_spans:
            json_strings = from_ember or ss.scope.name == "ember.flows"
            for proto in ss.spans:
                spans.append(_span(proto, json_strings, len(spans)))
    if not spans:
        raise InvalidInputError("the OTLP request holds no span")
    return spans


def _id(raw: bytes, width: int, what: str, index: int) -> str:
    if len(raw) != width or not any(raw):
        raise InvalidInputError(f"span {index}: {what} must be {width} bytes, not all zero "
                                f"(got {len(raw)} bytes)")
    return raw.hex()


def _span(proto: ProtoSpan, json_strings: bool, index: int) -> TraceSpan:
    return _span_of({
        "trace_id": proto.trace_id, "span_id": proto.span_id,
        "parent_span_id": proto.parent_span_id, "name": proto.name,
        "start_time_unix_nano": proto.start_time_unix_nano,
        "end_time_unix_nano": proto.end_time_unix_nano,
        "status": _STATUS.get(proto.status.code, SpanStatus.UNSET),
        "status_message": proto.status.message, "kind": int(proto.kind),
        "attributes": [(a.key, (a.value.WhichOneof("value") == "string_value",
                                decode_any(a.value))) for a in proto.attributes],
        "events": [{"name": e.name, "time_unix_nano": e.time_unix_nano,
                    "attributes": {a.key: decode_any(a.value) for a in e.attributes}}
                   for e in proto.events]}, json_strings, index)


def _span_of(fields: dict[str, Any], json_strings: bool, index: int) -> TraceSpan:
    """A span from its fields, read from protobuf or straight from OTLP/JSON
    (``tracking/_otlp_json.py``): ids as bytes, attributes as ``(key, (is a string, value))``."""
    trace_hex = _id(fields["trace_id"], 16, "trace_id", index)
    span_id = _id(fields["span_id"], 8, "span_id", index)
    parent = _id(fields["parent_span_id"], 8, "parent_span_id", index) \
        if fields["parent_span_id"] else None
    trace_id = TRACE_ID_PREFIX + trace_hex
    attributes: dict[str, str] = {}
    for key, (is_string, value) in fields["attributes"]:
        if json_strings and is_string:
            attributes[key] = _json_text(value)
        else:
            attributes[key] = dump_value(value)
    # The id is derived from the OTLP trace id, never taken from the sender (as MLflow does).
    attributes[REQUEST_ID] = dump_value(trace_id)
    span_type = _loads(attributes.get(SPAN_TYPE))
    return TraceSpan(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent,
        name=fields["name"].replace("\x00", ""),   # PostgreSQL text holds no NUL
        start_time_ns=fields["start_time_unix_nano"],
        end_time_ns=fields["end_time_unix_nano"] or None,
        span_type=span_type if isinstance(span_type, str) else None,
        status=fields["status"], status_message=fields["status_message"],
        kind=fields["kind"], attributes=attributes, events=fields["events"])


def _json_text(text: str) -> str:
    try:
        json.loads(text)
    except ValueError:
        return dump_value(text)   # a plain string after all
    return text


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def decode_any(value: AnyValue) -> Any:
    """A native OTLP value as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: decode_any(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


# --- out ---

def any_json(value: Any) -> dict[str, Any]:
    """A plain value as an OTLP AnyValue in protobuf's JSON mapping (snake_case)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, int):
        return {"int_value": str(value)} if -_INT64 <= value < _INT64 \
            else {"string_value": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"double_value": "NaN"}
        if math.isinf(value):
            return {"double_value": "Infinity" if value > 0 else "-Infinity"}
        return {"double_value": value}
    if isinstance(value, str):
        return {"string_value": value}
    if isinstance(value, (list, tuple)):
        return {"array_value": {"values": [any_json(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlist_value": {"values": [{"key": str(k), "value": any_json(v)}
                                            for k, v in value.items()]}}
    return {"string_value": str(value)}


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def span_json(span: TraceSpan) -> dict[str, Any]:
    """A stored span as the OTLP JSON span of MLflow's ``Trace.spans`` (base64 ids)."""
    out: dict[str, Any] = {
        "trace_id": _b64(span.trace_id.removeprefix(TRACE_ID_PREFIX)),
        "span_id": _b64(span.span_id), "name": span.name, "kind": span.kind,
        "start_time_unix_nano": str(span.start_time_ns),
        "attributes": [{"key": k, "value": any_json(_loads(v))}
                       for k, v in span.attributes.items()],
        "events": [{"name": e.get("name", ""), "time_unix_nano": str(e.get("time_unix_nano", 0)),
                    "attributes": [{"key": k, "value": any_json(v)}
                                   for k, v in (e.get("attributes") or {}).items()]}
                   for e in span.events],
        "status": {"code": _STATUS_NAMES.get(span.status, "STATUS_CODE_UNSET"),
                   "message": span.status_message},
    }
    if span.parent_span_id:
        out["parent_span_id"] = _b64(span.parent_span_id)
    if span.end_time_ns is not None:
        out["end_time_unix_nano"] = str(span.end_time_ns)
    return out
