"""The router in front of a language-model worker: forwarding, streaming, metering and limits.

The router is the real subprocess (as in ``test_router.py``); the worker is a stand-in written
here, a stdlib HTTP/1.1 server on loopback that speaks the language-model worker surface of
``ember.serving.protocol``: JSON answers with ``x-ember-usage``, chunked SSE streams (one event
per chunk) ending with ``: usage <p> <c>`` and ``data: [DONE]``. The request's ``model`` chooses
how a stream behaves: ``hold`` (wait after the first event until the test releases it), ``die``
(close the connection after the first event), ``hang`` (after the first event, wait until the
router closes the connection). Ordering comes from events the test waits on, never from sleeps.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from ember.serving.router.limits import LimiterRegistry, RateLimiter, Window
from ember.serving.router.metrics import MetricsRegistry
from ember.serving.router.table import TableError, compile_table
from tests.serving.test_router import (
    KEY1,
    KEY2,
    RouterProc,
    deployment,
    parse_prometheus,
    sha,
    wait_for,
)

WORDS = ["hello", " world", " from", " ember"]
CHAT_USAGE = (7, 3)      # a JSON chat answer's x-ember-usage
STREAM_USAGE = (7, 4)    # a stream's ": usage" event (one token per word)


# -- the stand-in language-model worker ------------------------------------------------------

class LlmWorker:
    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        self.release = threading.Event()      # "hold" streams go on once this is set
        self.first_sent = threading.Event()   # a held stream sent its first event
        self.closed = threading.Event()       # a "hang" stream saw the router close it
        self.streams_ended = 0                # streams that sent their terminating chunk
        self._lock = threading.Lock()
        worker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self._record(b"")
                if self.path == "/":
                    return self._json(200, {})
                if self.path == "/info":
                    return self._json(200, {"model_name": "stand-in", "model_type": "chat",
                                            "model_provider_name": "ember"})
                if self.path.startswith("/v1/models"):
                    return self._json(200, {"object": "list", "data": [
                        {"id": "stand-in", "object": "model", "owned_by": "ember"}]})
                self._json(404, {"error": {"message": "no route", "type": "invalid_request_error",
                                           "param": None, "code": None}})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._record(body)
                request = json.loads(body or b"{}")
                path = self.path.partition("?")[0]
                if path in ("/v1/chat/completions", "/chat/completions"):
                    if request.get("stream"):
                        return self._stream(request.get("model", ""))
                    return self._json(200, {
                        "id": "c1", "object": "chat.completion", "created": 0,
                        "model": "stand-in", "choices": [{
                            "index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "".join(WORDS)}}],
                        "usage": {"prompt_tokens": CHAT_USAGE[0],
                                  "completion_tokens": CHAT_USAGE[1],
                                  "total_tokens": sum(CHAT_USAGE)}}, CHAT_USAGE)
                if path in ("/v1/embeddings", "/embeddings"):
                    return self._json(200, {"object": "list", "model": "stand-in", "data": [
                        {"object": "embedding", "index": 0, "embedding": [0.5, 0.5]}]}, (4, 0))
                self._json(200, {"echo": request})

            def _record(self, body: bytes) -> None:
                with worker._lock:
                    worker.received.append((self.command, self.path,
                                            {k.lower(): v for k, v in self.headers.items()},
                                            body))

            def _json(self, status: int, obj: Any, usage: tuple[int, int] | None = None
                      ) -> None:
                data = json.dumps(obj).encode()
                head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(data)}\r\n")
                if usage is not None:
                    head += f"x-ember-usage: {usage[0]} {usage[1]}\r\n"
                self.wfile.write(head.encode() + b"\r\n" + data)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

            def _stream(self, behaviour: str) -> None:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")

                def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
                    return b"data: " + json.dumps({
                        "id": "c1", "object": "chat.completion.chunk", "created": 0,
                        "model": "stand-in", "choices": [
                            {"index": 0, "delta": delta, "finish_reason": finish}]}
                    ).encode() + b"\n\n"

                self._chunk(event({"role": "assistant", "content": ""}))
                if behaviour == "hold":
                    worker.first_sent.set()
                    worker.release.wait(30)
                elif behaviour == "die":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                elif behaviour == "hang":
                    self.close_connection = True
                    worker.first_sent.set()
                    if self.rfile.read(1) == b"":   # the router never sends more: EOF = closed
                        worker.closed.set()
                    return
                for word in WORDS:
                    self._chunk(event({"content": word}))
                self._chunk(event({}, "stop"))
                self._chunk(b": usage %d %d\n\n" % STREAM_USAGE)
                self._chunk(b"data: [DONE]\n\n")
                with worker._lock:   # counted first: a client that read the end sees it
                    worker.streams_ended += 1
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass   # "die" breaks its own connection on purpose

        self.server = Server(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def worker() -> Iterator[LlmWorker]:
    made = LlmWorker()
    yield made
    made.close()


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProc]:
    proc = RouterProc(tmp_path_factory.mktemp("router-llm"))
    yield proc
    assert proc.stop() == 0
    assert KEY1 not in proc.log_path.read_text()


@pytest.fixture
def client(router: RouterProc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=router.url, timeout=30) as c:
        yield c


def model_endpoint(worker: LlmWorker, limits: dict[str, int] | None = None,
                   **settings: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "key_hashes": [sha(KEY1), sha(KEY2)], "traffic": {"llm": 100}, "mirror_traffic": {},
        "deployments": {"llm": deployment(worker.addr, **settings)}}
    if limits is not None:
        route["limits"] = limits
    return route


def bearer(key: str = KEY1) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(stream: bool = False, model: str = "ok") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


def data_lines(lines: Iterator[str]) -> list[str]:
    return [line for line in lines if line.startswith("data: ")]


def assert_openai_error(resp: httpx.Response, status: int, kind: str, code: str) -> None:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["code"], err["param"]) == (kind, code, None), err


# -- forwarding ------------------------------------------------------------------------------

def test_model_paths_are_forwarded_verbatim(router: RouterProc, client: httpx.Client,
                                            worker: LlmWorker) -> None:
    router.put_routes({"ws/fwd": model_endpoint(worker)})
    base = "/endpoints/ws/fwd"
    resp = client.post(f"{base}/v1/chat/completions?api-version=2024-05-01", json=chat(),
                       headers={**bearer(), "extra-parameters": "pass-through"})
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"]
    assert resp.headers["azureml-model-deployment"] == "llm"
    method, path, headers, body = worker.received[-1]
    assert (method, path) == ("POST", "/v1/chat/completions?api-version=2024-05-01")
    assert headers["extra-parameters"] == "pass-through"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == chat()
    assert "authorization" not in headers and "api-key" not in headers   # keys stay here
    for sub, method in (("chat/completions", "POST"), ("completions", "POST"),
                        ("embeddings", "POST"), ("info", "GET"), ("v1/models", "GET"),
                        ("v1/embeddings", "POST")):
        resp = client.request(method, f"{base}/{sub}", headers=bearer(),
                              json={"input": "x"} if method == "POST" else None)
        assert resp.status_code == 200, (sub, resp.text)
        assert worker.received[-1][:2] == (method, f"/{sub}")
    assert client.get(f"{base}/info", headers=bearer()).json()["model_name"] == "stand-in"
    assert client.get(f"{base}/v1/models/a%20b", headers=bearer()).status_code == 200
    assert worker.received[-1][1] == "/v1/models/a%20b"   # escapes kept
    # Paths off the worker surface are the router's "no route", in the scoring shape.
    for sub in ("nope", "v1", "v1/", "chat"):
        resp = client.post(f"{base}/{sub}", headers=bearer(), json={})
        assert resp.status_code == 404 and resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert_openai_error(client.put(f"{base}/v1/models", headers=bearer()), 405,
                        "invalid_request_error", "method_not_allowed")


def test_keys_and_router_errors_in_openai_shape(router: RouterProc, client: httpx.Client,
                                                worker: LlmWorker) -> None:
    router.put_routes({"ws/auth": model_endpoint(worker),
                       "ws/empty": {**model_endpoint(worker),
                                    "deployments": {"llm": deployment()}}})
    url = "/endpoints/ws/auth/v1/chat/completions"
    for headers in ({}, bearer("wrong"), {"api-key": "wrong"}, {"Authorization": KEY1}):
        assert_openai_error(client.post(url, json=chat(), headers=headers), 401,
                            "authentication_error", "invalid_api_key")
    for headers in ({"api-key": KEY1}, {"api-key": KEY2}, bearer(KEY2)):
        assert client.post(url, json=chat(), headers=headers).status_code == 200
    assert_openai_error(client.post("/endpoints/ws/nope/v1/chat/completions", json=chat(),
                                    headers=bearer()),
                        404, "invalid_request_error", "resource_does_not_exist")
    assert_openai_error(client.post(url, json=chat(), headers={
        **bearer(), "azureml-model-deployment": "gone"}),
        404, "invalid_request_error", "resource_does_not_exist")
    assert_openai_error(client.post("/endpoints/ws/empty/v1/chat/completions", json=chat(),
                                    headers=bearer()), 503, "server_error", "no_instance")
    # /score keeps Azure's shape.
    resp = client.post("/endpoints/ws/auth/score", json={}, headers={"api-key": KEY1})
    assert resp.status_code == 401 and resp.json()["error_code"] == "UNAUTHORIZED"


# -- streaming -------------------------------------------------------------------------------

def test_stream_is_relayed_as_it_arrives(router: RouterProc, client: httpx.Client,
                                         worker: LlmWorker) -> None:
    router.put_routes({"ws/stream": model_endpoint(worker)})
    with client.stream("POST", "/endpoints/ws/stream/v1/chat/completions",
                       json=chat(True, "hold"), headers=bearer(), timeout=15) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        first = next(line for line in lines if line)
        # The worker is still waiting for the release: this event came before the stream ended.
        assert worker.streams_ended == 0 and not worker.release.is_set()
        assert json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
        worker.release.set()
        rest = list(lines)
    events = data_lines(iter(rest))
    assert events[-1] == "data: [DONE]"
    text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content", "")
                   for e in events[:-1])
    assert text == "".join(WORDS)
    assert worker.streams_ended == 1
    wait_for(lambda: router.get("/-/inflight")[worker.addr] == 0)


def test_worker_dying_mid_stream_ends_with_an_error_event(router: RouterProc,
                                                          client: httpx.Client,
                                                          worker: LlmWorker) -> None:
    router.put_routes({"ws/die": model_endpoint(worker)})
    with client.stream("POST", "/endpoints/ws/die/chat/completions",
                       json=chat(True, "die"), headers=bearer()) as resp:
        assert resp.status_code == 200
        events = data_lines(resp.iter_lines())
    assert len(events) == 2 and "[DONE]" not in events[-1]
    err = json.loads(events[-1][6:])["error"]
    assert (err["type"], err["code"], err["param"]) == ("server_error", "worker_lost", None)
    assert err["message"].startswith("deployment llm: the model server ended the stream early (")
    wait_for(lambda: router.get("/-/inflight")[worker.addr] == 0)
    metrics = router.get("/-/metrics")
    assert metrics["ws/die"]["llm"]["status_counts"] == {"502": 1}
    assert metrics["usage"]["ws/die"]["primary"]["requests"] == 1


def test_gap_past_the_timeout_ends_the_stream(router: RouterProc, client: httpx.Client,
                                              worker: LlmWorker) -> None:
    router.put_routes({"ws/gap": model_endpoint(worker, request_timeout_ms=1000)})
    with client.stream("POST", "/endpoints/ws/gap/v1/chat/completions",
                       json=chat(True, "hang"), headers=bearer()) as resp:
        events = data_lines(resp.iter_lines())
    err = json.loads(events[-1][6:])["error"]
    assert err["code"] == "worker_lost" and "no event within 1000 ms" in err["message"]
    assert worker.closed.wait(10)   # the router closed the worker's connection


def test_client_disconnect_closes_the_worker_connection(router: RouterProc,
                                                        client: httpx.Client,
                                                        worker: LlmWorker) -> None:
    router.put_routes({"ws/gone": model_endpoint(
        worker, max_concurrent_requests_per_instance=1, max_queue_wait_ms=0)})
    url = "/endpoints/ws/gone/v1/chat/completions"
    with client.stream("POST", url, json=chat(True, "hang"), headers=bearer()) as resp:
        lines = resp.iter_lines()   # kept: a dropped iterator would close the response
        assert next(line for line in lines if line).startswith("data: ")
        assert router.get("/-/inflight")[worker.addr] == 1
        assert not worker.closed.is_set()
    # Leaving the block before the end closed the client's connection.
    assert worker.closed.wait(10)
    wait_for(lambda: router.get("/-/inflight")[worker.addr] == 0)
    assert client.post(url, json=chat(), headers=bearer()).status_code == 200   # slot free
    assert router.get("/-/metrics")["usage"]["ws/gone"]["primary"] == {
        "requests": 2, "prompt_tokens": CHAT_USAGE[0], "completion_tokens": CHAT_USAGE[1]}


# -- metering --------------------------------------------------------------------------------

def test_usage_per_key_in_json_and_prometheus(router: RouterProc, client: httpx.Client,
                                              worker: LlmWorker) -> None:
    router.put_routes({"ws/meter": model_endpoint(worker)})
    url = "/endpoints/ws/meter/v1/chat/completions"
    for _ in range(2):
        assert client.post(url, json=chat(), headers=bearer(KEY1)).status_code == 200
    with client.stream("POST", url, json=chat(True), headers={"api-key": KEY2}) as resp:
        lines = list(resp.iter_lines())
    assert f": usage {STREAM_USAGE[0]} {STREAM_USAGE[1]}" in lines   # passed through
    assert data_lines(iter(lines))[-1] == "data: [DONE]"
    assert client.post("/endpoints/ws/meter/embeddings", json={"input": "x"},
                       headers=bearer(KEY2)).status_code == 200
    usage = router.get("/-/metrics")["usage"]["ws/meter"]
    assert usage == {
        "primary": {"requests": 2, "prompt_tokens": 2 * CHAT_USAGE[0],
                    "completion_tokens": 2 * CHAT_USAGE[1]},
        "secondary": {"requests": 2, "prompt_tokens": STREAM_USAGE[0] + 4,
                      "completion_tokens": STREAM_USAGE[1]}}
    assert router.get("/-/metrics")["ws/meter"]["llm"]["request_count"] == 4

    types, samples = parse_prometheus(router.get("/-/metrics/prometheus"))
    assert types["ember_endpoint_tokens_total"] == "counter"
    assert types["ember_endpoint_requests_total"] == "counter"
    found = {(name, tuple(sorted(labels.items()))): value for name, labels, value in samples
             if labels.get("endpoint") == "meter" and "key" in labels}

    def sample(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted({"workspace": "ws", "endpoint": "meter", **labels}.items()))
    assert found == {
        sample("ember_endpoint_requests_total", key="primary"): 2,
        sample("ember_endpoint_requests_total", key="secondary"): 2,
        sample("ember_endpoint_tokens_total", key="primary", kind="prompt"): 14,
        sample("ember_endpoint_tokens_total", key="primary", kind="completion"): 6,
        sample("ember_endpoint_tokens_total", key="secondary", kind="prompt"): 11,
        sample("ember_endpoint_tokens_total", key="secondary", kind="completion"): 4,
    }


# -- limits ----------------------------------------------------------------------------------

def test_requests_per_minute(router: RouterProc, client: httpx.Client,
                             worker: LlmWorker) -> None:
    router.put_routes({"ws/rpm": model_endpoint(worker, {"requests_per_minute": 2})})
    url = "/endpoints/ws/rpm/v1/chat/completions"
    for _ in range(2):
        assert client.post(url, json=chat(), headers=bearer()).status_code == 200
    resp = client.post(url, json=chat(), headers=bearer())
    assert_openai_error(resp, 429, "rate_limit_error", "rate_limit_exceeded")
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert "2 requests per minute" in resp.json()["error"]["message"]
    # The same limit on /score, in the scoring shape; refusals are not metered.
    resp = client.post("/endpoints/ws/rpm/score", json={}, headers=bearer())
    assert resp.status_code == 429 and resp.json()["error_code"] == "RATE_LIMIT_EXCEEDED"
    assert resp.headers["retry-after"].isdigit()
    assert len(worker.received) == 2
    assert router.get("/-/metrics")["usage"]["ws/rpm"]["primary"]["requests"] == 2
    # A table pushed again (as the control plane does on any change) keeps the window.
    router.put_routes({"ws/rpm": model_endpoint(worker, {"requests_per_minute": 2})})
    assert client.post(url, json=chat(), headers=bearer()).status_code == 429


def test_tokens_per_minute(router: RouterProc, client: httpx.Client, worker: LlmWorker
                           ) -> None:
    router.put_routes({"ws/tpm": model_endpoint(worker, {"tokens_per_minute": 15})})
    url = "/endpoints/ws/tpm/chat/completions"
    for _ in range(2):   # 10 tokens, then 20: the window is full after the second answer
        assert client.post(url, json=chat(), headers=bearer()).status_code == 200
    resp = client.post(url, json=chat(), headers=bearer())
    assert_openai_error(resp, 429, "rate_limit_error", "rate_limit_exceeded")
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert "15 tokens per minute" in resp.json()["error"]["message"]


def test_limits_window_with_a_fake_clock() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, None, lambda: now[0])
    assert limiter.admit() == (0, "")
    now[0] = 1010.0
    assert limiter.admit() == (0, "")
    now[0] = 1020.0
    assert limiter.admit() == (40, "2 requests per minute")   # the first leaves at 1060
    now[0] = 1059.5
    assert limiter.admit()[0] == 1                          # rounded up, never 0
    now[0] = 1060.0
    assert limiter.admit() == (0, "")
    now[0] = 1061.0
    assert limiter.admit()[0] == 9                          # the one of 1010 leaves at 1070

    tokens = RateLimiter(None, 100, lambda: now[0])
    now[0] = 0.0
    tokens.used(60)
    now[0] = 30.0
    assert tokens.admit() == (0, "")                         # 60 < 100
    tokens.used(50)
    now[0] = 31.0
    assert tokens.admit() == (29, "100 tokens per minute")   # 110: the 60 must leave
    now[0] = 60.0
    assert tokens.admit() == (0, "")                          # 50 left
    assert tokens.tokens.wait_below(90.0, 100) == 0 and tokens.tokens.total == 0

    window = Window()   # events closer than 100 ms share a bucket, which leaves with its last
    window.add(5.0, 1)
    window.add(5.05, 1)
    window.expire(65.0)
    assert window.total == 2
    window.expire(65.06)
    assert window.total == 0

    registry = LimiterRegistry(lambda: now[0])
    first = registry.configured("ws/e", 1, None)
    registry.replace({"ws/e": first})
    assert first.admit() == (0, "")
    again = registry.configured("ws/e", 1, 500)   # a new table: same window, new limits
    assert again.admit()[0] > 0 and again.tokens_per_minute == 500


def test_limits_in_the_table_are_checked() -> None:
    for bad in ({"requests_per_minute": 0}, {"tokens_per_minute": "10"},
                {"requests_per_minute": True}, {"burst": 3}, [1]):
        with pytest.raises(TableError):
            compile_table({"endpoints": {"ws/e": {"limits": bad}}}, {}, MetricsRegistry())
    table = compile_table({"endpoints": {"ws/e": {"limits": {"tokens_per_minute": 9}},
                                         "ws/f": {}}}, {}, MetricsRegistry())
    limiter = table.endpoints["ws/e"].limiter
    assert limiter is not None and (limiter.requests_per_minute, limiter.tokens_per_minute) == (
        None, 9)
    assert table.endpoints["ws/f"].limiter is None


# -- the openai client -----------------------------------------------------------------------

def test_openai_client_through_the_router(router: RouterProc, worker: LlmWorker) -> None:
    openai = pytest.importorskip("openai")
    router.put_routes({"ws/oai": model_endpoint(worker)})
    with openai.OpenAI(base_url=f"{router.url}/endpoints/ws/oai/v1", api_key=KEY1,
                       max_retries=0, timeout=30) as oai:
        stream = oai.chat.completions.create(model="ok", stream=True,
                                             messages=[{"role": "user", "content": "hi"}])
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream
                       if chunk.choices)
        assert text == "".join(WORDS)
        with pytest.raises(openai.APIError, match="ended the stream early"):
            for _chunk in oai.chat.completions.create(
                    model="die", stream=True, messages=[{"role": "user", "content": "hi"}]):
                pass
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{router.url}/endpoints/ws/oai/v1", api_key="wrong",
                          max_retries=0).models.list()
    assert router.get("/-/metrics")["usage"]["ws/oai"]["primary"] == {
        "requests": 2, "prompt_tokens": STREAM_USAGE[0], "completion_tokens": STREAM_USAGE[1]}

