"""The endpoint router process: ``python -m ember.serving.router --port-file <path>``.

Its own process, so inference load cannot starve the control API. It answers the scoring and
admin surfaces described in :mod:`ember.serving.protocol`; the control plane pushes the routing
table to ``PUT /-/routes`` with the admin token it put in ``EMBER_ROUTER_TOKEN``.

uvicorn (httptools, uvloop when importable) serves a raw ASGI app on a socket bound here with
TCP_NODELAY; the port goes to ``--port-file`` once the server listens. SIGTERM or SIGINT stop it
gracefully: no new connections, requests in flight finish, mirrored copies finish, idle worker
connections close and collected payloads are flushed; then the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from ember.serving.router.app import RouterApp

TOKEN_ENV = "EMBER_ROUTER_TOKEN"


def bind_socket(host: str, port: int) -> socket.socket:
    # Without TCP_NODELAY a keep-alive request/response pair can wait on Nagle + delayed ACK
    # (~40 ms); Linux copies the option to every accepted connection.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def write_port_file(path: Path, port: int) -> None:
    """Write ``port`` so that a reader never sees a partial file (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(str(port))
    os.replace(tmp, path)


def serve(host: str, port: int, port_file: Path | None, admin_token: str,
          log_level: str = "warning") -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully."""
    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    app = RouterApp(admin_token)
    loop_kind = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    config = uvicorn.Config(app, http="httptools", loop=loop_kind, lifespan="off",
                            access_log=False, log_level=log_level, server_header=False,
                            date_header=False, proxy_headers=False,
                            timeout_keep_alive=75, timeout_graceful_shutdown=30)
    server = uvicorn.Server(config)

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    # uvicorn re-raises the signal it caught once serve() returns, with the handler it found
    # installed: make that ours, so the clean-up below runs and the exit status is 0.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started and port_file is not None:
            write_port_file(port_file, bound)
        try:
            await task
        finally:
            await app.aclose()

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ember.serving.router",
                                     description="Ember's online endpoint router.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, default=None,
                        help="where to write the bound port once listening")
    parser.add_argument("--log-level", default="warning",
                        choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"router: set {TOKEN_ENV} to the admin token", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.host, args.port, args.port_file, token, args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
