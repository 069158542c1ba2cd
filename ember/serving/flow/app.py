"""The HTTP surface of a served prompt flow, shared by ``ember pf flow serve`` and a flow
deployment's worker (``protocol.py``, "Flow workers").

promptflow's serving surface: ``POST /score`` with a JSON object keyed by the flow's inputs
(a flow with one input also takes any other body as that input's value), the outputs as a JSON
object, errors as ``{"error": {"code": "UserError"|"SystemError", "message"}}``;
``GET /health``, ``/version`` and ``/swagger.json``; and the worker protocol's ``GET /``
(liveness) and ``GET /ready``. Streaming is negotiated by ``Accept``: when the client accepts
``text/event-stream`` and an output is a generator, the answer is Server-Sent Events, one
``data: {"<output>": "<delta>"}`` per piece (chunked); otherwise generator outputs are joined
into the JSON answer.

Threads: the stdlib threaded HTTP server gives each connection a thread; the flow executor is
asyncio, so one event loop runs in a background thread and each request's ``run_line`` is
submitted to it (``run_coroutine_threadsafe``). Requests therefore overlap: an LLM-bound flow
waits on many model calls at once, and synchronous tools run on the executor's own thread pool.
No framework: the surface is five routes, and the worker must start fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember import __version__
from ember.errors import NotFoundError, ServerUnavailableError
from ember.flows.connections import ConnectionProvider
from ember.flows.dag import MISSING, Flow
from ember.flows.executor import FlowExecutor, LineResult
from ember.flows.loader import load_flow
from ember.flows.remote import HttpConnectionProvider, TraceExporter
from ember.flows.trace import Span
from ember.serving._service_handler import ServiceHandler
from ember.serving.worker import MAX_BODY_BYTES, WorkerHTTPServer

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
IDLE_TIMEOUT_SECONDS = 300.0
USER_ERROR = "UserError"
SYSTEM_ERROR = "SystemError"

# flow input type -> JSON schema type (swagger.json)
_SCHEMA_TYPES = {"string": "string", "int": "integer", "double": "number", "bool": "boolean",
                 "list": "array", "object": "object", "image": "string"}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class EventStream:
    """An SSE answer: ``events`` yields each event's bytes; ``close`` stops the generators
    behind it when the client goes away."""

    events: Iterator[bytes]
    close: Any


def error_reply(status: int, code: str, message: str) -> Reply:
    return Reply(status, json.dumps({"error": {"code": code, "message": message}}).encode())


def _dumps(value: Any) -> bytes:
    # Outputs are whatever the tools returned: anything JSON cannot take is sent as its str().
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")


# --- connections -----------------------------------------------------------------------------

def env_name(connection: str, key: str) -> str:
    """``<CONN>_<KEY>`` as promptflow's serving reads it: upper case, non-word characters as
    ``_`` (``my-conn`` + ``api_key`` -> ``MY_CONN_API_KEY``)."""
    return re.sub(r"\W", "_", f"{connection}_{key}").upper()


class EnvOverrides:
    """A connection provider whose fields environment variables override, as promptflow's
    serving does: ``<CONN>_<KEY>`` (see :func:`env_name`, or the exact ``<conn>_<key>``)
    replaces that field (inside ``configs``/``secrets`` for a custom connection). This is how a
    served flow is given a secret without storing it anywhere."""

    def __init__(self, inner: ConnectionProvider | None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.inner = inner
        self.environ = os.environ if environ is None else environ

    def _override(self, name: str, key: str) -> str | None:
        for var in (f"{name}_{key}", env_name(name, key)):
            if var in self.environ:
                return self.environ[var]
        return None

    def get(self, name: str) -> dict[str, Any]:
        if self.inner is None:
            raise NotFoundError(f"connection {name!r} not found: this flow is served without "
                                "a connection source (an Ember server)")
        plain = dict(self.inner.get(name))
        for key in list(plain):
            if key in ("name", "type"):
                continue
            value = plain[key]
            if isinstance(value, dict) and key in ("configs", "secrets"):
                inner = dict(value)
                for sub in inner:
                    found = self._override(name, sub)
                    if found is not None:
                        inner[sub] = found
                plain[key] = inner
                continue
            found = self._override(name, key)
            if found is not None:
                plain[key] = found
        return plain


class ServerConnections:
    """Connections read from the Ember server (``listsecrets``), found through its
    ``server.json`` (re-read when the server is unreachable: it may have come back on another
    port) or a fixed URL. Nothing is written to disk; each connection is fetched once."""

    def __init__(self, workspace: str, *, server_file: str | Path | None = None,
                 base_url: str | None = None) -> None:
        self.workspace = workspace
        self.server_file = Path(server_file) if server_file else None
        self.base_url = base_url
        self._provider: HttpConnectionProvider | None = None
        self._lock = threading.Lock()

    def url(self) -> str | None:
        if self.server_file is not None:
            try:
                url = json.loads(self.server_file.read_text()).get("url")
                if url:
                    return str(url)
            except (OSError, ValueError, AttributeError):
                pass
        return self.base_url

    def _current(self, fresh: bool) -> HttpConnectionProvider:
        with self._lock:
            url = self.url() if fresh or self._provider is None else self._provider.base_url
            if not url:
                raise ServerUnavailableError(
                    "no Ember server to read connections from (start one with `ember server "
                    "start`), or give each field as a <CONN>_<KEY> environment variable")
            if self._provider is None or self._provider.base_url != url.rstrip("/"):
                self._provider = HttpConnectionProvider(url, self.workspace)
            return self._provider

    def get(self, name: str) -> dict[str, Any]:
        try:
            return self._current(False).get(name)
        except ServerUnavailableError:
            return self._current(True).get(name)


# --- traces ----------------------------------------------------------------------------------

class TraceSink:
    """Sends each request's spans to the workspace's MLflow traces (``POST <tracking
    uri>/v1/traces``) from a background thread, so a request never waits on it. Enabled by
    ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_ID``, the variables a job's MLflow code
    reads. Bounded: when the server falls behind, spans are dropped and counted, not queued
    without end; a server that refuses traces is reported once (``TraceExporter``)."""

    MAX_PENDING = 1000

    def __init__(self, tracking_uri: str, experiment_id: str) -> None:
        self.exporter = TraceExporter(tracking_uri, experiment_id)
        self.dropped = 0
        self._queue: queue.Queue[list[Span] | None] = queue.Queue(self.MAX_PENDING)
        self._thread = threading.Thread(target=self._run, name="flow-traces", daemon=True)
        self._thread.start()

    @classmethod
    def from_environment(cls, server_url: str | None = None,
                         workspace: str | None = None) -> TraceSink | None:
        """A sink when ``MLFLOW_EXPERIMENT_ID`` is set, to ``MLFLOW_TRACKING_URI`` or else the
        deployment's own server and workspace; None otherwise."""
        experiment = os.environ.get("MLFLOW_EXPERIMENT_ID")
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (
            f"{server_url.rstrip('/')}/workspaces/{workspace}" if server_url and workspace
            else "")
        if not experiment or not uri.startswith(("http://", "https://")):
            return None
        return cls(uri, experiment)

    def submit(self, spans: list[Span]) -> None:
        if not spans:
            return
        try:
            self._queue.put_nowait(spans)
        except queue.Full:
            self.dropped += len(spans)

    def _run(self) -> None:
        while (spans := self._queue.get()) is not None:
            try:
                self.exporter.export(spans)
            except Exception as exc:  # noqa: BLE001 - traces are a record, never the answer
                print(f"flow traces: export failed: {exc!r}", file=sys.stderr, flush=True)
            finally:
                self._queue.task_done()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to ``timeout``), then stop."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
        self.exporter.close()


# --- the flow service --------------------------------------------------------------------------

class FlowService:
    """One loaded flow and the event loop its lines run on. ``handle`` turns a request into a
    :class:`Reply` or an :class:`EventStream`; it is called from many threads at once."""

    def __init__(self, source: str | Path, connections: ConnectionProvider, *,
                 variant: str | None = None, request_timeout_s: float | None = None,
                 traces: TraceSink | None = None) -> None:
        self.flow: Flow = load_flow(source, variant)
        self.request_timeout_s = request_timeout_s
        self.traces = traces
        # Two executors: a JSON answer wants whole outputs (an llm node then makes one
        # non-streamed call), an SSE answer wants the generators.
        self.executor = FlowExecutor(self.flow, connections)
        self.stream_executor = FlowExecutor(self.flow, connections, stream=True)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="flow-loop",
                                        daemon=True)
        self._thread.start()
        self.swagger = _dumps(swagger(self.flow))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if self.traces is not None:
            self.traces.close()

    # -- routes --------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> Reply | EventStream:
        if path == "/score":
            if method != "POST":
                return error_reply(405, USER_ERROR, "use POST /score")
            return self.score(headers, body)
        if method != "GET":
            return error_reply(405, USER_ERROR, f"use GET {path}")
        if path == "/health":
            return Reply(200, _dumps({"status": "Healthy", "version": __version__}))
        if path == "/version":
            return Reply(200, _dumps({"status": "Healthy", "version": __version__,
                                      "build_info": json.dumps({"version": __version__})}))
        if path == "/swagger.json":
            return Reply(200, self.swagger)
        return error_reply(404, USER_ERROR, f"no route {path}")

    def score(self, headers: Mapping[str, str], body: bytes) -> Reply | EventStream:
        accept = headers.get("accept") or "*/*"
        wants_stream, wants_json = negotiate(accept)
        if not (wants_stream or wants_json):
            return error_reply(406, USER_ERROR, f"media type {accept!r} in the Accept header "
                               f"is not acceptable; supported: {JSON}, {EVENT_STREAM}")
        inputs = self.parse_inputs(body)
        if isinstance(inputs, Reply):
            return inputs
        executor = self.stream_executor if wants_stream else self.executor
        try:
            result = self.run(executor.run_line(inputs))
        except TimeoutError:
            return error_reply(504, SYSTEM_ERROR, "the flow did not finish within "
                               f"{self.request_timeout_s:g} s")
        except Exception:  # noqa: BLE001 - the engine failed, not the user's node
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            return error_reply(500, SYSTEM_ERROR, "the flow engine failed; see the log")
        finally:
            self._flush_spans(executor)
        if result.status != "Completed":
            return self.failed(result)
        outputs = result.outputs
        if wants_stream and any(_is_generator(v) for v in outputs.values()):
            return self.event_stream(outputs, executor)
        try:
            joined = {name: self.join(value) for name, value in outputs.items()}
        except Exception as exc:  # noqa: BLE001 - a generator tool raised mid-way
            traceback.print_exc(file=sys.stderr)
            return error_reply(500, USER_ERROR, f"({type(exc).__name__}) {exc}")
        return Reply(200, _dumps(joined))

    def parse_inputs(self, body: bytes) -> dict[str, Any] | Reply:
        """The request's flow inputs. A JSON object is keyed by input name (keys the flow does
        not have are ignored, as promptflow does); a flow with one input takes any other body
        (a JSON value, or text) as that input's value."""
        names = list(self.flow.inputs)
        try:
            value: Any = json.loads(body) if body.strip() else {}
        except ValueError:
            if len(names) != 1:
                return error_reply(400, USER_ERROR, "the request body must be a JSON object "
                                   f"keyed by the flow's inputs ({', '.join(names) or 'none'})")
            try:
                return {names[0]: body.decode("utf-8")}
            except UnicodeDecodeError:
                return error_reply(400, USER_ERROR, "the request body is not UTF-8 text")
        if isinstance(value, dict):
            missing = [n for n, spec in self.flow.inputs.items()
                       if n not in value and spec.default is MISSING]
            if missing:
                return error_reply(400, USER_ERROR, "missing flow input(s) without a default: "
                                   + ", ".join(missing))
            return {k: v for k, v in value.items() if k in self.flow.inputs}
        if len(names) == 1:
            return {names[0]: value}
        return error_reply(400, USER_ERROR, "the request body must be a JSON object keyed by "
                           f"the flow's inputs ({', '.join(names) or 'none'})")

    def failed(self, result: LineResult) -> Reply:
        error = result.error or {}
        message = str(error.get("message") or "the flow failed")
        if error.get("type") == "InvalidInputError":     # a bad input value: the caller's fault
            return error_reply(400, USER_ERROR, message)
        if error.get("traceback"):
            print(f"flow {self.flow.name}: {message}\n{error['traceback']}", file=sys.stderr,
                  flush=True)
        else:
            print(f"flow {self.flow.name}: {message}", file=sys.stderr, flush=True)
        return error_reply(500, USER_ERROR, message)

    # -- running on the loop -------------------------------------------------------------------

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on the flow's loop and wait for it from this (handler) thread."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.request_timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def _flush_spans(self, executor: FlowExecutor) -> None:
        # The executor's tracer keeps every finished span: a long-lived server hands them to
        # the sink, or drops them.
        spans = executor.tracer.take()
        if self.traces is not None:
            self.traces.submit(spans)

    def join(self, value: Any) -> Any:
        if not _is_generator(value):
            return value
        return "".join(str(piece) for piece in self.pieces(value))

    def pieces(self, value: Any) -> Iterator[Any]:
        """The items of a sync generator (run in this thread) or an async one (each step on the
        flow's loop)."""
        if isinstance(value, AsyncIterator):
            while True:
                try:
                    yield self.run(value.__anext__())
                except StopAsyncIteration:
                    return
        else:
            yield from value

    def event_stream(self, outputs: dict[str, Any], executor: FlowExecutor) -> EventStream:
        plain = {k: v for k, v in outputs.items() if not _is_generator(v)}
        gens = [(k, v) for k, v in outputs.items() if _is_generator(v)]

        def events() -> Iterator[bytes]:
            if plain:
                yield b"data: " + _dumps(plain) + b"\n\n"
            try:
                for name, gen in gens:
                    for piece in self.pieces(gen):
                        yield b"data: " + _dumps({name: piece}) + b"\n\n"
            except Exception as exc:  # noqa: BLE001 - the status is sent: say it in-stream
                traceback.print_exc(file=sys.stderr)
                yield b"data: " + _dumps({"error": {"code": USER_ERROR, "message":
                                                    f"({type(exc).__name__}) {exc}"}}) + b"\n\n"
            finally:
                self._flush_spans(executor)   # an llm call's span ends with its stream

        def close() -> None:
            for name, gen in gens:
                try:
                    if isinstance(gen, AsyncIterator):
                        self.run(gen.aclose())    # type: ignore[attr-defined]
                    else:
                        gen.close()
                except Exception as exc:  # noqa: BLE001 - best effort on a client that left
                    print(f"flow {self.flow.name}: closing output {name!r}: {exc!r}",
                          file=sys.stderr, flush=True)

        return EventStream(events(), close)


def _is_generator(value: Any) -> bool:
    return isinstance(value, AsyncIterator) or (
        isinstance(value, Iterator) and not isinstance(value, (str, bytes, dict, list)))


def negotiate(accept: str) -> tuple[bool, bool]:
    """(event stream asked for, JSON acceptable) for an ``Accept`` header; ``q=0`` excludes."""
    stream = plain = False
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if re.search(r"(?:^|;)\s*q\s*=\s*0(?:\.0*)?\s*(?:;|$)", params):
            continue
        if media == EVENT_STREAM:
            stream = True
        if media in ("*/*", "application/*", JSON):
            plain = True
    # Only a client that names text/event-stream gets a stream (an HTTP library's default
    # */* wants JSON); one that takes only the stream still gets JSON from a flow whose outputs
    # are not generators, as promptflow does: the header allows, the flow decides.
    return stream, plain or stream


def swagger(flow: Flow) -> dict[str, Any]:
    """An OpenAPI 3 description of ``POST /score`` for this flow."""
    props = {}
    for name, spec in flow.inputs.items():
        prop: dict[str, Any] = {"type": _SCHEMA_TYPES.get(spec.type, "string")}
        if spec.default is not MISSING:
            prop["default"] = spec.default
        if spec.description:
            prop["description"] = spec.description
        props[name] = prop
    required = [n for n, s in flow.inputs.items() if s.default is MISSING]
    request: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        request["required"] = required
    response = {"type": "object", "properties": {
        name: {"type": _SCHEMA_TYPES.get(out.type, "string")} for name, out in flow.outputs.items()}}
    error = {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}
    return {
        "openapi": "3.0.0",
        "info": {"title": f"Prompt flow {flow.name}", "version": "1.0",
                 "description": flow.description or f"Serving flow {flow.name}"},
        "paths": {"/score": {"post": {
            "summary": "run the flow on one set of inputs",
            "requestBody": {"required": True, "content": {JSON: {"schema": request}}},
            "responses": {
                "200": {"description": "the flow's outputs",
                        "content": {JSON: {"schema": response},
                                    EVENT_STREAM: {"schema": {"type": "object"}}}},
                "400": {"description": "bad inputs", "content": {JSON: {"schema": error}}},
                "500": {"description": "a node failed", "content": {JSON: {"schema": error}}},
            }}}},
    }


# --- HTTP ------------------------------------------------------------------------------------

class FlowHTTPServer(WorkerHTTPServer):
    """The scoring worker's server (a thread per connection, in-flight count, drain) with the
    flow handler; ``service`` is None while the flow loads."""

    request_queue_size = 256

    def __init__(self, address: tuple[str, int]) -> None:
        self.service: FlowService | None = None
        super().__init__(address, FlowHandler)


class FlowHandler(ServiceHandler):
    """The shared worker handler (``serving/_service_handler.py``) with the flow's service,
    promptflow's error shape and a ``GET /`` liveness."""

    timeout = IDLE_TIMEOUT_SECONDS
    max_body_bytes = MAX_BODY_BYTES
    alive_methods = ("GET",)
    stream_type = EventStream
    server: FlowHTTPServer

    def service(self) -> FlowService | None:
        return self.server.service

    def error(self, status: int, message: str, code: str) -> Reply:
        return error_reply(status, USER_ERROR if status < 500 else SYSTEM_ERROR, message)

    def not_ready(self) -> Reply:
        return error_reply(503, SYSTEM_ERROR, "the flow is still loading")

    def stop_stream(self, stream: EventStream) -> None:
        stream.close()


__all__ = ["EnvOverrides", "EventStream", "FlowHTTPServer", "FlowService", "Reply",
           "ServerConnections", "TraceSink", "env_name", "negotiate", "swagger"]
