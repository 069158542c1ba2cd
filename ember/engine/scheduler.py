"""The local-compute scheduler: a capacity-limited queue, runner processes, timeouts, recovery.

Queued jobs start oldest first while fewer than ``max_concurrent_jobs`` are active. Each started
job gets a worker thread that prepares it (environment, inputs), spawns its runner in a new
session and waits for it. A queued child of a composite (pipeline step, sweep trial) never
starts while its parent is being cancelled, and is ended Canceled once its parent has ended
without ending it. Runners survive a server restart: at start-up every job that was active
is either reattached (its runner is still alive, checked by pid *and* process start time) or ended
with a reason, and jobs caught mid-preparation go back to the queue.

A job whose ``compute`` names a registered Ray compute takes a slot of that compute's pool
(``max_concurrent_jobs``; unbounded by default, Ray itself queues by resources), not one of the
local slots, and its runner is submitted as a Ray job (``ray_jobs``): one queue, one status
machine, only where the runner runs differs. Each pool keeps its own first-in-first-out order,
so a full Ray cluster does not hold back local jobs, nor the other way round.
"""

from __future__ import annotations

import json
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
from ember.engine.ray_jobs import RayEnd, RayJobs, submission_id
from ember.engine.remote_workdir import RemotePreparer
from ember.engine.workdir import WorkdirPreparer
from ember.entities.computes import Compute
from ember.entities.jobs import Job, JobStatus
from ember.errors import EmberError, NotFoundError
from ember.services.computes import ComputeService
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
LOCAL_POOL = "local"
UNBOUNDED = 1 << 30


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
                 tokens: JobTokens | None = None, computes: ComputeService | None = None,
                 remote: RemotePreparer | None = None) -> None:
        self.jobs = jobs
        self.computes = computes
        self.remote = remote
        self.ray = RayJobs(self._ray_ended)
        self.tokens = tokens
        self.preparer = preparer
        self.settings = settings
        self.capacity = max(1, settings.max_concurrent_jobs)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # job name → its pool: LOCAL_POOL, or "<workspace>/<compute>" for a Ray compute
        self._active: dict[str, str] = {}
        # the Ray compute a job just placed in a Ray pool goes to (read by its launch)
        self._placed: dict[str, Compute] = {}
        # set once any job was placed on a Ray compute: the queue is then read even while the
        # local slots are full
        self._remote_seen = False
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
        self.ray.close()
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
        if event.status in JobStatus.TERMINAL:
            with self._lock:
                remote = self._active.get(event.name, LOCAL_POOL) != LOCAL_POOL
            if remote:
                # Its runner reported the end (or a cancel ended it): the slot is free now;
                # the Ray job's process exits by itself (or is being stopped).
                self.ray.unwatch(submission_id(event.workspace, event.name))
                self.release(event.name)
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
            free = self.capacity - self._used(LOCAL_POOL)
            deferred = self._deferred
            remote = self._remote_seen
        if free <= 0 and not remote:
            return
        queued = [(ws, j) for ws, j in self._list_queued() if j.type == "command"]
        parents: dict[str, str] = {}
        places: dict[tuple[str, str], tuple[str, Compute | None]] = {}
        full: set[str] = set()
        waiting = False   # a startable job is left in the queue
        for ws, job in queued:
            place = self._place(ws, job, places)
            if place[0] in full:
                waiting = True   # not looked at: it may be startable
                continue
            parent = self._parent_status(ws, job, parents)
            if parent in HOLDING_PARENT:
                continue
            if parent in BLOCKING_PARENT:
                self._end_orphan(ws, job, parent)
                continue
            if not self._start(ws, job, place):
                waiting = True
                full.add(place[0])
                if not remote:
                    break
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

    def _used(self, pool: str) -> int:
        return sum(1 for p in self._active.values() if p == pool)

    def _place(self, ws: str, job: Job,
               cache: dict[tuple[str, str], tuple[str, Compute | None]] | None = None
               ) -> tuple[str, Compute | None]:
        """The pool ``job`` takes a slot of, and its Ray compute (None: local compute)."""
        key = (ws, job.compute or "")
        if cache is not None and key in cache:
            return cache[key]
        compute = self.computes.resolve(ws, job.compute) if self.computes is not None else None
        place = (LOCAL_POOL, None) if compute is None else (f"{ws}/{compute.name}", compute)
        if compute is not None:
            with self._lock:
                self._remote_seen = True
        if cache is not None:
            cache[key] = place
        return place

    def _start(self, ws: str, job: Job, place: tuple[str, Compute | None] | None = None) -> bool:
        """Take a slot of the job's pool and move ``job`` Queued → Preparing (compare-and-set,
        so the queue and :meth:`offer` never both launch it); False when no slot is free."""
        pool, compute = place or self._place(ws, job)
        capacity = self.capacity if compute is None else (compute.max_concurrent_jobs
                                                          or UNBOUNDED)
        with self._lock:
            if self._used(pool) >= capacity or self._stop.is_set():
                return False
            if job.name in self._active:
                return True
            self._active[job.name] = pool
            if compute is not None:
                self._placed[job.name] = compute
        if self.jobs.move(ws, job.name, JobStatus.PREPARING,
                          allowed_from=frozenset({JobStatus.QUEUED})):
            self._launch_job(ws, job)
        else:
            with self._lock:
                self._active.pop(job.name, None)
                self._placed.pop(job.name, None)
        return True

    def release(self, name: str) -> None:
        """Job ``name`` is done with its slot (its runner exited, or it never got one): free
        the slot and wake the loop to hand it to the queue."""
        with self._lock:
            self._active.pop(name, None)
            self._placed.pop(name, None)
        self._deadlines.pop(name, None)
        self._wake.set()

    # --- one job ----------------------------------------------------------------------------

    def _launch_in_worker(self, ws: str, job: Job) -> None:
        self._pool.submit(self._launch, ws, job)

    def _launch(self, ws: str, job: Job) -> None:
        with self._lock:
            compute = self._placed.pop(job.name, None)
        if compute is not None:
            self._launch_remote(ws, job, compute)
            return
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
        except Exception as exc:  # any failure must still end the job, with the cause
            self._launch_failed(ws, job.name, exc, "")
        finally:
            self.release(job.name)

    def _launch_failed(self, ws: str, name: str, exc: Exception, where: str) -> None:
        """End a job whose start failed: an EmberError says why in its own words; anything else
        is an internal error, logged with its traceback."""
        if isinstance(exc, EmberError):
            self.jobs.move(ws, name, JobStatus.FAILED, reason="preparation failed",
                           error=exc.message)
            return
        log.exception("starting %s%s failed", name, where, exc_info=exc)
        self.jobs.move(ws, name, JobStatus.FAILED, reason="internal error",
                       error=f"internal error while starting the job{where}: {exc}")

    def _launch_remote(self, ws: str, job: Job, compute: Compute) -> None:
        """Prepare ``job`` for its Ray compute and submit its runner there; the poller of that
        cluster ends it (:meth:`_ray_ended`) and frees its slot."""
        submitted = False
        try:
            if self.remote is None:
                raise EmberError("this server cannot run jobs on Ray computes")
            token = self.tokens.issue(ws, job) if self.tokens is not None else None
            url = self.settings.remote_url
            prepared = self.remote.prepare(
                ws, job, compute, server_url=url, token=token,
                tracking_uri=f"{url}/workspaces/{ws}",
                retry_seconds=self.settings.runner_retry_seconds,
                log=lambda data: self.jobs.append_server_log(ws, job.name, data))
            if not self.jobs.move(ws, job.name, JobStatus.STARTING,
                                  allowed_from=frozenset({JobStatus.PREPARING})):
                return  # cancelled while preparing
            sid = submission_id(ws, job.name)
            # recorded before the submit: a server that stops in between finds the job by it
            self.jobs.set_runner(ws, job.name, {"executor": "ray", "compute": compute.name,
                                                "address": compute.address,
                                                "submission_id": sid})
            self.ray.submit(
                compute.address, compute.name, sid, working_dir=str(prepared.stage),
                env_vars={"EMBER_RUNNER_CONFIG": json.dumps(prepared.config),
                          # Ray's grace between SIGTERM and SIGKILL at a stop (cancel, timeout)
                          "RAY_JOB_STOP_WAIT_TIME_S": f"{self.settings.cancel_grace_seconds:g}"},
                pip=prepared.pip, num_cpus=prepared.num_cpus, resources=prepared.resources,
                metadata={"ember_workspace": ws, "ember_job": job.name})
            self.ray.watch(compute.address, sid, ws, job.name)
            submitted = True
        except Exception as exc:  # any failure must still end the job, with the cause
            self._launch_failed(ws, job.name, exc, " on Ray")
        finally:
            if not submitted:
                self.release(job.name)

    def _ray_ended(self, ws: str, name: str, end: RayEnd) -> None:
        """The Ray job of ``name`` ended. Its runner normally reported the job's end before
        exiting; when it could not (its environment failed to install, say), Ray's log goes to
        the job's log and Ray's message is the error."""
        try:
            job = self.jobs.get(ws, name, with_history=False)
            if job.status in JobStatus.TERMINAL or job.status == JobStatus.CANCEL_REQUESTED:
                self._runner_ended(ws, name, "")
                return
            record = job.runner
            text = ""
            if end.status != "LOST":
                text = self.ray.logs(record.get("address", ""), record.get("submission_id", ""))
            note = f"[ember] the Ray job {record.get('submission_id')} ended {end.status}"
            detail = end.detail if end.detail.strip() != end.message else ""
            self.jobs.append_server_log(ws, name, (
                f"{note}: {end.message}\n" + (f"[ember] Ray's message:\n{detail}\n" if detail
                                              else "")
                + (f"[ember] Ray's log of it:\n{text}\n" if text else "")).encode())
            error = (end.message if end.status == "LOST" else
                     f"the Ray job ended {end.status} before the job finished: {end.message}")
            self._runner_ended(ws, name, "", error=error)
        finally:
            self.release(name)

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

    def _runner_ended(self, ws: str, name: str, why: str, *, error: str | None = None) -> None:
        job = self.jobs.get(ws, name)
        if job.status in JobStatus.TERMINAL:
            return
        if job.status == JobStatus.CANCEL_REQUESTED:
            self.jobs.move(ws, name, JobStatus.CANCELED, reason=job.status_history[-1].reason)
            return
        self.jobs.move(ws, name, JobStatus.FAILED, reason="runner ended",
                       error=error or f"{why} before the job finished; see runner.log in the "
                                      "job folder")

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
        if job.runner.get("executor") == "ray":
            self.ray.stop(job.runner.get("address", ""), job.runner.get("submission_id", ""))
            return
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
            if job.runner.get("executor") == "ray":
                self._recover_remote(ws, job)
                continue
            pid, ctime = int(job.runner.get("pid") or 0), job.runner.get("create_time")
            alive = processes.is_same_process(pid, ctime)
            if job.status == JobStatus.PREPARING and not alive:
                self.jobs.move(ws, job.name, JobStatus.QUEUED,
                               reason="server restarted during preparation; re-queued",
                               allowed_from=frozenset({JobStatus.PREPARING}))
            elif alive and job.status != JobStatus.CANCEL_REQUESTED:
                with self._lock:
                    self._active[job.name] = LOCAL_POOL
                self.started(ws, job)
                self._pool.submit(self._watch, ws, job.name, pid, ctime)
            elif alive:
                processes.kill_tree(pid, self.settings.cancel_grace_seconds)
                self._runner_ended(ws, job.name, "cancelled before the restart")
            else:
                self._runner_ended(ws, job.name,
                                   "the runner process was gone when the server restarted")

    def _recover_remote(self, ws: str, job: Job) -> None:
        """Reattach a job a previous server process submitted to a Ray compute."""
        record = job.runner
        address, sid = record.get("address", ""), record.get("submission_id", "")
        try:
            found = self.ray.details(address, sid)
        except EmberError as exc:   # the cluster is away: keep the job; the poller retries
            log.warning("reattaching %s: %s", job.name, exc.message)
            found = True
        if found is None:
            if job.status in (JobStatus.PREPARING, JobStatus.STARTING):
                self.jobs.move(ws, job.name, JobStatus.QUEUED,
                               reason="server restarted before the job reached Ray; re-queued",
                               allowed_from=frozenset({job.status}))
            else:
                self._runner_ended(ws, job.name, "", error=(
                    f"the Ray cluster at {address} no longer knows job {sid} (was its head "
                    "restarted?)"))
            return
        if found is not True and found.status.is_terminal():
            message = found.message or ""
            self._ray_ended(ws, job.name, RayEnd(str(found.status.value),
                                                 message.strip().split("\n", 1)[0],
                                                 message[-20_000:]))
            return
        with self._lock:
            self._active[job.name] = f"{ws}/{record.get('compute', '')}"
            self._remote_seen = True
        if job.status == JobStatus.CANCEL_REQUESTED:
            self.ray.stop(address, sid)
        else:
            self.started(ws, job)
        self.ray.watch(address, sid, ws, job.name)

    def _watch(self, ws: str, name: str, pid: int, ctime: float | None) -> None:
        try:
            while not self._stop.is_set() and processes.is_same_process(pid, ctime):
                time.sleep(0.2)
            if not self._stop.is_set():
                self._runner_ended(ws, name, "the reattached runner exited")
        finally:
            self.release(name)
