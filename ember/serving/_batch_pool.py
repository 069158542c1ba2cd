"""The batch driver's worker processes: dispatch, retries, timeouts, replacement, signals.

Each worker is a spawned process (``_batch_worker.worker_main``) with its own pipe, so a
mini-batch that runs past its timeout is stopped by terminating its worker; a fresh worker takes
the slot and calls ``init()`` again. One thread waits on every pipe, every process sentinel and
a signal wake-up socket, so SIGTERM, a result, a crash and a deadline are all seen at once.

Standard library only (this runs in the job's own Python).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.serving import _batch_worker
    from ember.serving._batch_worker import Outcome
else:  # run inside the job by file path: the siblings are top-level modules there
    import _batch_worker
    from _batch_worker import Outcome

STOP_GRACE_SECONDS = 2.0
LEVELS = {"debug": 10, "info": 20, "warning": 30}


class Log:
    """``[batch]`` lines: progress on stdout, problems on stderr (both land in the job log)."""

    def __init__(self, level: str) -> None:
        self.level = LEVELS[level]

    def debug(self, message: str) -> None:
        if self.level <= 10:
            print(f"[batch] {message}", flush=True)

    def info(self, message: str) -> None:
        if self.level <= 20:
            print(f"[batch] {message}", flush=True)

    def always(self, message: str) -> None:
        print(f"[batch] {message}", flush=True)

    def error(self, message: str) -> None:
        sys.stdout.flush()  # keep stdout and stderr in order when both go to one log
        print(f"[batch] {message}", file=sys.stderr, flush=True)


class InitFailed(Exception):
    """A worker's import of the scoring script (or model load) or ``init()`` failed; the
    message is one line, ``detail`` the user's traceback (may be empty)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class StopSignal:
    """SIGTERM / SIGINT: remember the signal and wake the pool's wait."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.wake, self._write = socket.socketpair()  # ``wake`` is readable after a signal
        for sock in (self.wake, self._write):
            sock.setblocking(False)
        signal.set_wakeup_fd(self._write.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is None:
            self.signum = signum


# (mini-batch index, its Outcome, or None when every attempt failed) → whether to go on.
Finish = Callable[[int, "Outcome | None"], bool]


class _Worker:
    def __init__(self, ctx: Any, number: int, settings: dict[str, Any]) -> None:
        self.number = number
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_batch_worker.worker_main, args=(child_conn, settings),
                                name=f"batch-worker-{number}")
        self.proc.start()
        child_conn.close()
        self.pid: int = self.proc.pid
        self.ready = False
        self.task: int | None = None
        self.deadline = 0.0

    def __str__(self) -> str:
        return f"worker {self.number} (pid {self.pid})"

    def stop(self, graceful: bool = True) -> None:
        self.request_stop(graceful)
        self.wait_stopped()

    def request_stop(self, graceful: bool = True) -> None:
        """Ask an idle worker to exit; terminate a busy one (its mini-batch is abandoned)."""
        if not self.proc.is_alive():
            return
        if graceful and self.ready and self.task is None:
            try:
                self.conn.send(None)
                return
            except OSError:
                pass
        self.proc.terminate()

    def wait_stopped(self) -> None:
        self.proc.join(STOP_GRACE_SECONDS)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(STOP_GRACE_SECONDS)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Pool:
    """``size`` workers running mini-batches with ``max_retries`` retries of ``timeout`` s."""

    def __init__(self, settings: dict[str, Any], size: int, timeout: float, max_retries: int,
                 log: Log, stopper: StopSignal) -> None:
        self.settings = settings
        self.size = size
        self.timeout = timeout
        self.max_retries = max_retries
        self.log = log
        self.stopper = stopper
        self.ctx = multiprocessing.get_context("spawn")
        # One slot per worker process; None while a slot waits for work to need a new worker.
        self.workers: list[_Worker | None] = []
        self._init_name = ("loading the MLflow model" if settings["kind"] == "mlflow"
                           else "init()")

    def run(self, batches: list[list[str]], names: list[list[str]], finish: Finish) -> str:
        """Run every mini-batch; ``names`` are the files as the log shows them.

        Returns "done", "aborted" (``finish`` said stop) or "signal". Raises ``InitFailed``.
        """
        self.batches, self.names, self.finish = batches, names, finish
        self.pending: deque[int] = deque(range(len(batches)))
        self.attempts = [0] * len(batches)
        self.aborted = False
        self.workers = [self._start(n) for n in range(min(self.size, len(batches)))]
        while self.pending or any(w.task is not None for w in self._live()):
            busy = [w.deadline for w in self._live() if w.task is not None]
            timeout = max(0.0, min(busy) - time.monotonic()) if busy else None
            wait([*(w.conn for w in self._live()), *(w.proc.sentinel for w in self._live()),
                  self.stopper.wake], timeout)
            if self.stopper.signum is not None:
                return "signal"
            for i, worker in enumerate(self.workers):
                if worker is not None:
                    self.workers[i] = self._check(worker)
                if self.aborted:
                    return "aborted"
            self._dispatch()
        return "done"

    def close(self) -> None:
        """Stop every worker: idle ones exit, busy ones (an abort, a signal) are terminated."""
        for worker in self._live():
            worker.request_stop()
        for worker in self._live():
            worker.wait_stopped()
        self.workers = []

    def _live(self) -> list[_Worker]:
        return [w for w in self.workers if w is not None]

    def _start(self, number: int) -> _Worker:
        worker = _Worker(self.ctx, number, self.settings)
        self.log.debug(f"started {worker}; it calls init()")
        return worker

    def _dispatch(self) -> None:
        for number, worker in enumerate(self.workers):
            if not self.pending:
                return
            if worker is None:  # a retry needs the slot again: a fresh worker, init() first
                self.workers[number] = self._start(number)
            elif worker.ready and worker.task is None:
                index = self.pending.popleft()
                self.attempts[index] += 1
                worker.task, worker.deadline = index, time.monotonic() + self.timeout
                self.log.debug(f"mini-batch {index + 1} attempt {self.attempts[index]} → "
                               f"{worker}: {', '.join(self.names[index])}")
                try:
                    worker.conn.send((index, self.batches[index]))
                except OSError:
                    pass  # it died: its sentinel reports that on the next wait

    def _check(self, worker: _Worker) -> _Worker | None:
        """Read ``worker``'s messages, then handle its death or its deadline. Returns what
        holds the slot afterwards: ``worker``, or after its end a fresh worker when mini-batches
        are waiting (None otherwise)."""
        while not self.aborted and worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            self._receive(worker, message)
        if self.aborted:
            return worker
        if not worker.proc.is_alive():
            worker.proc.join()
            code = worker.proc.exitcode
            if not worker.ready:
                raise InitFailed(f"{self._init_name} failed in {worker}: it exited with code "
                                 f"{code}")
            worker.stop(graceful=False)
            if worker.task is not None:
                self._attempt_failed(worker.task, f"{worker} exited with code {code}", "")
            return self._replace(worker)
        if worker.task is not None and time.monotonic() >= worker.deadline:
            worker.stop(graceful=False)
            self._attempt_failed(worker.task, f"run() did not finish within {self.timeout:g} "
                                              f"s; {worker} was stopped", "")
            return self._replace(worker)
        return worker

    def _replace(self, worker: _Worker) -> _Worker | None:
        if self.pending and not self.aborted:
            return self._start(worker.number)
        return None

    def _receive(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self.log.debug(f"{worker} is ready")
        elif kind == "init_failed":
            raise InitFailed(f"{self._init_name} failed in {worker}; the traceback is above",
                             message[1])
        elif kind == "done":
            worker.task = None
            if not self.finish(message[1], message[2]):
                self.aborted = True
        elif kind == "error":
            worker.task = None
            self._attempt_failed(message[1], "run() raised", message[2])

    def _attempt_failed(self, index: int, what: str, detail: str) -> None:
        attempt, total = self.attempts[index], self.max_retries + 1
        files = ", ".join(self.names[index])
        detail = f"\n{detail.rstrip()}" if detail else ""
        if attempt < total:
            self.log.error(f"mini-batch {index + 1} attempt {attempt}/{total} failed: {what}; "
                           f"retrying. Files: {files}{detail}")
            self.pending.appendleft(index)  # first in line, so the ordered output moves on
            return
        self.log.error(f"mini-batch {index + 1} failed (attempt {attempt}/{total}): {what}; "
                       f"its {len(self.names[index])} file(s) count as failed. "
                       f"Files: {files}{detail}")
        if not self.finish(index, None):
            self.aborted = True
