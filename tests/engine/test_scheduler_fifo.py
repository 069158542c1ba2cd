"""The scheduler's queue is first-in first-out across jobs: a job queued later never takes a free
slot ahead of one queued before it (the report: a sweep's new trials started ahead of pipeline
steps queued before them; to the scheduler both are command jobs with a parent).

The scheduler is driven in-process, step by step, on a real JobService and store: its loop thread
is not started (the test runs each tick where the loop would), and a started job keeps its slot
until the test ends it, so every interleaving below is exact, with no sleeps and no timing.

How a newer job could jump ahead: a job is offered a slot directly when it is queued (no wait for
the loop), and a slot freed by a job that ended is only handed to the queue at the loop's next
tick, after it has read the whole queue (slow when the queue is long). A job queued in that window
took the free slot ahead of every job already waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.engine.jobs import JobEvent
from ember.engine.scheduler import Scheduler
from ember.entities.jobs import Job, JobStatus
from ember.entities.workspaces import DEFAULT_WORKSPACE as WS
from ember.server.context import Platform
from ember.settings import Settings


def record_parents(platform: Platform) -> None:
    """A sweep and a pipeline, running: the parents of the trials and steps below."""
    for name, kind in (("sweep", "sweep"), ("pipeline", "pipeline")):
        platform.jobs.record(WS, Job(name=name, command="", type=kind, experiment_name="fifo"),
                             status=JobStatus.RUNNING)


class Queue:
    """One slot (``max_concurrent_jobs: 1``); ``started`` lists jobs in the order the scheduler
    moved them Queued -> Preparing (synchronously, when it takes a slot for them)."""

    def __init__(self, platform: Platform, monkeypatch: pytest.MonkeyPatch, *,
                 parents: bool = True) -> None:
        self.platform = platform
        self.jobs = platform.jobs
        self.sched: Scheduler = platform.scheduler
        self.started: list[str] = []
        self.jobs.subscribe(self._on_event)
        # A started job launches nothing and holds its slot until end().
        monkeypatch.setattr(self.sched, "_launch", lambda ws, job: None)
        # "Started" as far as offer() is concerned, without the loop thread: the test ticks.
        monkeypatch.setattr(self.sched, "_thread", threading.Thread(target=lambda: None))
        if parents:
            record_parents(platform)

    def _on_event(self, event: JobEvent) -> None:
        if event.status == JobStatus.PREPARING:
            self.started.append(event.name)

    def queue(self, name: str, parent: str) -> None:
        """Record a command job (Queued), as a sweep records a trial or a pipeline a step: the
        scheduler hears of it synchronously, in this thread, and may start it at once."""
        self.jobs.record(WS, Job(name=name, command="true", parent_job_name=parent,
                                 experiment_name="fifo"))

    def end(self, name: str) -> None:
        """The job's runner exited: it is Completed and its slot is free (what the end of the
        scheduler's ``_launch`` does), and the loop was woken but has not ticked yet."""
        assert self.jobs.move(WS, name, JobStatus.COMPLETED,
                              allowed_from=frozenset({JobStatus.PREPARING}))
        with self.sched._lock:
            self.sched._active.discard(name)

    def tick(self) -> None:
        self.sched._tick()


@pytest.fixture
def fifo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    platform = Platform(Settings(home=tmp_path / "home", port=0, max_concurrent_jobs=1))
    try:
        queue = Queue(platform, monkeypatch)
        queue.tick()   # the loop's first tick, which start() runs at once: the queue is empty
        yield queue
    finally:
        monkeypatch.undo()   # the loop thread was never started: nothing to join
        platform.close()


def test_a_job_queued_while_a_slot_is_being_freed_waits_for_older_ones(fifo: Queue) -> None:
    fifo.queue("trial-0", "sweep")
    assert fifo.started == ["trial-0"]            # a free slot: started at once
    fifo.queue("step-a", "pipeline")              # waits behind trial-0
    fifo.end("trial-0")                           # the slot is free until the loop's next tick
    fifo.queue("trial-1", "sweep")                # the sweep's next trial, in that window
    fifo.tick()
    assert fifo.started == ["trial-0", "step-a"]  # before the fix: trial-0, trial-1
    fifo.end("step-a")
    fifo.tick()
    assert fifo.started == ["trial-0", "step-a", "trial-1"]


def test_a_job_queued_while_the_loop_reads_the_queue_is_not_forgotten(
        fifo: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job queued while a tick reads the queue is not in what that tick read; the tick must
    not conclude that no job waits (then the next new job would take a freed slot before it)."""
    fifo.queue("trial-0", "sweep")
    fifo.queue("step-a", "pipeline")
    fifo.end("trial-0")
    read = fifo.jobs.list_in_status

    def read_then_queue(*args: object, **kwargs: object) -> list[tuple[str, Job]]:
        queued = read(*args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(fifo.jobs, "list_in_status", read)
        fifo.queue("step-b", "pipeline")          # another thread records a step meanwhile
        return queued

    monkeypatch.setattr(fifo.jobs, "list_in_status", read_then_queue)
    fifo.tick()
    assert fifo.started == ["trial-0", "step-a"]  # before cc2b499: trial-0, step-b
    fifo.end("step-a")
    fifo.queue("trial-1", "sweep")
    fifo.tick()
    # cc2b499 alone: trial-0, step-a, trial-1 (the tick had cleared "older jobs wait")
    assert fifo.started == ["trial-0", "step-a", "step-b"]
    fifo.end("step-b")
    fifo.tick()
    assert fifo.started == ["trial-0", "step-a", "step-b", "trial-1"]


def test_jobs_left_queued_by_a_restart_start_before_new_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a restart, jobs the previous server left Queued wait, though nothing offered them:
    a job queued before the first tick has read the queue (the orchestrator, started just
    after the scheduler, records trials and steps at once) waits behind them."""
    settings = Settings(home=tmp_path / "home", port=0, max_concurrent_jobs=1)
    before = Platform(settings)          # the previous server process; its scheduler never ran
    record_parents(before)
    before.jobs.record(WS, Job(name="step-a", command="true", parent_job_name="pipeline",
                               experiment_name="fifo"))
    before.close()
    platform = Platform(settings)
    try:
        fifo = Queue(platform, monkeypatch, parents=False)
        fifo.queue("trial-0", "sweep")        # before the first tick has read the queue
        fifo.tick()
        assert fifo.started == ["step-a"]     # cc2b499 alone: trial-0
        fifo.end("step-a")
        fifo.tick()
        assert fifo.started == ["step-a", "trial-0"]
    finally:
        monkeypatch.undo()
        platform.close()
