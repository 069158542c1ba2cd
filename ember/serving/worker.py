"""The online deployment worker: loads one model and answers ``POST /score``.

Run as ``python -m ember.serving.worker <config.json>`` (a ``protocol.WorkerConfig``) by the
supervisor, one process per deployment instance, or as ``python .../worker.py <config.json>`` by
an environment's own python where ember is not installed (the helpers then load by path).
The HTTP surface is the one in
``ember/serving/protocol.py``. Standard library only at import time, so it starts in any
environment; MLflow, pandas and numpy are imported only for ``kind: mlflow`` (or by the user's
own scoring script).

Start-up: set ``AZUREML_MODEL_DIR`` and the deployment's environment variables, bind and start
answering (``GET /`` is live at once, ``/ready`` and ``/score`` say 503), load the model (or import
the scoring script and call ``init()``), then write the bound port to ``port_file`` — so a port
file means "ready". A failed load prints the traceback to stderr (the deployment log) and exits
with status 3. SIGTERM stops accepting, lets requests in flight finish (up to
``DRAIN_SECONDS``) and exits 0.

Per request the work is only: read the body, call the scorer, ``json.dumps`` the result. No
per-request log lines: the router measures traffic.
"""

from __future__ import annotations

import faulthandler
import hmac
import importlib
import importlib.util
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any


def _sibling(name: str) -> ModuleType:
    """One of the worker's helper modules, whether it runs as ``ember.serving.worker`` or as a
    file by a deployment environment's own python, where ember is not installed."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


if not __package__ and sys.path and sys.path[0] and \
        Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # Run as a file: python put ember/serving/ first on sys.path, where our module names
    # (router, protocol, ...) would shadow the user's; the helpers load by path instead.
    del sys.path[0]

if TYPE_CHECKING:
    from ember.serving import _worker_scoring as scoring
    from ember.serving._worker_scoring import Scorer
    from ember.serving.protocol import WorkerConfig
else:
    scoring = _sibling("_worker_scoring")

MAX_BODY_BYTES = 100 * 1024 * 1024
DRAIN_SECONDS = 5.0
# Idle keep-alive connections are closed after this long; clients must already cope with a
# server closing an idle connection (uvicorn's default is 5 s), so this only bounds idle threads.
IDLE_TIMEOUT_SECONDS = 300.0
LISTEN_BACKLOG = 128
EXIT_LOAD_FAILED = 3

JSON = "application/json"
# The router's secret header and the variable the supervisor passes it in (protocol.py).
WORKER_KEY_HEADER = "x-ember-worker-key"
WORKER_KEY_ENV = "EMBER_WORKER_KEY"


class WorkerHTTPServer(ThreadingHTTPServer):
    """A thread per connection; knows its scorer (None while loading) and what is in flight."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int],
                 handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.scorer: Scorer | None = None
        # A run() call older than this can only be one the router gave up on (its deadline
        # started before the call): the worker then says it is not live. None: never.
        self.stuck_after: float | None = None
        self.draining = False
        # The router's secret (``EMBER_WORKER_KEY``): every route but liveness and readiness
        # needs it in ``x-ember-worker-key``, so a local user who finds the loopback port
        # cannot score around the endpoint's keys. None (a worker started by hand): no check.
        self.worker_key: bytes | None = None
        self.inflight = 0
        self.idle = threading.Condition()
        super().__init__(address, handler or WorkerHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves socket.getfqdn(host): a DNS lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away; nothing to log
        super().handle_error(request, client_address)

    def authorized(self, headers: Any) -> bool:
        if self.worker_key is None:
            return True
        given = (headers.get(WORKER_KEY_HEADER) or "").encode("latin-1", "replace")
        return hmac.compare_digest(given, self.worker_key)

    def take_worker_key(self) -> None:
        """Read the router's secret from the environment and remove it, so the scoring code
        loaded next does not find it in ``os.environ`` (nor pass it to its children)."""
        key = os.environ.pop(WORKER_KEY_ENV, "")
        self.worker_key = key.encode() if key else None

    def begin(self) -> None:
        with self.idle:
            self.inflight += 1

    def end(self) -> None:
        with self.idle:
            self.inflight -= 1
            if not self.inflight:
                self.idle.notify_all()

    def stuck(self) -> str | None:
        """Why a new request could not enter run() in time, or None."""
        return stuck_reason(self.scorer, self.stuck_after)

    def drain(self, grace: float) -> None:
        """Stop accepting, then wait up to ``grace`` seconds for requests in flight to end."""
        self.draining = True
        self.shutdown()
        self.server_close()
        with self.idle:
            self.idle.wait_for(lambda: not self.inflight, timeout=grace)


class WorkerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on each accepted socket (StreamRequestHandler)
    timeout = IDLE_TIMEOUT_SECONDS
    server: WorkerHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.begin()
        try:
            path = self.path.partition("?")[0]
            if path not in ("/", "/ready") and not self.server.authorized(self.headers):
                self._unauthorized()
                return
            if path == "/":
                stuck = self.server.stuck()
                if stuck is None:
                    self._send(200, b'{"status": "alive"}')
                else:
                    self._error(503, "STUCK", stuck)
            elif path == "/ready":
                if self.server.scorer is None:
                    self._send(503, b'{"ready": false}')
                else:
                    self._send(200, b'{"ready": true}')
            elif path == "/score":
                self._error(405, "METHOD_NOT_ALLOWED", "use POST /score")
            else:
                self._error(404, "NOT_FOUND", f"no route {path}")
        finally:
            self.server.end()

    def do_POST(self) -> None:
        self.server.begin()
        try:
            if not self.server.authorized(self.headers):
                self._unauthorized()
                return
            body = self._read_body()
            if body is None:
                return
            path = self.path.partition("?")[0]
            if path != "/score":
                self._error(404, "NOT_FOUND", f"no route {path}")
                return
            scorer = self.server.scorer
            if scorer is None:
                self._error(503, "NOT_READY", "the model is still loading")
                return
            self._score(scorer, body)
        finally:
            self.server.end()

    def _score(self, scorer: Scorer, body: bytes) -> None:
        try:
            payload, content_type = scoring.encode_result(scorer(body))
        except scoring.BadRequest as exc:
            self._error(400, "BAD_REQUEST", str(exc))
        except Exception as exc:  # noqa: BLE001 - the user-code boundary
            # The caller sees the error's type and message; the deployment log gets the traceback.
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            self._error(500, "USER_ERROR", f"{type(exc).__name__}: {exc}")
        else:
            self._send(200, payload, content_type)

    def _read_body(self) -> bytes | None:
        """The request body, or None when an error reply was sent instead."""
        headers = self.headers
        if headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(411, "LENGTH_REQUIRED", "send the body with a Content-Length")
            return None
        length_header = headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError(length_header)
        except ValueError:
            self.close_connection = True
            self._error(400, "BAD_REQUEST", f"invalid Content-Length {length_header!r}")
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is left unread
            self._error(413, "PAYLOAD_TOO_LARGE",
                        f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES}")
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise ConnectionError("client closed the connection mid-body")
        return body

    def _unauthorized(self) -> None:
        self.close_connection = True   # any body is left unread
        self._error(401, "UNAUTHORIZED", "call the endpoint through the router, with its key")

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, json.dumps({"error_code": code, "message": message}).encode())

    def _send(self, status: int, body: bytes, content_type: str = JSON) -> None:
        if self.server.draining:
            self.close_connection = True
        head = (f"HTTP/1.1 {status} {self.responses[status][0]}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n")
        if self.close_connection:
            head += "Connection: close\r\n"
        elif self.request_version == "HTTP/1.0":
            head += "Connection: keep-alive\r\n"
        data = (head + "\r\n").encode("latin-1")
        # One write (one TCP segment with NODELAY) for the usual small reply.
        if len(body) <= 65536:
            self.wfile.write(data + body)
        else:
            self.wfile.write(data)
            self.wfile.write(body)


class _Stopped(BaseException):
    """SIGTERM arrived while the model was still loading."""


def stuck_reason(scorer: Any, stuck_after: float | None) -> str | None:
    """Why a new request could not enter ``scorer``'s run() in time (a run() held past the
    request timeout blocks every call), or None."""
    blocked_for = getattr(scorer, "blocked_for", None)
    if stuck_after is None or blocked_for is None:
        return None
    held = float(blocked_for())
    if held <= stuck_after:
        return None
    return (f"run() has not returned for {held * 1000:.0f} ms (request_timeout_ms "
            f"{stuck_after * 1000:.0f}); no other request can enter it")


def apply_environment(config: WorkerConfig) -> None:
    """The deployment's variables, then ``AZUREML_MODEL_DIR`` (the platform's value wins);
    with data collections a scoring script logs to, ``azureml.ai.monitoring``'s Collector."""
    for name, value in (config.get("environment_variables") or {}).items():
        os.environ[name] = str(value)
    if config.get("model_dir"):
        os.environ["AZUREML_MODEL_DIR"] = str(config["model_dir"])
    collections = config.get("data_collections")
    if collections:
        os.environ["EMBER_DATA_COLLECTIONS"] = json.dumps(collections)
        try:
            found = importlib.util.find_spec("azureml.ai.monitoring") is not None
        except ImportError:   # no azureml (or azureml.ai) package at all
            found = False
        if not found:   # Ember's Collector, when azureml-ai-monitoring is not installed
            sys.path.append(str(Path(__file__).with_name("_compat")))


def load_scorer(config: WorkerConfig) -> Scorer:
    kind = config.get("kind")
    if kind == "script":
        code_dir, script = config.get("code_dir"), config.get("scoring_script")
        if not code_dir or not script:
            raise ValueError("kind 'script' needs code_dir and scoring_script")
        return scoring.load_script(Path(code_dir), script)
    if kind == "mlflow":
        model_path = config.get("model_path")
        if not model_path:
            raise ValueError("kind 'mlflow' needs model_path")
        return _sibling("_worker_mlflow").MlflowScorer(model_path)
    raise ValueError(f"unknown worker kind {kind!r} (expected 'script' or 'mlflow')")


def write_port_file(path: str, port: int) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(str(port))
    os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ember.serving.worker <config.json>", file=sys.stderr)
        return 2
    config: WorkerConfig = json.loads(Path(args[0]).read_text())
    name = "/".join(str(config.get(k, "?")) for k in ("workspace", "endpoint", "deployment"))
    apply_environment(config)
    server = WorkerHTTPServer((config.get("host") or "127.0.0.1", int(config.get("port") or 0)))
    server.take_worker_key()
    if config.get("request_timeout_ms"):
        server.stuck_after = int(config["request_timeout_ms"]) / 1000.0
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        if server.scorer is None:
            raise _Stopped

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.scorer = load_scorer(config)
    except _Stopped:
        return 0
    except BaseException:  # noqa: BLE001 - whatever init raises ends the worker
        print(f"ember worker {name}: failed to load the model ({config.get('kind')}):",
              file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_LOAD_FAILED
    write_port_file(config["port_file"], server.server_port)
    print(f"ember worker {name}: ready on {server.server_name}:{server.server_port}",
          file=sys.stderr, flush=True)
    while not stop.wait(1.0):
        pass
    stuck = server.stuck()
    if stuck is not None:   # say where, before the supervisor's SIGKILL
        print(f"ember worker {name}: stopping while {stuck}; its threads:", file=sys.stderr,
              flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
    server.drain(DRAIN_SECONDS)
    print(f"ember worker {name}: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: threads the user's code started (non-daemon) must not keep a stopped worker alive.
    os._exit(code)
