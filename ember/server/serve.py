"""Run the workspace server with uvicorn on a socket we bind ourselves (TCP_NODELAY set).

Without TCP_NODELAY, keep-alive request/response pairs wait on Nagle + delayed ACK (~40 ms each);
Linux copies the option from the listening socket to every accepted connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

from ember.server.app import create_app
from ember.server.context import Platform
from ember.settings import Settings


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def server_file(home: Path) -> Path:
    return Path(home) / "server.json"


def serve(settings: Settings, *, log_level: str = "warning",
          on_ready: Callable[[Settings], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM on ``settings.host:port`` (port 0 picks a free one).

    Writes ``<home>/server.json`` (pid, url) once listening, so the CLI/SDK and job runners can
    find the server; removes it on a clean stop.
    """
    settings = settings.resolved()
    sock = bind_socket(settings.host, settings.port)
    settings = dataclasses.replace(settings, port=sock.getsockname()[1])
    try:
        platform = Platform(settings)   # refusals (auth set-up, the store) before listening
    except BaseException:
        sock.close()
        raise
    app = create_app(settings, platform=platform)
    config = uvicorn.Config(app, log_level=log_level, access_log=False,
                            timeout_keep_alive=30, lifespan="on")
    server = uvicorn.Server(config)
    info = server_file(settings.home)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            info.parent.mkdir(parents=True, exist_ok=True)
            tmp = info.with_suffix(".tmp")
            # owner-only, as everything in the home that says how to reach the server
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps({"pid": os.getpid(), "url": settings.base_url,
                                     "host": settings.host, "port": settings.port}))
            os.replace(tmp, info)
            if on_ready:
                on_ready(settings)
        await task

    try:
        # uvicorn's loop choice (uvloop when installed, as uvicorn[standard] brings it): a
        # plain asyncio.run() would give the stdlib loop whatever the config says.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        try:
            if json.loads(info.read_text()).get("pid") == os.getpid():
                info.unlink()
        except (OSError, ValueError):
            pass   # gone or unreadable: another server's, or nothing to clean up
