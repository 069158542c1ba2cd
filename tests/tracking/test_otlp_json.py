"""OTLP/JSON read without protobuf (tracking/_otlp_json.py) gives exactly the spans the
ParseDict path gives, and leaves every body it does not read plainly to that path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ember.errors import InvalidInputError
from ember.tracking import otlp
from ember.tracking._otlp_json import spans_from_json

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _span(span_id: str, **extra: Any) -> dict[str, Any]:
    return {"traceId": TRACE, "spanId": span_id, "name": "node", "kind": 1,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": 1700000000500000000,
            "attributes": [
                {"key": "mlflow.spanType", "value": {"stringValue": '"LLM"'}},
                {"key": "inputs", "value": {"stringValue": '{"q": "ünïcode"}'}},
                {"key": "plain", "value": {"stringValue": "not json"}},
                {"key": "n", "value": {"intValue": "-42"}},
                {"key": "big", "value": {"intValue": 9007199254740993}},
                {"key": "x", "value": {"doubleValue": 1.5}},
                {"key": "whole", "value": {"doubleValue": 3}},
                {"key": "ok", "value": {"boolValue": True}},
                {"key": "raw", "value": {"bytesValue": "aGk="}},
                {"key": "empty", "value": {}},
                {"key": "list", "value": {"arrayValue": {"values": [
                    {"stringValue": "a"}, {"intValue": "1"}, {"arrayValue": {}}]}}},
                {"key": "map", "value": {"kvlistValue": {"values": [
                    {"key": "k", "value": {"doubleValue": 0.25}}]}}}],
            "events": [{"name": "exception", "timeUnixNano": "1700000000100000000",
                        "attributes": [{"key": "exception.message",
                                        "value": {"stringValue": "boom"}}]}],
            "status": {"code": 2, "message": "ValueError: boom"}, **extra}


def _body(spans: list[dict[str, Any]], sdk: str = "opentelemetry") -> dict[str, Any]:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "telemetry.sdk.name",
                                     "value": {"stringValue": sdk}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]}


def _snake(value: Any) -> Any:
    """The same body with protobuf's field names, as the JSON mapping also accepts."""
    names = {"resourceSpans": "resource_spans", "scopeSpans": "scope_spans",
             "traceId": "trace_id", "spanId": "span_id", "parentSpanId": "parent_span_id",
             "startTimeUnixNano": "start_time_unix_nano", "endTimeUnixNano": "end_time_unix_nano",
             "timeUnixNano": "time_unix_nano", "stringValue": "string_value",
             "intValue": "int_value", "doubleValue": "double_value", "boolValue": "bool_value",
             "bytesValue": "bytes_value", "arrayValue": "array_value",
             "kvlistValue": "kvlist_value"}
    if isinstance(value, dict):
        return {names.get(k, k): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _by_parse_dict(body: dict[str, Any]) -> list[Any]:
    """The ParseDict path: an empty ``links`` list is a field the plain reader leaves to it."""
    slow = copy.deepcopy(body)
    for rs in slow.get("resourceSpans") or slow.get("resource_spans"):
        for ss in rs.get("scopeSpans") or rs.get("scope_spans"):
            for span in ss["spans"]:
                span["links"] = []
    assert spans_from_json(slow, lambda *a: None) is None   # type: ignore[arg-type,return-value]
    return otlp.parse_request(json.dumps(slow).encode(), otlp.JSON)


@pytest.mark.parametrize("sdk", ["opentelemetry", "ember"])
@pytest.mark.parametrize("spelling", ["camel", "snake"])
def test_the_plain_reader_gives_what_parse_dict_gives(sdk: str, spelling: str) -> None:
    body = _body([_span("b7ad6b7169203331"),
                  _span("00f067aa0ba902b7", parentSpanId="b7ad6b7169203331", kind="SPAN_KIND_CLIENT",
                        status={"code": "STATUS_CODE_OK"})], sdk)
    if spelling == "snake":
        body = _snake(body)
    fast = spans_from_json(copy.deepcopy(body), otlp._span_of)
    assert fast is not None and len(fast) == 2
    assert fast == _by_parse_dict(body)
    assert otlp.parse_request(json.dumps(body).encode(), otlp.JSON) == fast
    assert fast[1].parent_span_id == "b7ad6b7169203331" and fast[1].kind == 3
    attrs = fast[0].attributes
    assert attrs["plain"] == '"not json"' and attrs["n"] == "-42" and attrs["whole"] == "3.0"
    # Ember's own spans carry JSON text in their string attributes; others' strings are strings.
    assert attrs["inputs"] == ('{"q": "ünïcode"}' if sdk == "ember"
                               else json.dumps('{"q": "ünïcode"}', ensure_ascii=False))


@pytest.mark.parametrize("change", [
    {"traceId": "CvdlGRbNQ92ESOshHIAxnA=="},   # a base64 id
    {"kind": True}, {"startTimeUnixNano": 1.5}, {"startTimeUnixNano": "-1"},
    {"status": {"code": 7}}, {"status": {"code": 1, "extra": 1}}, {"traceState": "a=b"},
    {"attributes": [{"key": "x", "value": {"doubleValue": "NaN"}}]},
    {"attributes": [{"key": "x", "value": {"stringValue": 5}}]},
    {"attributes": [{"key": "x", "value": {"intValue": "1", "boolValue": True}}]},
    {"attributes": [{"value": {"intValue": "1"}}]},
    {"events": [{"name": "e", "droppedAttributesCount": 1}]},
])
def test_anything_unusual_is_left_to_parse_dict(change: dict[str, Any]) -> None:
    """Each of these takes the ParseDict path (which reads or refuses it, naming what)."""
    body = _body([{**_span("b7ad6b7169203331"), **change}])
    assert spans_from_json(copy.deepcopy(body), otlp._span_of) is None


def test_errors_the_checks_make_are_the_same_on_both_paths() -> None:
    zero = _body([_span("0000000000000000")])
    with pytest.raises(InvalidInputError, match="span_id must be 8 bytes, not all zero"):
        otlp.parse_request(json.dumps(zero).encode(), otlp.JSON)
    with pytest.raises(InvalidInputError, match="holds no span"):
        otlp.parse_request(json.dumps(_body([])).encode(), otlp.JSON)
