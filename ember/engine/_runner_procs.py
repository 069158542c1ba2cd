"""The runner's distributed launch: ``distribution`` × ``resources.instance_count`` processes of
the job's command on this machine, each with the variables its launcher would set (standard
library only: the runner imports it, by file when it runs as a script).

Ranks run 0..N-1; with ``P`` processes per instance, rank ``r`` is local rank ``r % P`` of node
``r // P``. Locally every "node" is this machine, 127.0.0.1; on a Ray compute with several
instances each instance runs on its own node (``_runner_ray``) and gets its own ranks' variables,
with instance 0's node as the master.

Logs: each process's own output goes to ``user_logs/std_log_process_<rank>.txt`` (Azure ML's
name), raw; ``user_logs/std_log.txt`` (what ``ember job stream`` shows) carries every process's
lines, each prefixed ``[rank <r>] ``, so a failing rank's error is in the job log too.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A partial line longer than this is written out prefixed rather than held back.
MAX_PENDING_LINE = 64 * 1024


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def process_envs(plan: dict[str, Any], master_addr: str = "127.0.0.1",
                 master_port: int | None = None) -> list[dict[str, str]]:
    """The extra environment variables of each process, by rank (rank ``r`` of a pytorch or mpi
    plan belongs to instance ``r // per_instance``). ``master_addr``/``master_port``: instance
    0's node and a port free there (default: loopback and a port free here)."""
    kind = plan["type"]
    per = int(plan.get("per_instance", 1))
    world = int(plan["world_size"])
    envs: list[dict[str, str]] = []
    if kind == "tensorflow":
        workers, ps = int(plan.get("workers", world)), int(plan.get("ps", 0))
        ports = free_ports(workers + ps)
        cluster: dict[str, list[str]] = {
            "worker": [f"127.0.0.1:{p}" for p in ports[:workers]]}
        if ps:
            cluster["ps"] = [f"127.0.0.1:{p}" for p in ports[workers:]]
        for rank in range(workers + ps):
            task = ({"type": "worker", "index": rank} if rank < workers
                    else {"type": "ps", "index": rank - workers})
            envs.append({"TF_CONFIG": json.dumps({"cluster": cluster, "task": task,
                                                  "environment": "cloud"})})
        return envs
    port = str(master_port if master_port is not None else free_ports(1)[0])
    for rank in range(world):
        local, node = rank % per, rank // per
        if kind == "mpi":
            envs.append({"OMPI_COMM_WORLD_RANK": str(rank), "OMPI_COMM_WORLD_SIZE": str(world),
                         "OMPI_COMM_WORLD_LOCAL_RANK": str(local),
                         "OMPI_COMM_WORLD_LOCAL_SIZE": str(per),
                         "OMPI_COMM_WORLD_NODE_RANK": str(node)})
        else:   # pytorch: what torchrun sets
            envs.append({"MASTER_ADDR": master_addr, "MASTER_PORT": port,
                         "WORLD_SIZE": str(world), "RANK": str(rank),
                         "LOCAL_RANK": str(local), "LOCAL_WORLD_SIZE": str(per),
                         "NODE_RANK": str(node), "GROUP_RANK": str(node)})
    return envs


class RankPump(threading.Thread):
    """Copies one process's output to its own log file and, line by line with a rank prefix,
    to the job log (``write``). Started as a thread it reads the process's pipe (``fd``); a
    rank on another node is fed its output with :meth:`feed` and :meth:`finish` instead."""

    def __init__(self, rank: int, fd: int | None, own_log: Path,
                 write: Callable[[bytes], None], lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.rank, self.fd, self.write, self.lock = rank, fd, write, lock
        self.own = open(own_log, "ab")
        self.prefix = f"[rank {rank}] ".encode()
        self.pending = b""

    def _emit(self, lines: bytes) -> None:
        out = b"".join(self.prefix + line + b"\n" for line in lines.split(b"\n"))
        with self.lock:   # whole lines from different ranks never interleave
            self.write(out)

    def feed(self, data: bytes) -> None:
        self.own.write(data)
        self.own.flush()
        self.pending += data
        head, sep, self.pending = self.pending.rpartition(b"\n")
        if sep:
            self._emit(head)
        if len(self.pending) > MAX_PENDING_LINE:
            self._emit(self.pending)
            self.pending = b""

    def finish(self) -> None:
        try:
            if self.pending:
                self._emit(self.pending)
                self.pending = b""
        finally:
            self.own.close()

    def run(self) -> None:
        assert self.fd is not None
        try:
            while data := os.read(self.fd, 65536):
                self.feed(data)
        finally:
            self.finish()


def signal_tree(proc: subprocess.Popen[bytes], sig: int,
                descendants: Callable[[int], list[int]]) -> None:
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass   # it exited meanwhile: nothing left to signal


def wait_all(procs: list[subprocess.Popen[bytes]], stopping: threading.Event,
             descendants: Callable[[int], list[int]], grace: float = 5.0
             ) -> tuple[int, int | None]:
    """Wait for every process. The first that fails stops the others (SIGTERM, then SIGKILL
    after ``grace``), as torchrun's agent does: a peer left waiting in a collective would hang.
    Returns (exit code, failed rank): the first failure's, else (0, None)."""
    ended: queue.Queue[tuple[int, int]] = queue.Queue()
    for rank, proc in enumerate(procs):
        threading.Thread(target=lambda r=rank, p=proc: ended.put((r, p.wait())),
                         daemon=True).start()
    code, failed = 0, None
    kill_at: float | None = None
    for _ in procs:
        while True:
            try:
                rank, rc = ended.get(timeout=0.2)
                break
            except queue.Empty:
                if kill_at is not None and time.monotonic() >= kill_at:
                    for p in procs:
                        if p.poll() is None:
                            signal_tree(p, signal.SIGKILL, descendants)
                    kill_at = None
        if rc != 0 and failed is None and not stopping.is_set():
            code, failed = rc, rank
            for p in procs:
                if p.poll() is None:
                    signal_tree(p, signal.SIGTERM, descendants)
            kill_at = time.monotonic() + grace
    return code, failed
