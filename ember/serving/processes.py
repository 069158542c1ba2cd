"""Starting and watching serving processes (router and workers): port files, readiness, logs,
memory, and a registry of their pids so a restarted server can stop what a crashed one left
behind (and did not adopt)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from ember.engine.processes import identity, is_same_process, kill_tree
from ember.errors import DeploymentFailedError as StartFailed


@dataclass
class Proc:
    """One serving process: its folder holds ``port``, ``log.txt`` and its config.

    Started by this server (``popen`` set), or adopted from a server that died: then it is not
    our child, and it is known by its pid *and* start time (a pid alone may have been reused).
    """

    pid: int
    create_time: float
    folder: Path
    addr: str | None = None
    popen: subprocess.Popen[bytes] | None = None

    def poll(self) -> int | None:
        """None while it runs, else its exit status (-1 when it was not our child)."""
        if self.popen is not None:
            return self.popen.poll()
        return None if is_same_process(self.pid, self.create_time) else -1

    @property
    def log(self) -> Path:
        return self.folder / "log.txt"

    @property
    def port_file(self) -> Path:
        return self.folder / "port"


def spawn(argv: list[str], folder: Path, env: dict[str, str], cwd: Path | None = None) -> Proc:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "port").unlink(missing_ok=True)
    with (folder / "log.txt").open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, cwd=str(cwd or folder), start_new_session=True)
    try:
        created = float(identity(proc.pid)["create_time"])
    except psutil.Error:
        created = 0.0   # already gone: poll() reads the exit status from popen
    return Proc(proc.pid, created, folder, popen=proc)


def log_event(folder: Path, message: str) -> None:
    """Append a supervisor event to a worker's log, so the deployment's logs tell it."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with (folder / "log.txt").open("a", encoding="utf-8") as fh:
        fh.write(f"[ember {stamp}] {message}\n")


def memory_mb(p: Proc) -> float:
    """Resident memory of the process and all its descendants, in MiB (0 when it is gone)."""
    try:
        root = psutil.Process(p.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / (1 << 20)


def log_tail(path: Path, lines: int = 20, max_bytes: int = 64 << 10) -> str:
    """The last ``lines`` lines of a log file (decoded leniently)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            text = fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(p: Proc, timeout: float, what: str, ready_path: str = "/ready",
               headers: dict[str, str] | None = None) -> str:
    """Wait for the port file and a 200 on ``ready_path``; returns "host:port".
    Raises StartFailed (with the log tail) when the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = p.poll()
        if code is not None:
            raise StartFailed(f"{what} exited with status {code} before it was ready:\n"
                              f"{log_tail(p.log)}")
        if p.port_file.exists():
            addr = f"127.0.0.1:{int(p.port_file.read_text().strip())}"
            try:
                if httpx.get(f"http://{addr}{ready_path}", timeout=2.0,
                             headers=headers).status_code == 200:
                    p.addr = addr
                    return addr
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    stop(p, grace=1.0)
    raise StartFailed(f"{what} was not ready after {timeout:.0f} s:\n{log_tail(p.log)}")


def liveness(addr: str, timeout: float) -> str | None:
    """None when ``GET /`` answers 200, else why not (the worker's own reason when it gave
    one, e.g. a run() that has not returned)."""
    try:
        r = httpx.get(f"http://{addr}/", timeout=timeout)
    except httpx.HTTPError as exc:
        return f"no answer within {timeout:g} s ({type(exc).__name__})"
    if r.status_code == 200:
        return None
    try:
        return str(r.json()["message"])
    except (ValueError, KeyError, TypeError):
        return f"status {r.status_code}"


def probe(addr: str, timeout: float) -> bool:
    return liveness(addr, timeout) is None


def stop(p: Proc, grace: float = 5.0) -> None:
    if p.poll() is None:
        kill_tree(p.pid, grace=grace)
    if p.popen is not None:
        try:
            p.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class PidRegistry:
    """``serving/pids.json``: identities of every live serving process of this home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._live: dict[int, float] = {}

    def add(self, p: Proc) -> None:
        with self._lock:
            self._live[p.pid] = p.create_time
            self._write()

    def remove(self, pid: int) -> None:
        with self._lock:
            self._live.pop(pid, None)
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)   # owner-only, like state.json beside it
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps({str(k): v for k, v in self._live.items()}))
        os.replace(tmp, self.path)

    def stop_leftovers(self, keep: Collection[Proc] = ()) -> int:
        """Stop the processes a previous server left running, except ``keep`` (adopted; they
        stay registered); returns how many were stopped. A pid whose start time differs from
        the recorded one belongs to someone else now and is left alone."""
        try:
            old = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            old = {}
        kept = {p.pid: p.create_time for p in keep}
        stopped = 0
        for pid, created in old.items():
            if int(pid) not in kept and is_same_process(int(pid), float(created)):
                kill_tree(int(pid), grace=2.0)
                stopped += 1
        with self._lock:
            self._live = dict(kept)
            self._write()
        return stopped
