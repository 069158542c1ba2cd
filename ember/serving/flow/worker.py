"""The flow worker: ``python -m ember.serving.flow.worker <config.json>`` (a
``protocol.FlowWorkerConfig``), and :func:`serve_flow`, what ``ember pf flow serve`` runs in the
foreground.

As a deployment worker it obeys ``protocol.py``: it binds and answers ``GET /`` at once, loads
the flow (its python tools imported, its executors built), then writes its port file (ready). A
flow that does not load prints why to the deployment log and exits with status 3. Connections
come from the Ember server (``listsecrets``), found through the server's ``server.json``: no
secret is written to disk. SIGTERM stops accepting, lets requests in flight finish (up to
``DRAIN_SECONDS``) and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ember.flows.connections import ConnectionProvider
from ember.serving.flow.app import (
    EnvOverrides,
    FlowHTTPServer,
    FlowService,
    ServerConnections,
    TraceSink,
)
from ember.serving.worker import write_port_file
from ember.settings import default_home

DRAIN_SECONDS = 10.0
EXIT_LOAD_FAILED = 3


def _default_connections() -> ConnectionProvider:
    """``pf flow serve`` without explicit connections: the local Ember server's (the one
    ``EMBER_ENDPOINT`` names, else the one running under ``EMBER_HOME``), workspace
    ``EMBER_WORKSPACE`` or ``default``; looked up only when a node needs a connection."""
    return ServerConnections(os.environ.get("EMBER_WORKSPACE") or "default",
                             server_file=None if os.environ.get("EMBER_ENDPOINT")
                             else default_home() / "server.json",
                             base_url=os.environ.get("EMBER_ENDPOINT") or None)


def _wait(stop: threading.Event) -> None:
    while not stop.wait(1.0):
        pass


def serve_flow(source: Path, *, host: str = "127.0.0.1", port: int = 8080,
               environment_variables: dict[str, str] | None = None,
               connections: ConnectionProvider | None = None,
               variant: str | None = None) -> None:
    """Serve the flow in ``source`` on ``host:port`` until SIGINT/SIGTERM (blocking; call it
    from the main thread). Prints the URL once the flow is loaded. ``environment_variables``
    go into this process's environment first (the flow's tools and ``<CONN>_<KEY>`` overrides
    see them); ``connections`` defaults to the local Ember server's. Raises what loading the
    flow raises (SpecError naming file and line, UserCodeError for a tool that does not
    import), and OSError when the port is taken."""
    for name, value in (environment_variables or {}).items():
        os.environ[str(name)] = str(value)
    provider = EnvOverrides(connections if connections is not None else _default_connections())
    service = FlowService(source, provider, variant=variant,
                          traces=TraceSink.from_environment())
    try:
        server = FlowHTTPServer((host, port))
    except BaseException:
        service.close()
        raise
    server.service = service
    stop = threading.Event()
    # Signals can be caught on the main thread only; elsewhere (a test, an embedding app) the
    # caller stops the process.
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    threading.Thread(target=server.serve_forever, name="flow-http", daemon=True).start()
    shown = f"[{host}]" if ":" in host else host
    print(f"Serving flow {service.flow.name} at http://{shown}:{server.server_port} "
          "(POST /score; Ctrl+C stops)", flush=True)
    try:
        _wait(stop)
    finally:
        server.drain(DRAIN_SECONDS)
        service.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ember.serving.flow.worker <config.json>", file=sys.stderr)
        return 2
    config: Mapping[str, Any] = json.loads(Path(args[0]).read_text())
    label = "/".join(str(config.get(k, "?")) for k in ("workspace", "endpoint", "deployment"))
    for name, value in (config.get("environment_variables") or {}).items():
        os.environ[str(name)] = str(value)
    if config.get("model_dir"):
        os.environ["AZUREML_MODEL_DIR"] = str(config["model_dir"])
    if config.get("server_token"):
        # the deployment's own token: what its connection and trace clients send
        os.environ["EMBER_TOKEN"] = str(config["server_token"])
    server = FlowHTTPServer((str(config.get("host") or "127.0.0.1"), int(config.get("port") or 0)))
    server.take_worker_key()
    threading.Thread(target=server.serve_forever, name="flow-http", daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for note in config.get("notes") or []:
        print(f"ember flow worker {label}: {note}", file=sys.stderr, flush=True)
    workspace = str(config.get("workspace") or "default")
    server_conns = ServerConnections(workspace, server_file=config.get("server_file"),
                                     base_url=config.get("server_url"))
    connections = EnvOverrides(server_conns)
    timeout_ms = config.get("request_timeout_ms")
    try:
        service = FlowService(str(config["flow_dir"]), connections,
                              variant=config.get("variant") or None,
                              request_timeout_s=int(timeout_ms) / 1000.0 if timeout_ms else None,
                              traces=TraceSink.from_environment(server_conns.url(), workspace))
    except BaseException as exc:  # noqa: BLE001 - whatever loading raises ends the worker
        print(f"ember flow worker {label}: the flow did not load: {exc}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_LOAD_FAILED
    server.service = service
    write_port_file(str(config["port_file"]), server.server_port)
    print(f"ember flow worker {label}: flow {service.flow.name} ready on "
          f"{server.server_name}:{server.server_port}", file=sys.stderr, flush=True)
    _wait(stop)
    server.drain(DRAIN_SECONDS)
    service.close()
    print(f"ember flow worker {label}: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)   # threads the flow's tools started must not keep a stopped worker alive
