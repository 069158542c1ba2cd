"""The HTTP handler that the flow worker and the language-model worker share: liveness and
readiness, a body read with its limits, the service's answer written whole or as a chunked
server-sent event stream. What differs is small and a subclass says it: where the service is,
how an error looks in its API, and how a stream is stopped when its client goes away."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from ember.serving.worker import WorkerHTTPServer


class Answer(Protocol):
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


class Service(Protocol):
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any: ...


class ServiceHandler(BaseHTTPRequestHandler):
    """One request to a worker's service; subclasses fill in the hooks below."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 300.0                 # an idle keep-alive connection is closed after this
    max_body_bytes = 16 * 1024 * 1024
    alive_methods: tuple[str, ...] = ("GET", "POST")   # what ``/`` answers as liveness
    stream_type: type = type(None)  # the service's streamed answer (``events`` + a stop)
    server: WorkerHTTPServer

    # --- hooks ---

    def service(self) -> Service | None:
        """The loaded service, or None while it loads."""
        raise NotImplementedError

    def error(self, status: int, message: str, code: str) -> Answer:
        """An error in the service's own API shape."""
        raise NotImplementedError

    def not_ready(self) -> Answer:
        return self.error(503, "still loading", "not_ready")

    def stop_stream(self, stream: Any) -> None:
        """The client went away mid-stream: stop what produces it."""
        raise NotImplementedError

    # --- the request ---

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        self.server.begin()
        try:
            path = self.path.partition("?")[0]
            if path == "/" and method in self.alive_methods:
                return self._reply(_Plain(200, b'{"status": "alive"}'))
            if path == "/ready":
                ready = self.service() is not None
                return self._reply(_Plain(200 if ready else 503,
                                          json.dumps({"ready": ready}).encode()))
            if not self.server.authorized(self.headers):
                self.close_connection = True   # any body is left unread
                return self._reply(self.error(
                    401, "call the endpoint through the router, with its key", "unauthorized"))
            body = self._read_body() if method == "POST" else b""
            if body is None:
                return
            service = self.service()
            if service is None:
                return self._reply(self.not_ready())
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = service.handle(method, path, headers, body)
            if isinstance(answer, self.stream_type):
                self._stream(answer)
            else:
                self._reply(answer)
        finally:
            self.server.end()

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._reply(self.error(411, "send the body with a Content-Length",
                                   "length_required"))
            return None
        raw = self.headers.get("Content-Length") or "0"
        if not raw.isdigit():
            self.close_connection = True
            self._reply(self.error(400, f"invalid Content-Length {raw!r}", "bad_request"))
            return None
        length = int(raw)
        if length > self.max_body_bytes:
            self.close_connection = True
            self._reply(self.error(413, f"request body of {length} bytes exceeds the limit of "
                                   f"{self.max_body_bytes}", "payload_too_large"))
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise ConnectionError("client closed the connection mid-body")
        return body

    def _head(self, status: int, content_type: str, extra: dict[str, str]) -> str:
        if self.server.draining:
            self.close_connection = True
        head = f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n" \
               f"Content-Type: {content_type}\r\n"
        for name, value in extra.items():
            head += f"{name}: {value}\r\n"
        if self.close_connection:
            head += "Connection: close\r\n"
        return head

    def _reply(self, reply: Answer) -> None:
        head = self._head(reply.status, reply.content_type, reply.headers)
        head += f"Content-Length: {len(reply.body)}\r\n\r\n"
        self.wfile.write(head.encode("latin-1") + reply.body)

    def _stream(self, stream: Any) -> None:
        events: Iterator[bytes] = stream.events
        head = self._head(200, "text/event-stream", {"Cache-Control": "no-cache",
                                                     "Transfer-Encoding": "chunked"})
        try:
            self.wfile.write((head + "\r\n").encode("latin-1"))
            for event in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, TimeoutError):
            self.stop_stream(stream)
            self.close_connection = True


class _Plain:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        self.content_type = "application/json"
        self.headers: dict[str, str] = {}
