"""The embedded default: find, start and stop the local workspace server under EMBER_HOME.

The SDK never opens the database: with no endpoint configured it starts ``ember server start``
on loopback as a detached process (state under EMBER_HOME) and reuses it while it is alive.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ember.errors import ServerUnavailableError
from ember.settings import default_home

START_TIMEOUT = 60.0
DEFAULT_PORT = 5717  # tried first; when taken, the OS picks a free port


def _info_path(home: Path) -> Path:
    return home / "server.json"


def read_info(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_info_path(home).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def status(home: Path | None = None) -> dict[str, Any]:
    home = Path(home or default_home())
    info = read_info(home)
    if info and _alive(int(info["pid"])) and healthy(info["url"]):
        return {"running": True, "url": info["url"], "pid": info["pid"], "home": str(home)}
    return {"running": False, "home": str(home)}


def ensure_server(home: Path | None = None, port: int | None = None) -> str:
    """URL of the embedded server under ``home``, starting it if it is not running."""
    home = Path(home or default_home())
    home.mkdir(parents=True, exist_ok=True)
    st = status(home)
    if st["running"]:
        return str(st["url"])
    with open(home / "server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        st = status(home)  # another process may have started it while we waited
        if st["running"]:
            return str(st["url"])
        previous = read_info(home) or {}
        chosen = port if port is not None else int(previous.get("port") or DEFAULT_PORT)
        log = open(home / "server.log", "ab")
        cmd = [sys.executable, "-m", "ember.cli.main", "server", "start", "--home", str(home),
               "--host", "127.0.0.1", "--port", str(chosen)]
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            info = read_info(home)
            if info and info.get("pid") == proc.pid and healthy(info["url"]):
                return str(info["url"])
            code = proc.poll()
            if code is not None:
                if chosen:  # the old port may be taken by now; let the OS pick one
                    chosen = 0
                    cmd[-1] = "0"
                    proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                            start_new_session=True, close_fds=True)
                    continue
                raise ServerUnavailableError(
                    f"the local Ember server exited with code {code}; see {home / 'server.log'}")
            time.sleep(0.05)
        raise ServerUnavailableError(
            f"the local Ember server did not start within {START_TIMEOUT:.0f} s; "
            f"see {home / 'server.log'}")


def stop(home: Path | None = None, timeout: float = 20.0) -> bool:
    """Stop the embedded server; returns False when none was running."""
    home = Path(home or default_home())
    info = read_info(home)
    if not info or not _alive(int(info["pid"])):
        return False
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True
