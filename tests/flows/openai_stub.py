"""A deterministic OpenAI-compatible server for the flow tests (stdlib only, 127.0.0.1, port 0).

The real ``openai`` client talks real HTTP to it, so the tests check what goes over the wire.

- ``POST /v1/chat/completions`` (and Azure's ``/openai/deployments/<d>/chat/completions``): the
  reply is ``"echo: " + <last user message>``; with ``tools`` it calls the first tool instead.
- ``POST /v1/completions``: ``"echo: " + <prompt>``.
- ``POST /v1/embeddings``: a 4-float vector computed from the text.
- Usage counts words: prompt tokens = words of all messages (or the prompt), completion tokens =
  words of the reply. ``stream: true`` answers SSE, one chunk per word, a usage chunk when
  ``stream_options.include_usage``, then ``[DONE]``.
- ``fail(status, count, retry_after)`` answers the next ``count`` requests with that status;
  ``hang(event, count)`` holds the next ``count`` requests until the event is set;
  ``stall_stream(event)`` stops the next stream after its first chunk until the event is set.
- ``requests`` records each request (path, query, lower-cased headers, JSON body).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    body: dict[str, Any]


@dataclass
class OpenAIStub:
    requests: list[Recorded] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _hangs: list[threading.Event] = field(default_factory=list)
    _all_hangs: list[threading.Event] = field(default_factory=list)
    _stalls: list[threading.Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for event in self._all_hangs:
            event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, status: int, count: int = 1, retry_after: str | None = "0",
             body: dict[str, Any] | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (and ``Retry-After``)."""
        err = body or {"error": {"message": f"stub says {status}", "type": "stub",
                                 "code": None}}
        with self._lock:
            self._failures.extend(_Failure(status, retry_after, err) for _ in range(count))

    def hang(self, event: threading.Event, count: int = 1) -> None:
        """Hold the next ``count`` requests until ``event`` is set (then answer normally)."""
        with self._lock:
            self._hangs.extend([event] * count)
            self._all_hangs.append(event)

    def stall_stream(self, event: threading.Event) -> None:
        """Stop the next streamed answer after its first chunk until ``event`` is set."""
        with self._lock:
            self._stalls.append(event)
            self._all_hangs.append(event)

    def _next(self) -> tuple[_Failure | None, threading.Event | None]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            hang = self._hangs.pop(0) if self._hangs and failure is None else None
            return failure, hang


def _words(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    if isinstance(content, list):   # content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        try:
            self._post()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test): nothing to answer.
            self.close_connection = True

    def _post(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        stub = self.owner
        with stub._lock:
            stub.requests.append(Recorded(parts.path, parse_qs(parts.query),
                                          {k.lower(): v for k, v in self.headers.items()},
                                          body))
        failure, hang = stub._next()
        if hang is not None:
            hang.wait(timeout=30)
        if failure is not None:
            headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
            return self._json(failure.status, failure.body, headers)
        path = parts.path
        deployment = re.match(r"^/openai/deployments/([^/]+)/", path)
        model = body.get("model") or (deployment.group(1) if deployment else "stub-model")
        if path.endswith("/chat/completions"):
            return self._chat(body, model)
        if path.endswith("/completions"):
            return self._completion(body, model)
        if path.endswith("/embeddings"):
            text = body.get("input")
            text = text[0] if isinstance(text, list) else str(text)
            vector = [float(len(text)), float(_words(text)), float(sum(map(ord, text)) % 97),
                      0.5]
            return self._json(200, {"object": "list", "model": model, "data": [
                {"object": "embedding", "index": 0, "embedding": vector}],
                "usage": {"prompt_tokens": _words(text), "total_tokens": _words(text)}})
        return self._json(404, {"error": {"message": f"no route {path}"}})

    def _chat(self, body: dict[str, Any], model: str) -> None:
        messages = body.get("messages") or []
        prompt_tokens = sum(_words(_text_of(m.get("content"))) for m in messages)
        last_user = next((_text_of(m.get("content")) for m in reversed(messages)
                          if m.get("role") == "user"), "")
        reply = f"echo: {last_user}"
        message: dict[str, Any] = {"role": "assistant", "content": reply}
        finish = "stop"
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": name, "arguments": json.dumps({"q": last_user})}}]}
            finish = "tool_calls"
            reply = ""
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": _words(reply),
                 "total_tokens": prompt_tokens + _words(reply)}
        base = {"id": "chatcmpl-stub", "created": 1700000000, "model": model}
        if body.get("stream"):
            chunks = [{**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""},
                 "finish_reason": None}]}]
            chunks += [{**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                for piece in re.findall(r"\S+\s*", reply)]
            chunks.append({**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": {}, "finish_reason": finish}]})
            return self._sse(chunks, body, base, usage, "chat.completion.chunk")
        return self._json(200, {**base, "object": "chat.completion", "choices": [
            {"index": 0, "message": message, "finish_reason": finish}], "usage": usage})

    def _completion(self, body: dict[str, Any], model: str) -> None:
        prompt = body.get("prompt")
        prompt = prompt[0] if isinstance(prompt, list) else str(prompt or "")
        reply = f"echo: {prompt.strip()}"
        usage = {"prompt_tokens": _words(prompt), "completion_tokens": _words(reply),
                 "total_tokens": _words(prompt) + _words(reply)}
        base = {"id": "cmpl-stub", "created": 1700000000, "model": model}
        if body.get("stream"):
            chunks = [{**base, "object": "text_completion", "choices": [
                {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}]}
                for piece in re.findall(r"\S+\s*", reply)]
            return self._sse(chunks, body, base, usage, "text_completion")
        return self._json(200, {**base, "object": "text_completion", "choices": [
            {"index": 0, "text": reply, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage})

    def _sse(self, chunks: list[dict[str, Any]], body: dict[str, Any], base: dict[str, Any],
             usage: dict[str, Any], obj: str) -> None:
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks = [{**c, "usage": None} for c in chunks]
            chunks.append({**base, "object": obj, "choices": [], "usage": usage})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        with self.owner._lock:
            stall = self.owner._stalls.pop(0) if self.owner._stalls else None
        for i, chunk in enumerate(chunks):
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            if i == 0 and stall is not None:
                self.wfile.flush()
                stall.wait(timeout=30)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _json(self, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
