"""Starting and watching serving processes (router and workers): port files, readiness, logs,
and a registry of their pids so a restarted server can stop what a crashed one left behind."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ember.engine.processes import identity, is_same_process, kill_tree
from ember.errors import DeploymentFailedError as StartFailed

@dataclass
class Proc:
    """One started process: its folder holds ``port``, ``log.txt`` and its config."""

    proc: subprocess.Popen[bytes]
    folder: Path
    addr: str | None = None

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
    return Proc(proc, folder)


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
        code = p.proc.poll()
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


def probe(addr: str, timeout: float) -> bool:
    try:
        return httpx.get(f"http://{addr}/", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def stop(p: Proc, grace: float = 5.0) -> None:
    if p.proc.poll() is None:
        kill_tree(p.proc.pid, grace=grace)
    try:
        p.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


class PidRegistry:
    """``serving/pids.json``: identities of every live serving process of this home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._live: dict[int, float] = {}

    def add(self, pid: int) -> None:
        with self._lock:
            try:
                self._live[pid] = float(identity(pid)["create_time"])
            except Exception:  # noqa: BLE001 - already gone: nothing to record
                return
            self._write()

    def remove(self, pid: int) -> None:
        with self._lock:
            self._live.pop(pid, None)
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({str(k): v for k, v in self._live.items()}))
        os.replace(tmp, self.path)

    def stop_leftovers(self) -> int:
        """Stop the processes a previous server left running; returns how many."""
        try:
            old = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return 0
        stopped = 0
        for pid, created in old.items():
            if is_same_process(int(pid), float(created)):
                kill_tree(int(pid), grace=2.0)
                stopped += 1
        with self._lock:
            self._live.clear()
            self._write()
        return stopped
