"""Cancelling a sweep with many queued trials is prompt and starts none of them (issue 10, item
8), and the job queue is first-in first-out across jobs: a sweep's new trial does not jump ahead
of a job queued before it."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

from ember import MLClient, command
from ember.entities.jobs import JobStatus
from tests.conftest import ServerProc, wait_for
from tests.test_cli import ember

BIG_SWEEP = """
type: sweep
trial:
  command: while [ ! -e {release} ]; do sleep 0.05; done; echo ${{{{search_space.x}}}}
sampling_algorithm: random
search_space:
  x: {{type: uniform, min_value: 0, max_value: 1}}
objective: {{primary_metric: acc, goal: maximize}}
limits: {{max_total_trials: {total}, max_concurrent_trials: {concurrent}}}
"""


def _spec(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _create(srv: ServerProc, spec: Path) -> str:
    r = ember(srv, "job", "create", "-f", str(spec), "-o", "json")
    assert r.returncode == 0, r.stderr
    return str(json.loads(r.stdout)["name"])


def _first(job_history: list, status: str) -> float:  # type: ignore[type-arg]
    return min(h.time for h in job_history if h.status == status)


def test_cancel_of_a_sweep_with_many_queued_trials_is_prompt_and_starts_none(
        tmp_path: Path) -> None:
    total = 200
    srv = ServerProc(tmp_path / "home", extra=["--max-concurrent-jobs", "2"]).start()
    try:
        spec = _spec(tmp_path, BIG_SWEEP.format(release=tmp_path / "never", total=total,
                                                concurrent=total), "sweep.yml")
        name = _create(srv, spec)
        with MLClient(endpoint=srv.url) as c:
            wait_for(lambda: len(c.jobs.list(parent_job_name=name, max_results=10_000)) == total
                     and sum(t.status == JobStatus.RUNNING for t in
                             c.jobs.list(parent_job_name=name, max_results=10_000)) == 2,
                     timeout=120, interval=0.2)
            asked = time.time()
            r = ember(srv, "job", "cancel", "-n", name)
            took = time.time() - asked
            assert r.returncode == 0, r.stderr
            assert c.jobs.get(name).status == JobStatus.CANCELED
            trials = c.jobs.list(parent_job_name=name, max_results=10_000)
        assert all(t.status == JobStatus.CANCELED for t in trials)
        started_after = [t.name for t in trials if any(
            h.status == JobStatus.PREPARING and h.time >= asked for h in t.status_history)]
        assert started_after == []
        # Measured on a 2-core machine: 26 s before the fix (and 17 trials started after the
        # request), about 2 s after; the CLI's own start-up is part of it.
        assert took < 15, took
    finally:
        srv.stop()


def test_queue_is_first_in_first_out_across_jobs(tmp_path: Path) -> None:
    """A sweep's next trial is recorded when the one before ends; a job queued before that
    starts before it. (The jump-ahead needs a free slot while the queue is being read, so a
    long queue of other work sits behind the older job.)"""
    srv = ServerProc(tmp_path / "home", extra=["--max-concurrent-jobs", "1"]).start()
    release = tmp_path / "release"
    try:
        sweep = _create(srv, _spec(tmp_path, BIG_SWEEP.format(release=release, total=2,
                                                              concurrent=1), "sweep.yml"))
        with MLClient(endpoint=srv.url) as c:
            wait_for(lambda: any(t.status == JobStatus.RUNNING
                                 for t in c.jobs.list(parent_job_name=sweep)), timeout=60)
            # Queued while the first trial holds the only slot: older than the next trial.
            older = c.jobs.create_or_update(command(command="true")).name
            backlog = _create(srv, _spec(tmp_path, BIG_SWEEP.format(
                release=release, total=400, concurrent=400), "backlog.yml"))
            wait_for(lambda: len(c.jobs.list(parent_job_name=backlog, max_results=1000)) == 400,
                     timeout=120, interval=0.2)
            release.touch()
            wait_for(lambda: c.jobs.get(older).status in JobStatus.TERMINAL, timeout=60)
            wait_for(lambda: len(c.jobs.list(parent_job_name=sweep)) == 2, timeout=60)
            second = [t for t in c.jobs.list(parent_job_name=sweep)
                      if (t.definition or {}).get("trial") == 1][0]
            job = c.jobs.get(older)
            r = ember(srv, "job", "cancel", "-n", backlog)
            assert r.returncode == 0, r.stderr
        assert second.creation_time > job.creation_time
        started = [h.time for h in second.status_history if h.status == JobStatus.PREPARING]
        assert not started or started[0] > _first(job.status_history, JobStatus.PREPARING)
    finally:
        srv.stop()
