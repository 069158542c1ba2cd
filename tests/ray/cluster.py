"""A Ray cluster the test session owns, on loopback.

``ray start --head --block`` runs in its own session with its own temp dir, and is stopped by
its pid (SIGTERM makes it stop the node it started). Never ``ray stop``: that stops every Ray
process on the machine, other sessions' too. The cluster's ``python`` is this test run's
interpreter (its bin folder first on the PATH ``ray start`` sees), so jobs find Ember, mlflow and
torch as the tests do.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RayCluster:
    address: str          # the job-submission (dashboard) address
    gcs_address: str      # host:port of the GCS, for ``ray.init`` and extra nodes
    temp_dir: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(self):  # type: ignore[no-untyped-def]
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.address)

    def add_node(self, num_cpus: int = 1, timeout: float = 90.0) -> None:
        """Join one more node (same host) and wait until the cluster counts it."""
        before = self.alive_nodes()
        self.procs.append(_ray_start(["--address", self.gcs_address, f"--num-cpus={num_cpus}",
                                      "--node-ip-address=127.0.0.1"], self.temp_dir))
        _wait(lambda: self.alive_nodes() > before, timeout, "the extra Ray node to join")

    def alive_nodes(self) -> int:
        try:
            with urllib.request.urlopen(f"{self.address}/nodes?view=summary", timeout=5) as r:
                data = json.loads(r.read())
        except OSError:
            return 0
        summary = data.get("data", {}).get("summary", [])
        return sum(1 for n in summary if n.get("raylet", {}).get("state") == "ALIVE")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        _kill_leftovers(self.temp_dir)


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            # one thread per process: two cores, several processes
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            # a runtime environment that fails is not tried three times (each try clones this
            # test run's whole virtualenv: ~40 s here)
            "RUNTIME_ENV_RETRY_TIMES": "1"}


def _own_ports() -> list[str]:
    """Free ports for what Ray otherwise binds at fixed ports (the dashboard agent's 52365, the
    Ray client server's 10001, ...): two clusters on one machine must not collide."""
    return [f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}"]


def _ray_start(args: list[str], temp_dir: str) -> subprocess.Popen[bytes]:
    ray = str(Path(sys.executable).parent / "ray")
    args = [*args, *_own_ports()]
    log = open(Path(temp_dir) / f"ray-start-{len(os.listdir(temp_dir))}.log", "ab")
    return subprocess.Popen([ray, "start", "--block", "--disable-usage-stats", *args],
                            env=_env(), start_new_session=True, stdout=log, stderr=log)


def _wait(ready, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def _kill_leftovers(temp_dir: str) -> None:
    """Processes started with our temp dir on their command line (none, normally)."""
    found = subprocess.run(["pgrep", "-f", temp_dir], capture_output=True, text=True).stdout
    for pid in found.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def start_cluster(num_cpus: int = 2, timeout: float = 120.0) -> RayCluster:
    """A head node with ``num_cpus`` CPUs on loopback, ready for job submissions."""
    gcs, dash = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="rt-")   # Ray's socket paths must stay short
    head = _ray_start(["--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
                       f"--num-cpus={num_cpus}", "--dashboard-host=127.0.0.1",
                       f"--dashboard-port={dash}", "--object-store-memory=200000000",
                       f"--ray-client-server-port={free_port()}",
                       f"--temp-dir={temp_dir}"], temp_dir)
    cluster = RayCluster(f"http://127.0.0.1:{dash}", f"127.0.0.1:{gcs}", temp_dir, [head])

    def answers() -> bool:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}; see {temp_dir}")
        try:
            with urllib.request.urlopen(f"{cluster.address}/api/version", timeout=1):
                return True
        except OSError:
            return False

    try:
        _wait(answers, timeout, "the Ray head's job API")
    except BaseException:
        cluster.stop()
        raise
    return cluster
