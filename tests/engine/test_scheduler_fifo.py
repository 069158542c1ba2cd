"""The scheduler's queue is first-in first-out across jobs: a job queued later never takes a free
slot ahead of one queued before it (the report: a sweep's new trials started ahead of pipeline
steps queued before them; to the scheduler both are command jobs with a parent).

The scheduler is driven in-process, step by step, on a real JobService and store, through its
seams: it is started without its loop thread (the test runs each tick where the loop would), its
``launch`` only notes the job, which keeps its slot until the test ends it, and its
``list_queued`` lets a test act between a tick's read of the queue and its starts. Every
interleaving below is exact, with no sleeps and no timing.

How a newer job could jump ahead: a job is offered a slot directly when it is queued (no wait for
the loop), and a slot freed by a job that ended is only handed to the queue at the loop's next
tick, after it has read the whole queue (slow when the queue is long). A job queued in that window
took the free slot ahead of every job already waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
    moved them Queued -> Preparing (synchronously, when it takes a slot for them).

    The platform's own scheduler is never started, so it starts no job (it leaves every job
    offered to it to a queue it never reads): the scheduler under test is this one."""

    def __init__(self, platform: Platform, *, parents: bool = True) -> None:
        self.jobs = platform.jobs
        self.started: list[str] = []
        self._after_read: Callable[[], None] | None = None
        self.sched = Scheduler(platform.jobs, platform.preparer, platform.settings,
                               launch=self._launch, list_queued=self._read_queue)
        if parents:
            record_parents(platform)
        self.sched.start(loop=False)   # recovery, then no loop thread: the test ticks

    def _launch(self, ws: str, job: Job) -> None:
        """A started job runs nothing and holds its slot until end()."""
        self.started.append(job.name)

    def _read_queue(self) -> list[tuple[str, Job]]:
        queued = self.jobs.list_in_status([JobStatus.QUEUED], with_history=False)
        act, self._after_read = self._after_read, None
        if act is not None:
            act()
        return queued

    def after_next_read(self, act: Callable[[], None]) -> None:
        """Run ``act`` once, between the next tick's read of the queue and its starts."""
        self._after_read = act

    def queue(self, name: str, parent: str) -> None:
        """Record a command job (Queued), as a sweep records a trial or a pipeline a step: the
        scheduler hears of it synchronously, in this thread, and may start it at once."""
        self.jobs.record(WS, Job(name=name, command="true", parent_job_name=parent,
                                 experiment_name="fifo"))

    def end(self, name: str) -> None:
        """The job's runner exited: it is Completed and its slot is free (what the end of the
        scheduler's own launcher does), and the loop was woken but has not ticked yet."""
        assert self.jobs.move(WS, name, JobStatus.COMPLETED,
                              allowed_from=frozenset({JobStatus.PREPARING}))
        self.sched.release(name)

    def tick(self) -> None:
        self.sched.tick()

    def close(self) -> None:
        self.sched.close()   # no loop thread, no warm runners: nothing to wait for


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Queue]:
    platform = Platform(Settings(home=tmp_path / "home", port=0, max_concurrent_jobs=1))
    queue = None
    try:
        queue = Queue(platform)
        queue.tick()   # the loop's first tick, which start() runs at once: the queue is empty
        yield queue
    finally:
        if queue is not None:
            queue.close()
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


def test_a_job_queued_while_the_loop_reads_the_queue_is_not_forgotten(fifo: Queue) -> None:
    """A job queued while a tick reads the queue is not in what that tick read; the tick must
    not conclude that no job waits (then the next new job would take a freed slot before it)."""
    fifo.queue("trial-0", "sweep")
    fifo.queue("step-a", "pipeline")
    fifo.end("trial-0")
    # Another thread records a step while the tick reads the queue.
    fifo.after_next_read(lambda: fifo.queue("step-b", "pipeline"))
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


def test_jobs_left_queued_by_a_restart_start_before_new_ones(tmp_path: Path) -> None:
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
    fifo = None
    try:
        fifo = Queue(platform, parents=False)
        fifo.queue("trial-0", "sweep")        # before the first tick has read the queue
        fifo.tick()
        assert fifo.started == ["step-a"]     # cc2b499 alone: trial-0
        fifo.end("step-a")
        fifo.tick()
        assert fifo.started == ["step-a", "trial-0"]
    finally:
        if fifo is not None:
            fifo.close()
        platform.close()


@pytest.mark.parametrize("parent_status",
                         [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED])
def test_a_queued_child_whose_parent_ended_is_canceled_and_holds_no_one_back(
        fifo: Queue, parent_status: str) -> None:
    """A child still queued when its parent ended was never started nor ended, and kept "older
    jobs wait" set for good: every new job then waited for a tick instead of taking a free
    slot."""
    fifo.jobs.record(WS, Job(name="ended-sweep", command="", type="sweep",
                             experiment_name="fifo"), status=parent_status)
    fifo.queue("orphan", "ended-sweep")
    assert fifo.started == []                     # never started: its parent has ended
    fifo.tick()
    orphan = fifo.jobs.get(WS, "orphan")
    assert orphan.status == JobStatus.CANCELED    # before the fix: Queued, for good
    assert orphan.status_history[-1].reason == (
        f"its parent job ended-sweep ended ({parent_status}) before it started")
    assert fifo.started == []
    fifo.queue("trial-0", "sweep")                # a free slot and no job waits: at once
    assert fifo.started == ["trial-0"]            # before the fix: left to the next tick


def test_a_queued_child_whose_parent_is_gone_is_canceled(fifo: Queue) -> None:
    fifo.queue("orphan", "no-such-pipeline")
    assert fifo.started == []
    fifo.tick()
    orphan = fifo.jobs.get(WS, "orphan")
    assert orphan.status == JobStatus.CANCELED
    assert orphan.status_history[-1].reason == (
        "its parent job no-such-pipeline no longer exists; it never started")
    fifo.queue("trial-0", "sweep")
    assert fifo.started == ["trial-0"]


def test_a_child_held_by_its_parents_cancel_holds_no_one_back(fifo: Queue) -> None:
    """A queued child of a composite being cancelled is never started and is left for the
    cancel to end; it is no older job waiting for a slot, so a new job takes a free one."""
    fifo.jobs.record(WS, Job(name="cancelling", command="", type="pipeline",
                             experiment_name="fifo"), status=JobStatus.CANCEL_REQUESTED)
    fifo.queue("held", "cancelling")
    fifo.tick()
    assert fifo.jobs.get_status(WS, "held") == JobStatus.QUEUED   # the cancel's to end
    assert fifo.started == []
    fifo.queue("trial-0", "sweep")                # before the fix: left to the next tick
    assert fifo.started == ["trial-0"]
