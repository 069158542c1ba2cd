"""OTLP/JSON read straight from the decoded JSON, without protobuf's ``ParseDict``.

``ParseDict`` walks every field through protobuf's Python reflection: a flow run's 1,000-line
batch sends 3,000 spans, and parsing them took the server longer than running the lines (a
third of a second the run waited for at its end). This reads the plain shape every OTLP/JSON
exporter sends (Ember's, OpenTelemetry's, MLflow's): lowerCamelCase or proto field names, hex
ids, nanosecond times as strings or numbers, enums as numbers or names, AnyValue attributes.
Anything else (a field of an unexpected type, a base64 id, an unknown AnyValue kind) returns
None, and the caller parses the body with ``ParseDict``, whose errors name what is wrong; so
this path never accepts what that one would refuse, nor decides an error itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from ember.entities.traces import TRACE_ID_PREFIX, SpanStatus, TraceSpan


class _Unusual(Exception):
    """The body is not in the plain shape: leave it to ParseDict."""


_STATUS_CODES = {0: SpanStatus.UNSET, 1: SpanStatus.OK, 2: SpanStatus.ERROR,
                 "STATUS_CODE_UNSET": SpanStatus.UNSET, "STATUS_CODE_OK": SpanStatus.OK,
                 "STATUS_CODE_ERROR": SpanStatus.ERROR}
_KINDS = {f"SPAN_KIND_{n}": i for i, n in enumerate(
    ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"))}
_MAX_U64 = (1 << 64) - 1
_MIN_I64, _MAX_I64 = -(1 << 63), (1 << 63) - 1


def spans_from_json(data: dict[str, Any], make_span: Callable[..., TraceSpan],
                    ) -> list[TraceSpan] | None:
    """The request's spans, each built by ``make_span(fields, json_strings, index)``; None when
    the body is not in the plain shape (parse it with ParseDict then)."""
    try:
        return _spans(data, make_span)
    except _Unusual:
        return None


def _spans(data: dict[str, Any], make_span: Callable[..., TraceSpan]) -> list[TraceSpan]:
    out: list[TraceSpan] = []
    for rs in _list(data, "resourceSpans", "resource_spans"):
        resource = _dict(rs, "resource", "resource")
        attrs = dict(_attributes(resource))
        from_ember = attrs.get("telemetry.sdk.name") == (True, "ember")
        for ss in _list(rs, "scopeSpans", "scope_spans"):
            scope = _dict(ss, "scope", "scope")
            json_strings = from_ember or scope.get("name") == "ember.flows"
            for span in _list(ss, "spans", "spans"):
                out.append(make_span(_fields(span), json_strings, len(out)))
    return out


# The span fields read here, in both spellings; a span with any other field (links, a trace
# state...) takes the ParseDict path, which checks it.
_SPAN_KEYS = frozenset(
    k for pair in (("traceId", "trace_id"), ("spanId", "span_id"),
                   ("parentSpanId", "parent_span_id"), ("name", "name"), ("kind", "kind"),
                   ("startTimeUnixNano", "start_time_unix_nano"),
                   ("endTimeUnixNano", "end_time_unix_nano"), ("attributes", "attributes"),
                   ("events", "events"), ("status", "status")) for k in pair)
_EVENT_KEYS = frozenset(("name", "timeUnixNano", "time_unix_nano", "attributes"))
_STATUS_KEYS = frozenset(("code", "message"))


def _fields(span: Any) -> dict[str, Any]:
    if not isinstance(span, dict) or not span.keys() <= _SPAN_KEYS:
        raise _Unusual
    status = _dict(span, "status", "status")
    if not status.keys() <= _STATUS_KEYS:
        raise _Unusual
    code = status.get("code", 0)
    message = status.get("message", "")
    if isinstance(code, bool) or code not in _STATUS_CODES or not isinstance(message, str):
        raise _Unusual
    kind = _pick(span, "kind", "kind", 0)
    kind = _KINDS.get(kind, kind) if isinstance(kind, str) else kind
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise _Unusual
    name = span.get("name", "")
    if not isinstance(name, str):
        raise _Unusual
    events = []
    for e in _list(span, "events", "events"):
        if not isinstance(e, dict) or not e.keys() <= _EVENT_KEYS \
                or not isinstance(e.get("name", ""), str):
            raise _Unusual
        events.append({"name": e.get("name", ""),
                       "time_unix_nano": _u64(_pick(e, "timeUnixNano", "time_unix_nano", 0)),
                       "attributes": {k: v for k, (_s, v) in _attributes(e)}})
    parent = _pick(span, "parentSpanId", "parent_span_id", "")
    return {"trace_id": _hex(_pick(span, "traceId", "trace_id", ""), 32),
            "span_id": _hex(_pick(span, "spanId", "span_id", ""), 16),
            "parent_span_id": _hex(parent, 16) if parent else b"",
            "name": name,
            "start_time_unix_nano": _u64(_pick(span, "startTimeUnixNano",
                                               "start_time_unix_nano", 0)),
            "end_time_unix_nano": _u64(_pick(span, "endTimeUnixNano", "end_time_unix_nano", 0)),
            "status": _STATUS_CODES[code], "status_message": message, "kind": kind,
            "attributes": _attributes(span), "events": events}


# --- pieces ---

def _pick(d: dict[str, Any], camel: str, snake: str, default: Any) -> Any:
    if camel in d:
        if snake != camel and snake in d:
            raise _Unusual   # both spellings: ParseDict refuses it
        return d[camel]
    return d.get(snake, default)


def _list(d: Any, camel: str, snake: str) -> list[Any]:
    if not isinstance(d, dict):
        raise _Unusual
    value = _pick(d, camel, snake, None)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unusual
    return value


def _dict(d: Any, camel: str, snake: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise _Unusual
    value = _pick(d, camel, snake, None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Unusual
    return value


def _hex(value: Any, width: int) -> bytes:
    if not isinstance(value, str) or len(value) != width:
        raise _Unusual   # base64 ids, or wrong widths: ParseDict and the checks say what
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _Unusual from None


def _u64(value: Any) -> int:
    if isinstance(value, bool):
        raise _Unusual
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit():
            raise _Unusual
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= _MAX_U64:
        raise _Unusual
    return value


def _attributes(holder: Any) -> list[tuple[str, tuple[bool, Any]]]:
    """``(key, (is a string value, plain value))`` for each of the holder's attributes."""
    out = []
    for attr in _list(holder, "attributes", "attributes"):
        value = _attr_value(attr)
        out.append((attr["key"], (_is_string(value), _any(value))))
    return out


def _is_string(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in ("stringValue", "string_value")


def _attr_value(attr: Any) -> dict[str, Any]:
    if not isinstance(attr, dict) or not isinstance(attr.get("key"), str):
        raise _Unusual
    value = attr.get("value", {})
    if not isinstance(value, dict):
        raise _Unusual
    return value


def _any(value: dict[str, Any]) -> Any:
    """An AnyValue as the plain value ``decode_any`` gives for its protobuf form."""
    if not value:
        return None
    if len(value) != 1:
        raise _Unusual
    (key, v), = value.items()
    if key in ("stringValue", "string_value"):
        if not isinstance(v, str):
            raise _Unusual
        return v
    if key in ("boolValue", "bool_value"):
        if not isinstance(v, bool):
            raise _Unusual
        return v
    if key in ("intValue", "int_value"):
        if isinstance(v, str) and v.lstrip("-").isascii() and v.lstrip("-").isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not _MIN_I64 <= v <= _MAX_I64:
            raise _Unusual
        return v
    if key in ("doubleValue", "double_value"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Unusual   # "NaN" and other special strings: ParseDict
        return float(v)
    if key in ("arrayValue", "array_value"):
        return [_any(_checked(x)) for x in _list(v, "values", "values")]
    if key in ("kvlistValue", "kvlist_value"):
        return {kv["key"]: _any(_attr_value(kv)) for kv in _list(v, "values", "values")}
    if key in ("bytesValue", "bytes_value"):
        if not isinstance(v, str):
            raise _Unusual
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError:
            raise _Unusual from None
        return base64.b64encode(raw).decode()
    raise _Unusual


def _checked(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unusual
    return value
