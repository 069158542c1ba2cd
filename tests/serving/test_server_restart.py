"""A server killed with ``kill -9`` and started again on the same home: the router and the
healthy workers it left are adopted (pid and process start time checked) and keep serving."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Self

import httpx
import psutil

from ember.client.mlclient import MLClient
from tests.conftest import ServerProc, wait_for
from tests.serving.conftest import scoring_project
from tests.serving.test_online_endpoints import serve_script


class Load:
    """Client threads scoring continuously on keep-alive connections; every non-200 answer and
    every transport error is a failure."""

    def __init__(self, url: str, key: str, threads: int = 2) -> None:
        self.url, self.key = url, key
        self.ok = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop) for _ in range(threads)]

    def __enter__(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _loop(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as h:
            while not self._stop.is_set():
                try:
                    r = h.post(self.url, json={"data": [1]})
                    failed = None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    failed = repr(exc)
                with self._lock:
                    if failed is None:
                        self.ok += 1
                    else:
                        self.failures.append(failed)

    def more(self, n: int) -> None:
        """Wait until ``n`` more requests have been answered with 200."""
        target = self.ok + n
        wait_for(lambda: self.ok >= target or len(self.failures) > 50, timeout=60)


def _pids(c: MLClient, endpoint: str) -> list[int]:
    return sorted(i["pid"] for i in c.online_deployments.instances("blue", endpoint))


def _adopted(c: MLClient, endpoint: str, pids: list[int]) -> bool:
    d = c.online_deployments.get("blue", endpoint)
    inst = c.online_deployments.instances("blue", endpoint)
    return (d.provisioning_state == "Succeeded" and sorted(i["pid"] for i in inst) == pids
            and all(i["state"] == "ready" for i in inst))


def test_kill_9_and_restart_under_load_fails_no_request(ember_home: Path,
                                                        tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    srv = _server(ember_home).start()
    try:
        with MLClient(endpoint=srv.url) as c:
            ep, key = serve_script(c, root, "keep", instance_count=2)
            pids = _pids(c, "keep")
        with Load(ep.scoring_uri, key) as load:
            load.more(20)
            srv.kill()
            load.more(20)                      # served while no server runs
            srv.start()
            with MLClient(endpoint=srv.url) as c:
                wait_for(lambda: _adopted(c, "keep", pids), timeout=60, interval=0.2)
                assert c.online_endpoints.get("keep").scoring_uri == ep.scoring_uri
                assert c.online_endpoints.get_keys("keep").primary_key == key
                load.more(20)                  # after the new server pushed its table
                # The adopted router answers the new server's admin calls (same token).
                assert c.online_endpoints.get_metrics("keep")["blue"]["request_count"] > 0
        assert load.failures == []
        with MLClient(endpoint=srv.url) as c:
            assert _pids(c, "keep") == pids
    finally:
        srv.stop()


def test_restart_replaces_dead_workers_and_adopts_no_reused_pid(ember_home: Path,
                                                                 tmp_path: Path) -> None:
    """While the server is down one worker dies, and another dies with its pid taken by an
    unrelated process (simulated by writing that process's pid into the records). After the
    restart the third worker is adopted, the other two are replaced, and the unrelated process
    is left alone."""
    root = scoring_project(tmp_path)
    srv = _server(ember_home).start()
    decoy: subprocess.Popen[bytes] | None = None
    try:
        with MLClient(endpoint=srv.url) as c:
            ep, key = serve_script(c, root, "heal", instance_count=3)
            dead, reused, kept = _pids(c, "heal")
        worker_start = psutil.Process(reused).create_time()
        srv.kill()
        for pid in (dead, reused):
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda pid=pid: not _alive(pid), timeout=20)   # type: ignore[misc]
        decoy = subprocess.Popen(["sleep", "600"], start_new_session=True)
        # A reused pid belongs to a process started later than the one recorded; on a fast
        # machine the decoy can start within a tick of the worker, so make sure it did not.
        while abs(psutil.Process(decoy.pid).create_time() - worker_start) < 0.1:
            decoy.kill()
            decoy.wait()
            decoy = subprocess.Popen(["sleep", "600"], start_new_session=True)
        _give_pid_to(ember_home / "serving", reused, decoy.pid)

        srv.start()
        with MLClient(endpoint=srv.url) as c:
            def healed() -> bool:
                inst = c.online_deployments.instances("blue", "heal")
                return len(inst) == 3 and all(i["state"] == "ready" for i in inst)
            wait_for(healed, timeout=90, interval=0.2)
            now = _pids(c, "heal")
            assert kept in now and not {dead, reused, decoy.pid} & set(now)
            assert c.online_endpoints.get("heal").scoring_uri == ep.scoring_uri
            logs = c.online_deployments.get_logs("blue", "heal", lines=200)
            assert "not running when the server started" in logs
        assert decoy.poll() is None   # neither adopted nor killed
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as h:
            seen = set()
            for _ in range(30):
                r = h.post(ep.scoring_uri, json={"data": [1]})
                assert r.status_code == 200
                seen.add(r.json()["pid"])
            assert kept in seen
    finally:
        srv.stop()
        if decoy is not None:
            decoy.kill()
            decoy.wait()


def _give_pid_to(serving: Path, old: int, new: int) -> None:
    """Rewrite ``old`` as ``new`` in the serving records, keeping ``old``'s start time: what a
    restarted server finds when the pid of a dead worker was reused."""
    for name in ("pids.json", "state.json"):
        path = serving / name
        text = path.read_text()
        assert str(old) in text
        path.write_text(json.dumps(_replace(json.loads(text), old, new)))


def _replace(value: object, old: int, new: int) -> object:
    if isinstance(value, dict):
        return {(str(new) if k == str(old) else k): _replace(v, old, new)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return new if value == old and not isinstance(value, bool) else value


def _server(home: Path) -> ServerProc:
    # The restart reuses the API port; the router's port stays "any" (0), as on the first start
    # (a configured --serving-port that differs from the running router's is not adopted).
    return ServerProc(home, extra=["--serving-port", "0"])


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
