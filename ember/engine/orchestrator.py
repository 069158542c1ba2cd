"""The orchestrator: drives composite jobs (pipelines, sweeps) whose work is child jobs.

One thread. A composite is re-evaluated ("advanced") when one of its children changes status,
when it is created or cancelled, and on a slow tick (sweeps poll their trials' metrics there).
Everything a driver decides from is in the store (the composite's definition and its children),
so after a server restart the orchestrator simply advances every active composite again: child
names are deterministic, so no step is started twice.
"""

from __future__ import annotations

import abc
import logging
import threading

from ember.engine.jobs import JobEvent, JobService
from ember.entities.jobs import Job, JobStatus

log = logging.getLogger("ember.orchestrator")
TICK_SECONDS = 1.0


class Driver(abc.ABC):
    """How one composite job type runs; called with the composite's lock held."""

    @abc.abstractmethod
    def advance(self, workspace: str, job: Job) -> list[str]:
        """Start what can start, stop what must stop, end the composite when it is done.
        Returns the names of its children (so their status changes wake it)."""

    @abc.abstractmethod
    def cancel(self, workspace: str, job: Job, reason: str) -> None:
        """The composite is CancelRequested: cancel every child that has not ended, then
        move the composite to Canceled."""


class Orchestrator:
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.drivers: dict[str, Driver] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._dirty: dict[str, str] = {}          # composite name -> workspace
        self._active: dict[str, tuple[str, str]] = {}  # composite name -> (workspace, type)
        self._parent: dict[str, str] = {}         # child name -> composite name
        self._thread: threading.Thread | None = None
        self._jobs: dict[str, Job] = {}            # composite name -> last read (see _current)
        jobs.subscribe(self._on_event)

    def register(self, job_type: str, driver: Driver) -> None:
        self.drivers[job_type] = driver

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        statuses = [s for s in JobStatus.ALL if s not in JobStatus.TERMINAL]
        for ws, job in self.jobs.list_in_status(statuses):
            if job.type in self.drivers:
                self.submitted(ws, job)
        self._thread = threading.Thread(target=self._loop, name="ember-orchestrator",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)

    def submitted(self, workspace: str, job: Job) -> None:
        """A composite was created (or found active at start-up): advance it soon."""
        with self._guard:
            self._active[job.name] = (workspace, job.type)
            self._dirty[job.name] = workspace
        self._wake.set()

    def lock(self, name: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())

    def _cancel(self, workspace: str, name: str) -> None:
        """A composite moved to CancelRequested: its driver cancels the children and ends it."""
        with self.lock(name):
            job = self.jobs.get(workspace, name)
            reason = job.status_history[-1].reason if job.status_history else ""
            self.drivers[job.type].cancel(workspace, job, reason)
        self._mark(name, workspace)

    # --- events -----------------------------------------------------------------------------

    def _on_event(self, event: JobEvent) -> None:
        with self._guard:
            parent = self._parent.get(event.name)
            composite = event.name in self._active
        if composite and event.status == JobStatus.CANCEL_REQUESTED:
            self._cancel(event.workspace, event.name)
        elif parent is not None and event.status in JobStatus.TERMINAL:
            self._mark(parent, event.workspace)

    def _mark(self, name: str, workspace: str) -> None:
        with self._guard:
            self._dirty[name] = workspace
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            ticked = not self._wake.wait(TICK_SECONDS)
            self._wake.clear()
            with self._guard:
                if ticked:   # sweeps read their trials' metrics then; for pipelines a safety net
                    for name, (ws, _kind) in self._active.items():
                        self._dirty[name] = ws
                batch, self._dirty = self._dirty, {}
            for name, ws in batch.items():
                try:
                    self._advance(ws, name)
                except Exception:  # one broken composite must not stop the others; logged
                    log.exception("advancing %s failed", name)

    def _advance(self, workspace: str, name: str) -> None:
        with self.lock(name):
            job = self._current(workspace, name)
            if job.status in JobStatus.TERMINAL:
                self._forget(name)
                return
            children = self.drivers[job.type].advance(workspace, job)
            with self._guard:
                for child in children:
                    self._parent[child] = name
            if self.jobs.get_status(workspace, name) in JobStatus.TERMINAL:
                self._forget(name)
                parent = self._parent.get(name)
                if parent is not None:
                    self._mark(parent, workspace)

    def _current(self, workspace: str, name: str) -> Job:
        """The composite, re-read in full only when its status changed since the last look
        (a big pipeline's definition is costly to decode on every child event). Drivers
        update outputs and properties through this same object."""
        cached = self._jobs.get(name)
        if cached is not None and self.jobs.get_status(workspace, name) == cached.status:
            return cached
        job = self.jobs.get(workspace, name, with_history=False)
        self._jobs[name] = job
        return job

    def adopt(self, workspace: str, parent: str, child: str) -> None:
        """Route ``child``'s status changes to ``parent`` (call before the child is recorded)."""
        with self._guard:
            self._parent[child] = parent

    def _forget(self, name: str) -> None:
        self._jobs.pop(name, None)
        with self._guard:
            self._active.pop(name, None)
            for child in [c for c, p in self._parent.items() if p == name]:
                self._parent.pop(child, None)
