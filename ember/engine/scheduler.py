"""The local-compute scheduler: a capacity-limited queue, runner processes, timeouts, recovery.

Queued jobs start oldest first while fewer than ``max_concurrent_jobs`` are active. Each started
job gets a worker thread that prepares it (environment, inputs), spawns its runner in a new
session and waits for it. A queued child of a composite (pipeline step, sweep trial) never
starts while its parent is being cancelled, and is ended Canceled once its parent has ended
without ending it. Runners survive a server restart: at start-up every job that was active
is either reattached (its runner is still alive, checked by pid *and* process start time) or ended
with a reason, and jobs caught mid-preparation go back to the queue.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ember.engine import processes, runner
from ember.engine.job_env import scrubbed_environ
from ember.engine.job_tokens import JobTokens
from ember.engine.jobs import JobEvent, JobService
from ember.engine.workdir import WorkdirPreparer
from ember.entities.jobs import Job, JobStatus
from ember.errors import EmberError, NotFoundError
from ember.settings import Settings

log = logging.getLogger("ember.scheduler")
TICK_SECONDS = 0.5
RUNNER_SCRIPT = str(Path(runner.__file__).resolve())
# What _parent_status answers for a child whose parent job no longer exists, or could not be
# read just now.
PARENT_MISSING = "missing"
PARENT_UNREAD = "unread"
# A child whose parent is in one of these never starts. HOLDING_PARENT: it waits (the
# composite's cancel ends it; an unread parent is looked at again next tick); otherwise the
# parent ended (or vanished) without ending it, and the scheduler ends it.
HOLDING_PARENT = frozenset({JobStatus.CANCEL_REQUESTED, PARENT_UNREAD})
BLOCKING_PARENT = HOLDING_PARENT | {PARENT_MISSING, *JobStatus.TERMINAL}


class Scheduler:
    """The queue of one server process.

    ``launch`` hands a job the scheduler just moved Queued → Preparing (holding a slot for it)
    to whatever runs it; it is called synchronously and must return at once; the job keeps its
    slot until :meth:`release` is called with its name. The default prepares the job and runs its
    runner on a worker thread, which releases the slot when the runner has exited.
    ``list_queued`` reads the queue (every Queued job, oldest first) for each tick; the default
    reads the job store.
    """

    def __init__(self, jobs: JobService, preparer: WorkdirPreparer, settings: Settings, *,
                 launch: Callable[[str, Job], None] | None = None,
                 list_queued: Callable[[], list[tuple[str, Job]]] | None = None,
                 tokens: JobTokens | None = None) -> None:
        self.jobs = jobs
        self.tokens = tokens
        self.preparer = preparer
        self.settings = settings
        self.capacity = max(1, settings.max_concurrent_jobs)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active: set[str] = set()
        # True while older jobs may be waiting in the queue: a newly queued job then goes
        # through the queue (oldest first) instead of taking a free slot directly, which would
        # let it jump ahead of jobs queued before it (e.g. new sweep trials ahead of pipeline
        # steps while a long queue is being read). True until the first tick has read the
        # queue: jobs a previous server process left Queued were never offered.
        self._backlog = True
        # Counts the offers that left their job to the queue: a tick clears _backlog only when
        # none came while it read the queue (such a job is not in what it read).
        self._deferred = 0
        self._deadlines: dict[str, tuple[str, float, float]] = {}
        self._pool = ThreadPoolExecutor(max_workers=self.capacity + 4,
                                        thread_name_prefix="ember-job")
        self._thread: threading.Thread | None = None
        # Set by start(): until then a newly queued job is left to the queue.
        self._running = False
        self._launch_job = launch or self._launch_in_worker
        self._list_queued = list_queued or self._read_queue
        self._standbys: list[subprocess.Popen[bytes]] = []
        self._standby_target = min(self.capacity, 4)
        self._standby_lock = threading.Lock()
        jobs.subscribe(self._on_event)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, *, loop: bool = True) -> None:
        """Recover earlier jobs and start scheduling. With ``loop=False`` no thread ticks and no
        warm runners are started: the caller runs :meth:`tick` itself (tests drive the queue
        step by step that way)."""
        self.recover()
        with self._lock:
            self._running = True
        if not loop:
            return
        with self._standby_lock:
            self._standbys = [self._spawn_standby() for _ in range(self._standby_target)]
        self._thread = threading.Thread(target=self._loop, name="ember-scheduler", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop scheduling. Running jobs keep running; the next server start reattaches them."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._drop_standbys()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    def _on_event(self, event: JobEvent) -> None:
        """Newly queued command jobs start at once when there is room; a job whose runner
        reported Running gets its timeout armed; a cancel stops the job's process tree (before
        the canceller moves it to Canceled)."""
        if event.status == JobStatus.QUEUED and event.job is not None:
            if event.job.type == "command":
                self.offer(event.workspace, event.job)
        elif event.status == JobStatus.RUNNING:
            with self._lock:
                ours = event.name in self._active
            if ours:
                self.started(event.workspace,
                             self.jobs.get(event.workspace, event.name, with_history=False))
        elif event.status == JobStatus.CANCEL_REQUESTED:
            self.stop_job(event.workspace, event.name)
        if event.status in JobStatus.TERMINAL and self.tokens is not None:
            self.tokens.revoke(event.workspace, event.name)   # the job's token dies with it

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep scheduling whatever one tick hit; it is logged
                log.exception("scheduler tick failed")
            self._wake.wait(TICK_SECONDS)
            self._wake.clear()

    def tick(self) -> None:
        """One pass of the loop: time out overdue jobs, end queued children whose parent has
        ended, and start the oldest startable queued jobs into the free slots."""
        now = time.time()
        for name, (ws, deadline, timeout) in list(self._deadlines.items()):
            if now >= deadline:
                self._deadlines.pop(name, None)
                self._pool.submit(self._timeout, ws, name, timeout)
        with self._lock:
            free = self.capacity - len(self._active)
            deferred = self._deferred
        if free <= 0:
            return
        queued = [(ws, j) for ws, j in self._list_queued() if j.type == "command"]
        parents: dict[str, str] = {}
        started = 0
        waiting = False   # a startable job is left in the queue
        for ws, job in queued:
            if started >= free:
                waiting = True   # not looked at: it may be startable
                break
            parent = self._parent_status(ws, job, parents)
            if parent in HOLDING_PARENT:
                continue
            if parent in BLOCKING_PARENT:
                self._end_orphan(ws, job, parent)
                continue
            if not self._start(ws, job):
                waiting = True
                break
            started += 1
        with self._lock:
            # Held and orphaned children are not a backlog: they never start, and counting
            # them would send every new job through the queue for as long as they stay.
            self._backlog = waiting or self._deferred != deferred

    def _read_queue(self) -> list[tuple[str, Job]]:
        return self.jobs.list_in_status([JobStatus.QUEUED], with_history=False)

    def offer(self, ws: str, job: Job) -> None:
        """A job was just queued: start it at once when there is room and no older job is
        waiting (no wait for the scheduler thread), else leave it to the queue."""
        with self._lock:
            direct = self._running and not self._backlog
        if (not direct or self._parent_status(ws, job, {}) in BLOCKING_PARENT
                or not self._start(ws, job)):
            with self._lock:
                self._backlog = True
                self._deferred += 1
            self._wake.set()

    def _parent_status(self, ws: str, job: Job, parents: dict[str, str]) -> str:
        """The status of ``job``'s parent (a composite: pipeline or sweep), "" for a job without
        one, :data:`PARENT_MISSING` when it no longer exists (:data:`PARENT_UNREAD` when it could
        not be read); ``parents`` caches it per tick.
        A child of a composite being cancelled or ended is never started: without this check a
        cancel that works through many queued trials one by one would watch the queue start
        the ones it has not reached yet."""
        parent = job.parent_job_name
        if not parent:
            return ""
        status = parents.get(parent)
        if status is None:
            try:
                status = self.jobs.get_status(ws, parent)
            except NotFoundError:
                status = PARENT_MISSING
            except EmberError:
                status = PARENT_UNREAD
            parents[parent] = status
        return status

    def _end_orphan(self, ws: str, job: Job, parent_status: str) -> None:
        """End a queued child whose parent ended (or vanished) without ending it: nothing would
        ever start or end it otherwise. Compare-and-set: a cancel may get there first."""
        if parent_status == PARENT_MISSING:
            reason = f"its parent job {job.parent_job_name} no longer exists; it never started"
        else:
            reason = (f"its parent job {job.parent_job_name} ended ({parent_status}) "
                      "before it started")
        self.jobs.move(ws, job.name, JobStatus.CANCELED, reason=reason,
                       allowed_from=frozenset({JobStatus.QUEUED}))

    def _start(self, ws: str, job: Job) -> bool:
        """Take a slot and move ``job`` Queued → Preparing (compare-and-set, so the queue and
        :meth:`offer` never both launch it); False when no slot is free."""
        with self._lock:
            if len(self._active) >= self.capacity or self._stop.is_set():
                return False
            if job.name in self._active:
                return True
            self._active.add(job.name)
        if self.jobs.move(ws, job.name, JobStatus.PREPARING,
                          allowed_from=frozenset({JobStatus.QUEUED})):
            self._launch_job(ws, job)
        else:
            with self._lock:
                self._active.discard(job.name)
        return True

    def release(self, name: str) -> None:
        """Job ``name`` is done with its slot (its runner exited, or it never got one): free
        the slot and wake the loop to hand it to the queue."""
        with self._lock:
            self._active.discard(name)
        self._deadlines.pop(name, None)
        self._wake.set()

    # --- one job ----------------------------------------------------------------------------

    def _launch_in_worker(self, ws: str, job: Job) -> None:
        self._pool.submit(self._launch, ws, job)

    def _launch(self, ws: str, job: Job) -> None:
        try:
            token = self.tokens.issue(ws, job) if self.tokens is not None else None
            prepared = self.preparer.prepare(
                ws, job, server_url=self.settings.base_url, token=token,
                tracking_uri=f"{self.settings.base_url}/workspaces/{ws}",
                retry_seconds=self.settings.runner_retry_seconds,
                log=lambda data: self.jobs.append_server_log(ws, job.name, data))
            if not self.jobs.move(ws, job.name, JobStatus.STARTING,
                                  allowed_from=frozenset({JobStatus.PREPARING})):
                return  # cancelled while preparing
            proc = self._take_standby()
            assert proc.stdin is not None
            proc.stdin.write(f"{prepared.config_path}\n".encode())
            proc.stdin.close()
            ident = processes.identity(proc.pid)
            self.jobs.set_runner(ws, job.name, {**ident, "job_dir": str(prepared.job_dir)})
            code = proc.wait()
            self._runner_ended(ws, job.name, f"the runner exited with code {code}")
        except EmberError as exc:
            self.jobs.move(ws, job.name, JobStatus.FAILED, reason="preparation failed",
                           error=exc.message)
        except Exception as exc:  # an internal failure must still end the job, with the cause
            log.exception("launching %s failed", job.name)
            self.jobs.move(ws, job.name, JobStatus.FAILED, reason="internal error",
                           error=f"internal error while starting the job: {exc}")
        finally:
            self.release(job.name)

    # --- warm runners -----------------------------------------------------------------------

    def _spawn_standby(self) -> subprocess.Popen[bytes]:
        """A runner process started ahead of need: interpreter up, modules imported; it waits
        for a runner.json path on stdin (see ``runner.standby``), which takes its start-up
        (~50 ms on a small machine) off every job's submit→Running path."""
        home = self.settings.home
        home.mkdir(parents=True, exist_ok=True)
        # -S and a script path: the runner is standard-library only.
        # The runner, and the job after it, inherit the server's environment less its secrets.
        user = self.preparer.job_user
        if user is not None:   # --job-user: the runner and the job are that OS user's
            return subprocess.Popen([sys.executable, "-S", RUNNER_SCRIPT, "--standby"],
                                    cwd="/", env=scrubbed_environ(os.environ),
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True,
                                    close_fds=True, user=user.uid, group=user.gid,
                                    extra_groups=[])
        return subprocess.Popen([sys.executable, "-S", RUNNER_SCRIPT, "--standby"], cwd=home,
                                env=scrubbed_environ(os.environ),
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                close_fds=True)

    def _take_standby(self) -> subprocess.Popen[bytes]:
        """A warm runner (a fresh one if none is ready); the pool is topped up by one, so a
        burst of launches does not pay for many spawns at once."""
        with self._standby_lock:
            proc = None
            while self._standbys and proc is None:
                candidate = self._standbys.pop()
                if candidate.poll() is None:
                    proc = candidate
            if proc is None:
                proc = self._spawn_standby()
            # Refilled at once: measured faster on a 2-core machine than refilling later,
            # when the start-up lands on the next job's launch.
            if not self._stop.is_set() and len(self._standbys) < self._standby_target:
                self._standbys.append(self._spawn_standby())
        return proc

    def _drop_standbys(self) -> None:
        with self._standby_lock:
            procs, self._standbys = self._standbys, []
        for proc in procs:
            if proc.poll() is None:
                assert proc.stdin is not None
                proc.stdin.close()   # an empty read: the standby runner exits
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _runner_ended(self, ws: str, name: str, why: str) -> None:
        job = self.jobs.get(ws, name)
        if job.status in JobStatus.TERMINAL:
            return
        if job.status == JobStatus.CANCEL_REQUESTED:
            self.jobs.move(ws, name, JobStatus.CANCELED, reason=job.status_history[-1].reason)
            return
        self.jobs.move(ws, name, JobStatus.FAILED, reason="runner ended",
                       error=f"{why} before the job finished; see runner.log in the job folder")

    def started(self, ws: str, job: Job) -> None:
        """The runner reported Running: arm the job's timeout."""
        if job.timeout:
            start = job.start_time or time.time()
            self._deadlines[job.name] = (ws, start + job.timeout, job.timeout)

    def _timeout(self, ws: str, name: str, timeout: float) -> None:
        try:
            self.jobs.cancel(ws, name, reason=f"limits.timeout of {timeout:g} s exceeded")
        except EmberError:
            pass  # it ended on its own meanwhile

    def stop_job(self, ws: str, name: str) -> None:
        """Stop a job's whole process tree (runner, command, and anything they started)."""
        job = self.jobs.get(ws, name, with_history=False)
        pid = job.runner.get("pid")
        if pid and processes.is_same_process(pid, job.runner.get("create_time")):
            processes.kill_tree(int(pid), self.settings.cancel_grace_seconds)

    def finalize(self, ws: str, name: str) -> None:
        """A runner asked the server to copy outputs on a remote datastore (deferred outputs)."""
        self.jobs.get(ws, name, with_history=False)
        self.preparer.finalize(ws, self.preparer.job_dir(name))

    # --- restart ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Reattach or end every job a previous server process left active."""
        for ws, job in self.jobs.list_in_status(JobStatus.ACTIVE):
            if job.type != "command":
                continue   # pipelines and sweeps: the orchestrator's
            pid, ctime = int(job.runner.get("pid") or 0), job.runner.get("create_time")
            alive = processes.is_same_process(pid, ctime)
            if job.status == JobStatus.PREPARING and not alive:
                self.jobs.move(ws, job.name, JobStatus.QUEUED,
                               reason="server restarted during preparation; re-queued",
                               allowed_from=frozenset({JobStatus.PREPARING}))
            elif alive and job.status != JobStatus.CANCEL_REQUESTED:
                with self._lock:
                    self._active.add(job.name)
                self.started(ws, job)
                self._pool.submit(self._watch, ws, job.name, pid, ctime)
            elif alive:
                processes.kill_tree(pid, self.settings.cancel_grace_seconds)
                self._runner_ended(ws, job.name, "cancelled before the restart")
            else:
                self._runner_ended(ws, job.name,
                                   "the runner process was gone when the server restarted")

    def _watch(self, ws: str, name: str, pid: int, ctime: float | None) -> None:
        try:
            while not self._stop.is_set() and processes.is_same_process(pid, ctime):
                time.sleep(0.2)
            if not self._stop.is_set():
                self._runner_ended(ws, name, "the reattached runner exited")
        finally:
            self.release(name)
