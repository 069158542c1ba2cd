"""A server restart loses no accepted job and leaves none stuck in a running state."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil

from ember import MLClient, command
from tests.conftest import ServerProc, wait_for

TERMINAL = {"Completed", "Failed", "Canceled"}


def _status(c: MLClient, name: str) -> str:
    return c.jobs.get(name).status


def test_running_job_is_reattached_and_queued_job_survives(tmp_path: Path) -> None:
    srv = ServerProc(tmp_path / "home", extra=["--max-concurrent-jobs", "1"]).start()
    try:
        c = MLClient(endpoint=srv.url, token=srv.token)
        running = c.jobs.create_or_update(command(command="sleep 3; echo finished-after-restart"))
        queued = c.jobs.create_or_update(command(command="echo queued-ran"))
        wait_for(lambda: _status(c, running.name) == "Running")
        assert _status(c, queued.name) == "Queued"
        srv.kill()  # SIGKILL: no clean shutdown at all
        srv.start(port=srv.port)
        c = MLClient(endpoint=srv.url, token=srv.token)
        wait_for(lambda: _status(c, running.name) in TERMINAL, timeout=60)
        wait_for(lambda: _status(c, queued.name) in TERMINAL, timeout=60)
        job = c.jobs.get(running.name)
        assert job.status == "Completed", job.error
        log = c._http.request("GET", c._http.ws(f"/jobs/{running.name}/logs")).content
        assert log.count(b"finished-after-restart") == 1
        assert _status(c, queued.name) == "Completed"
    finally:
        srv.stop()


def test_job_whose_runner_died_with_the_server_ends_failed_with_reason(tmp_path: Path) -> None:
    srv = ServerProc(tmp_path / "home").start()
    try:
        c = MLClient(endpoint=srv.url, token=srv.token)
        job = c.jobs.create_or_update(command(command="sleep 120"))
        wait_for(lambda: _status(c, job.name) == "Running")
        runner_pid = _runner_pid(srv.home, job.name)
        srv.kill()
        os.killpg(runner_pid, signal.SIGKILL)
        wait_for(lambda: not psutil.pid_exists(runner_pid)
                 or psutil.Process(runner_pid).status() == "zombie")
        srv.start(port=srv.port)
        c = MLClient(endpoint=srv.url, token=srv.token)
        final = c.jobs.get(job.name)
        assert final.status == "Failed"
        assert final.error and "runner process was gone" in final.error
    finally:
        srv.stop()


def _runner_pid(home: Path, name: str) -> int:
    from ember.store.sql.store import SqlStore

    store = SqlStore(f"sqlite:///{home / 'ember.db'}")
    try:
        return int(store.jobs.get("default", name).runner["pid"])
    finally:
        store.close()
