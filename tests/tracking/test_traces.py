"""MLflow 3 traces on Ember: the real mlflow 3 client (``@mlflow.trace``, ``start_span``,
``mlflow.openai.autolog`` with the real openai client) against a real server, spans POSTed as
OTLP JSON in the form Ember's flow engine writes, and the protocol's refusals."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
# Imported at collection: once mlflow's autolog (another test's) has put its import hooks in
# place, a first `import openai` goes through them and warns (an error under pytest here).
import openai
import pytest

from ember.flows.trace import CHAIN, LLM, TOOL, Tracer, to_otlp_request
from tests.conftest import APP_URL, AppTransport, ServerProc
from tests.tracking.conftest import create_workspace

JSON_HEADERS = {"content-type": "application/json"}


def _experiment(prefix: str = "traces") -> str:
    import mlflow

    return mlflow.set_experiment(f"{prefix}-{uuid.uuid4().hex[:8]}").experiment_id


def _next_millisecond() -> None:
    """Wait until the clock's millisecond changes: request times have millisecond resolution,
    and the order asserted below needs them distinct."""
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start:
        pass


def _flush() -> None:
    import mlflow

    mlflow.flush_trace_async_logging(terminate=False)


# --- the mlflow client ---

def test_traced_functions_land_in_ember_and_read_back_as_span_trees(tracking_uri: str) -> None:
    import mlflow

    exp_id = _experiment()

    @mlflow.trace(span_type="CHAIN")
    def outer(x: int) -> int:
        with mlflow.start_span("inner", span_type="TOOL") as span:
            span.set_inputs({"x": x})
            span.set_attribute("custom.k", 1)
            span.set_outputs({"y": 2 * x})
        return helper(x) * 2

    @mlflow.trace(span_type="PARSER")
    def helper(x: int) -> int:
        return x

    @mlflow.trace
    def failing(text: str) -> None:
        raise ValueError(f"boom: {text}")

    outer(21)
    _next_millisecond()   # distinct request times: the newest is listed first
    with pytest.raises(ValueError):
        failing("x")
    _flush()

    frame = mlflow.search_traces(locations=[exp_id])
    assert frame.shape == (2, 12)
    assert set(frame["state"]) == {"OK", "ERROR"}
    traces = mlflow.search_traces(locations=[exp_id], return_type="list")
    assert [t.info.tags["mlflow.traceName"] for t in traces] == ["failing", "outer"]  # newest 1st
    bad, good = traces

    trace = mlflow.get_trace(good.info.trace_id)
    assert trace.info.state == "OK" and trace.info.experiment_id == exp_id
    assert trace.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert trace.info.request_preview == '{"x": 21}' and trace.info.response_preview == "42"
    assert trace.info.execution_duration is not None and trace.info.execution_duration >= 0
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"outer", "inner", "helper"}
    root = spans["outer"]
    assert root.parent_id is None and root.span_type == "CHAIN"
    assert (root.inputs, root.outputs) == ({"x": 21}, 42)
    assert spans["inner"].parent_id == root.span_id and spans["helper"].parent_id == root.span_id
    assert spans["inner"].span_type == "TOOL" and spans["helper"].span_type == "PARSER"
    assert (spans["inner"].inputs, spans["inner"].outputs) == ({"x": 21}, {"y": 42})
    assert spans["inner"].attributes["custom.k"] == 1
    assert spans["helper"].attributes["mlflow.spanFunctionName"] == "helper"
    assert all(s.trace_id == good.info.trace_id for s in trace.data.spans)

    failed = mlflow.get_trace(bad.info.trace_id)
    assert failed.info.state == "ERROR"
    (span,) = failed.data.spans
    assert span.status.status_code == "ERROR" and "boom: x" in span.status.description
    assert any(e.name == "exception" and "boom: x" in str(e.attributes) for e in span.events)


def test_a_trace_inside_a_run_is_linked_to_it(tracking_uri: str) -> None:
    import mlflow

    exp_id = _experiment()

    @mlflow.trace
    def step(n: int) -> int:
        return n + 1

    with mlflow.start_run() as run:
        step(1)
    step(2)   # outside the run
    _flush()
    linked = mlflow.search_traces(locations=[exp_id], run_id=run.info.run_id,
                                  return_type="list")
    assert len(linked) == 1
    assert linked[0].info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    assert linked[0].data.spans[0].inputs == {"n": 1}
    assert len(mlflow.search_traces(locations=[exp_id], return_type="list")) == 2


def test_trace_tags_filters_paging_and_deletion(tracking_uri: str) -> None:
    import mlflow
    from mlflow import MlflowClient

    exp_id = _experiment()

    @mlflow.trace
    def work(i: int) -> int:
        return i

    for i in range(5):
        work(i)
        _next_millisecond()   # distinct request times
    _flush()
    client = MlflowClient()
    ids = [t.info.trace_id for t in client.search_traces(locations=[exp_id],
                                                         order_by=["timestamp_ms ASC"])]
    assert len(ids) == 5

    client.set_trace_tag(ids[1], "team", "a")
    client.set_trace_tag(ids[3], "team", "b")
    mlflow.set_trace_tag(ids[4], "team", "a")
    tagged = client.search_traces(locations=[exp_id], filter_string="tag.team = 'a'",
                                  order_by=["timestamp_ms ASC"])
    assert [t.info.trace_id for t in tagged] == [ids[1], ids[4]]
    client.delete_trace_tag(ids[4], "team")
    assert "team" not in mlflow.get_trace(ids[4]).info.tags
    assert [t.info.trace_id for t in client.search_traces(
        locations=[exp_id], filter_string="tags.team LIKE '%'")] == [ids[3], ids[1]]
    after = mlflow.get_trace(ids[1]).info.request_time
    assert [t.info.trace_id for t in client.search_traces(
        locations=[exp_id], filter_string=f"trace.timestamp_ms > {after} AND status = 'OK'",
        order_by=["timestamp_ms ASC"])] == ids[2:]
    assert len(client.search_traces(locations=[exp_id],
                                    filter_string="name = 'work'")) == 5

    # pages of two, newest first, through the client's page tokens
    page = client.search_traces(locations=[exp_id], max_results=2)
    seen = [t.info.trace_id for t in page]
    while page.token:
        page = client.search_traces(locations=[exp_id], max_results=2, page_token=page.token)
        seen += [t.info.trace_id for t in page]
    assert seen == ids[::-1]

    with pytest.raises(mlflow.exceptions.MlflowException, match="span filters"):
        client.search_traces(locations=[exp_id], filter_string="span.name = 'x'")

    assert client.delete_traces(exp_id, trace_ids=[ids[0], ids[1]]) == 2
    assert mlflow.get_trace(ids[0], silent=True) is None
    oldest_left = mlflow.get_trace(ids[2]).info.request_time
    assert client.delete_traces(exp_id, max_timestamp_millis=oldest_left) == 1
    assert [t.info.trace_id for t in client.search_traces(locations=[exp_id])] == \
        [ids[4], ids[3]]


class _ChatStub(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint with a fixed answer and usage."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        answer = {"id": "chatcmpl-stub", "object": "chat.completion", "created": 1,
                  "model": body["model"],
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": "Hello from stub"}}],
                  "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def chat_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_autolog_records_a_chat_model_span_with_token_usage(
        tracking_uri: str, chat_stub: str) -> None:
    import mlflow

    exp_id = _experiment("autolog")
    mlflow.openai.autolog()
    try:
        client = openai.OpenAI(base_url=chat_stub, api_key="sk-test")
        reply = client.chat.completions.create(
            model="stub-model", messages=[{"role": "system", "content": "be brief"},
                                          {"role": "user", "content": "hi"}], temperature=0)
        assert reply.choices[0].message.content == "Hello from stub"
        _flush()
    finally:
        mlflow.openai.autolog(disable=True)
    (trace,) = mlflow.search_traces(locations=[exp_id], return_type="list")
    assert trace.info.tags["mlflow.traceName"] == "Completions"
    (span,) = trace.data.spans
    assert (span.name, span.span_type) == ("Completions", "CHAT_MODEL")
    usage = {"input_tokens": 11, "output_tokens": 3, "total_tokens": 14}
    assert span.attributes["mlflow.chat.tokenUsage"] == usage
    assert span.inputs["messages"][-1] == {"role": "user", "content": "hi"}
    assert span.outputs["usage"]["total_tokens"] == 14
    info = mlflow.get_trace(trace.info.trace_id).info
    assert info.token_usage == usage
    assert json.loads(info.trace_metadata["mlflow.trace.tokenUsage"]) == usage
    assert (info.request_preview, info.response_preview) == ("hi", "Hello from stub")


# --- OTLP JSON as Ember's flow engine sends it ---

def _flow_spans(question: str = "hi", fail: bool = False) -> Tracer:
    tracer = Tracer()
    with tracer.span("my_flow", CHAIN, inputs={"question": question}) as flow:
        with tracer.span("prep", TOOL, inputs={"q": question},
                         attributes={"node_name": "prep"}) as prep:
            prep.set_outputs(question.upper())
        with tracer.span("chat", LLM, inputs={"question": question},
                         attributes={"node_name": "chat"}) as node:
            with tracer.span("openai_chat", "CHAT_MODEL",
                             inputs={"messages": [{"role": "user", "content": question}]}) as llm:
                llm.set_token_usage(11, 3)
                llm.set_outputs({"choices": [{"message": {"role": "assistant",
                                                          "content": "Hello"}}]})
            node.set_token_usage(11, 3)   # the node repeats its call's usage: counted once
            node.set_outputs("Hello")
        flow.set_outputs({"answer": "Hello"})
        if fail:
            flow.record_error(RuntimeError("flow failed"))
    return tracer


def test_flow_engine_spans_as_otlp_json_read_back_through_mlflow(
        tracking_uri: str, tracking_server: ServerProc) -> None:
    import mlflow

    exp_id = _experiment("flow")
    spans = _flow_spans().take()
    by_name = {s.name: s for s in spans}
    trace_id = "tr-" + spans[0].trace_id
    url = f"{tracking_uri}/v1/traces"
    headers = {**JSON_HEADERS, **tracking_server.headers, "x-mlflow-experiment-id": exp_id}

    # The children first (an incremental export), then the root.
    children = [s for s in spans if s.name != "my_flow"]
    r = httpx.post(url, content=json.dumps(to_otlp_request(children)), headers=headers)
    assert r.status_code == 200, r.text
    partial = mlflow.get_trace(trace_id)
    assert partial.info.state == "IN_PROGRESS" and len(partial.data.spans) == 3
    assert partial.info.token_usage == {"input_tokens": 11, "output_tokens": 3,
                                        "total_tokens": 14}
    r = httpx.post(url, content=json.dumps(to_otlp_request([by_name["my_flow"]])),
                   headers=headers)
    assert r.status_code == 200, r.text

    trace = mlflow.get_trace(trace_id)
    info = trace.info
    assert info.state == "OK" and info.experiment_id == exp_id
    assert info.tags["mlflow.traceName"] == "my_flow"
    assert info.request_preview == json.dumps({"question": "hi"})
    assert info.response_preview == json.dumps({"answer": "Hello"})
    root = by_name["my_flow"]
    assert info.request_time == root.start_ns // 1_000_000
    assert info.execution_duration == (root.end_ns - root.start_ns) // 1_000_000  # type: ignore[operator]
    assert info.token_usage == {"input_tokens": 11, "output_tokens": 3, "total_tokens": 14}
    got = {s.name: s for s in trace.data.spans}
    assert {n: got[n].span_type for n in got} == {
        "my_flow": "CHAIN", "prep": "TOOL", "chat": "LLM", "openai_chat": "CHAT_MODEL"}
    assert (got["my_flow"].inputs, got["my_flow"].outputs) == ({"question": "hi"},
                                                               {"answer": "Hello"})
    assert (got["prep"].inputs, got["prep"].outputs) == ({"q": "hi"}, "HI")
    assert got["chat"].attributes["node_name"] == "chat"
    assert got["chat"].attributes["llm.usage.total_tokens"] == 14
    assert got["openai_chat"].attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 11, "output_tokens": 3, "total_tokens": 14}
    assert got["openai_chat"].parent_id == got["chat"].span_id
    assert got["chat"].parent_id == got["my_flow"].span_id
    assert (got["my_flow"].start_time_ns, got["my_flow"].end_time_ns) == (root.start_ns,
                                                                         root.end_ns)
    # the same batch again (a retried export) changes nothing
    r = httpx.post(url, content=json.dumps(to_otlp_request(spans)), headers=headers)
    assert r.status_code == 200
    again = mlflow.get_trace(trace_id)
    assert len(again.data.spans) == 4 and again.info.token_usage == info.token_usage
    assert mlflow.search_traces(locations=[exp_id], filter_string="trace.status = 'OK'",
                                return_type="list")[0].info.trace_id == trace_id


def test_a_failed_flow_is_an_error_trace(tracking_uri: str,
                                         tracking_server: ServerProc) -> None:
    import mlflow

    exp_id = _experiment("flow")
    spans = _flow_spans(fail=True).take()
    r = httpx.post(f"{tracking_uri}/v1/traces", content=json.dumps(to_otlp_request(spans)),
                   headers={**JSON_HEADERS, **tracking_server.headers,
                            "x-mlflow-experiment-id": exp_id})
    assert r.status_code == 200, r.text
    trace = mlflow.get_trace("tr-" + spans[0].trace_id)
    assert trace.info.state == "ERROR"
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert root.status.status_code == "ERROR" and "flow failed" in root.status.description
    assert root.events[0].name == "exception"
    assert root.events[0].attributes["exception.message"] == "flow failed"


def test_traces_of_one_workspace_are_invisible_in_another(tracking_server: ServerProc,
                                                          tracking_uri: str) -> None:
    ws_a = create_workspace(tracking_server, f"tra-{uuid.uuid4().hex[:8]}")
    ws_b = create_workspace(tracking_server, f"trb-{uuid.uuid4().hex[:8]}")
    auth = tracking_server.headers
    exp_a = httpx.post(f"{ws_a}/api/2.0/mlflow/experiments/create",
                       json={"name": "x"}, headers=auth).json()["experiment_id"]
    exp_b = httpx.post(f"{ws_b}/api/2.0/mlflow/experiments/create",
                       json={"name": "x"}, headers=auth).json()["experiment_id"]
    spans = _flow_spans().take()
    trace_id = "tr-" + spans[0].trace_id
    body = json.dumps(to_otlp_request(spans))
    r = httpx.post(f"{ws_a}/v1/traces", content=body,
                   headers={**JSON_HEADERS, **auth, "x-mlflow-experiment-id": exp_a})
    assert r.status_code == 200, r.text
    assert httpx.get(f"{ws_a}/api/3.0/mlflow/traces/{trace_id}", headers=auth).status_code == 200
    # B can neither read A's trace nor write into A's experiment
    r = httpx.get(f"{ws_b}/api/3.0/mlflow/traces/{trace_id}", headers=auth)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert httpx.get(f"{ws_b}/api/3.0/mlflow/traces/get",
                     params={"trace_id": trace_id}, headers=auth).status_code == 404
    assert httpx.get(f"{ws_b}/api/3.0/mlflow/traces/batchGet",
                     params={"trace_ids": [trace_id]}, headers=auth).json() == {"traces": []}
    r = httpx.post(f"{ws_b}/api/3.0/mlflow/traces/search", headers=auth, json={"locations": [
        {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_a}}]})
    assert r.status_code == 404   # A's experiment is not B's
    r = httpx.post(f"{ws_b}/v1/traces", content=body,
                   headers={**JSON_HEADERS, **auth, "x-mlflow-experiment-id": exp_a})
    assert r.status_code == 404
    assert httpx.patch(f"{ws_b}/api/2.0/mlflow/traces/{trace_id}/tags",
                       json={"key": "k", "value": "v"}, headers=auth).status_code == 404
    # the same trace id sent to B is B's own trace, and A's is untouched
    r = httpx.post(f"{ws_b}/v1/traces", content=body,
                   headers={**JSON_HEADERS, **auth, "x-mlflow-experiment-id": exp_b})
    assert r.status_code == 200
    got = httpx.get(f"{ws_b}/api/3.0/mlflow/traces/{trace_id}",
                    headers=auth).json()["trace"]["trace_info"]
    assert got["trace_location"]["mlflow_experiment"]["experiment_id"] == exp_b
    got = httpx.get(f"{ws_a}/api/3.0/mlflow/traces/{trace_id}",
                    headers=auth).json()["trace"]["trace_info"]
    assert got["trace_location"]["mlflow_experiment"]["experiment_id"] == exp_a


# --- refusals, on the app in process ---

@pytest.fixture
def http(app_transport: AppTransport) -> Iterator[httpx.Client]:
    with httpx.Client(transport=app_transport, base_url=APP_URL) as client:
        yield client


def _new_experiment(http: httpx.Client) -> str:
    r = http.post("/api/2.0/mlflow/experiments/create", json={"name": uuid.uuid4().hex})
    return str(r.json()["experiment_id"])


def test_otlp_refusals_name_the_problem(http: httpx.Client) -> None:
    exp = _new_experiment(http)
    good = json.dumps(to_otlp_request(_flow_spans().take()))

    def post(body: bytes | str, **headers: str) -> httpx.Response:
        return http.post("/v1/traces", content=body,
                         headers={"x-mlflow-experiment-id": exp, **JSON_HEADERS, **headers})

    r = post(good, **{"x-mlflow-experiment-id": "987654"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = http.post("/v1/traces", content=good, headers=JSON_HEADERS)
    assert r.status_code == 400 and "x-mlflow-experiment-id" in r.json()["message"]
    r = post(b"")
    assert r.status_code == 400 and "empty" in r.json()["message"]
    r = post(b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    r = post(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}))
    assert r.status_code == 400 and "OTLP ExportTraceServiceRequest in JSON" in r.json()["message"]
    r = post(json.dumps({"resourceSpans": []}))
    assert r.status_code == 400 and "no span" in r.json()["message"]
    r = post(b"\xff\xfe\x00garbage", **{"content-type": "application/x-protobuf"})
    assert r.status_code == 400 and "protobuf" in r.json()["message"]
    r = post(good, **{"content-type": "text/plain"})
    assert r.status_code == 400 and "application/x-protobuf" in r.json()["message"]
    short_id = json.loads(good)
    short_id["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "abcd"
    r = post(json.dumps(short_id))
    assert r.status_code == 400 and "span_id must be 8 bytes" in r.json()["message"]
    # gzip is read; a body that inflates past the limit is refused like a large one
    assert post(gzip.compress(good.encode()), **{"content-encoding": "gzip"}).status_code == 200
    bomb = gzip.compress(b" " * (5 << 20))
    r = post(bomb, **{"content-encoding": "gzip"})
    assert r.status_code == 413 and r.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    r = post(b"x" * ((4 << 20) + 1))
    assert r.status_code == 413
    r = post(b"garbage", **{"content-encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["message"]


def test_a_batch_is_stored_all_or_nothing(http: httpx.Client) -> None:
    exp = _new_experiment(http)
    first, second = _flow_spans().take(), _flow_spans().take()
    request = to_otlp_request(first + second)
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][-1]["traceId"] = "00" * 16
    r = http.post("/v1/traces", content=json.dumps(request),
                  headers={**JSON_HEADERS, "x-mlflow-experiment-id": exp})
    assert r.status_code == 400 and "trace_id" in r.json()["message"]
    for spans in (first, second):
        assert http.get(f"/api/3.0/mlflow/traces/tr-{spans[0].trace_id}").status_code == 404


def test_start_trace_and_read_routes_speak_mlflow_json(http: httpx.Client) -> None:
    exp = _new_experiment(http)
    spans = _flow_spans().take()
    trace_id = "tr-" + spans[0].trace_id
    info = {"trace_id": trace_id, "request_time": "2026-12-04T09:07:58.247Z",
            "execution_duration": "0.012s", "state": "OK",
            "trace_location": {"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": exp}},
            "trace_metadata": {"mlflow.user": "me"}, "tags": {"mlflow.traceName": "given"},
            "request_preview": "q", "response_preview": "a"}
    r = http.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}})
    assert r.status_code == 200, r.text
    got = r.json()["trace"]["trace_info"]
    assert got["request_time"] == "2026-12-04T09:07:58.247Z"
    assert got["execution_duration"] == "0.012s"
    assert got["trace_metadata"]["mlflow.trace.infoFinalized"] == "true"
    assert "mlflow.trace.spansLocation" not in got["tags"]   # no spans yet: the client uploads
    assert got["tags"]["mlflow.artifactLocation"] == \
        f"mlflow-artifacts:/{exp}/traces/{trace_id}/artifacts"
    # spans arriving afterwards fill only what the client did not say
    r = http.post("/v1/traces", content=json.dumps(to_otlp_request(spans)),
                  headers={**JSON_HEADERS, "x-mlflow-experiment-id": exp})
    assert r.status_code == 200
    got = http.get(f"/api/3.0/mlflow/traces/{trace_id}").json()["trace"]["trace_info"]
    assert (got["request_preview"], got["tags"]["mlflow.traceName"]) == ("q", "given")
    assert got["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert json.loads(got["trace_metadata"]["mlflow.trace.tokenUsage"])["total_tokens"] == 14
    full = http.get("/api/3.0/mlflow/traces/get", params={"trace_id": trace_id}).json()
    assert len(full["trace"]["spans"]) == 4
    span = next(s for s in full["trace"]["spans"] if s["name"] == "my_flow")
    assert "parent_span_id" not in span and span["status"]["code"] == "STATUS_CODE_OK"
    attrs = {a["key"]: a["value"] for a in span["attributes"]}
    assert attrs["mlflow.spanInputs"] == {"kvlist_value": {"values": [
        {"key": "question", "value": {"string_value": "hi"}}]}}
    assert attrs["mlflow.spanType"] == {"string_value": "CHAIN"}
    infos = http.post("/api/3.0/mlflow/traces/batchGetInfos",
                      json={"trace_ids": [trace_id, "tr-missing"]}).json()
    assert [i["trace_id"] for i in infos["trace_infos"]] == [trace_id]
    r = http.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": {
        **info, "trace_id": "../x"}}})
    assert r.status_code == 400 and "Invalid trace ID" in r.json()["message"]
    r = http.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": {
        **info, "state": "DONE"}}})
    assert r.status_code == 400 and "DONE" in r.json()["message"]
    r = http.post("/api/3.0/mlflow/traces/search", json={
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
        "filter": "trace.nope = 'x'"})
    assert r.status_code == 400 and "nope" in r.json()["message"]
    r = http.post("/api/3.0/mlflow/traces/delete-traces", json={"experiment_id": exp})
    assert r.status_code == 400 and "request_ids" in r.json()["message"]


def test_otlp_header_run_and_the_default_experiment(http: httpx.Client) -> None:
    exp = _new_experiment(http)
    run = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]
    run_id = run["info"]["run_id"]
    spans = _flow_spans().take()
    trace_id = "tr-" + spans[0].trace_id
    body = json.dumps(to_otlp_request(spans))
    r = http.post("/v1/traces", content=body, headers={
        **JSON_HEADERS, "x-mlflow-experiment-id": exp, "x-mlflow-run-id": "0" * 32})
    assert r.status_code == 404   # no such run: nothing stored
    assert http.get(f"/api/3.0/mlflow/traces/{trace_id}").status_code == 404
    r = http.post("/v1/traces", content=body, headers={
        **JSON_HEADERS, "x-mlflow-experiment-id": exp, "x-mlflow-run-id": run_id})
    assert r.status_code == 200 and r.json() == {}
    info = http.get(f"/api/3.0/mlflow/traces/{trace_id}").json()["trace"]["trace_info"]
    assert info["trace_metadata"]["mlflow.sourceRun"] == run_id
    found = http.post("/api/3.0/mlflow/traces/search", json={
        "experiment_ids": [exp], "filter": f"attribute.run_id = '{run_id}'"}).json()
    assert [t["trace_id"] for t in found["traces"]] == [trace_id]
    # "0" is MLflow's default experiment: the workspace's Default
    other = _flow_spans().take()
    r = http.post("/v1/traces", content=json.dumps(to_otlp_request(other)),
                  headers={**JSON_HEADERS, "x-mlflow-experiment-id": "0"})
    assert r.status_code == 200
    default = http.get("/api/2.0/mlflow/experiments/get-by-name",
                       params={"experiment_name": "Default"}).json()["experiment"]
    info = http.get(f"/api/3.0/mlflow/traces/tr-{other[0].trace_id}").json()["trace"]
    assert info["trace_info"]["trace_location"]["mlflow_experiment"]["experiment_id"] == \
        default["experiment_id"]
