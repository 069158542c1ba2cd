"""The in-job runner as a process on its own: what it does when its server is gone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for

RUNNER = Path(__file__).resolve().parents[2] / "ember" / "engine" / "runner.py"


@pytest.fixture
def dead_server_url() -> Iterator[str]:
    """An address where nothing answers: a port held bound but never listened on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_runner_whose_server_is_gone_stops_on_sigterm(tmp_path: Path,
                                                       dead_server_url: str) -> None:
    """It used to retry its reports for up to 600 s and ignore SIGTERM meanwhile."""
    cwd = tmp_path / "wd"
    cwd.mkdir()
    cfg = {"server_url": dead_server_url, "workspace": "default", "job": "j1",
           "cwd": str(cwd), "log_path": str(tmp_path / "std_log.txt"),
           "command": "echo $$ > pid; exec sleep 300", "retry_seconds": 600}
    (tmp_path / "runner.json").write_text(json.dumps(cfg))
    proc = subprocess.Popen([sys.executable, "-S", str(RUNNER), str(tmp_path / "runner.json")],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        command_pid = int(wait_for(lambda: (cwd / "pid").is_file()
                                   and (cwd / "pid").read_text().strip()))
        proc.send_signal(signal.SIGTERM)
        # A bound, not a timing claim: before the fix this wait ran out (the runner slept in
        # its retry loop); after it, the runner exits as soon as its command has stopped.
        assert proc.wait(timeout=60) == 143
        wait_for(lambda: not _alive(command_pid), timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
