"""Cancelling a sweep with many queued trials is prompt and starts none of them (issue 10, item
8). That the job queue is first-in first-out across jobs (a sweep's new trial does not jump ahead
of a pipeline step queued before it) is tests/engine/test_scheduler_fifo.py's."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from ember import MLClient
from ember.entities.jobs import JobStatus
from tests.conftest import ServerProc, wait_for
from tests.test_cli import create_job, ember

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



def test_cancel_of_a_sweep_with_many_queued_trials_is_prompt_and_starts_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    total = 200
    srv = ServerProc(tmp_path / "home", extra=["--max-concurrent-jobs", "2"]).start()
    monkeypatch.setenv("EMBER_TOKEN", srv.token)   # the CLI's and the SDK's token for srv
    try:
        spec = _spec(tmp_path, BIG_SWEEP.format(release=tmp_path / "never", total=total,
                                                concurrent=total), "sweep.yml")
        name = create_job(srv, spec)
        with MLClient(endpoint=srv.url) as c:
            wait_for(lambda: len(c.jobs.list(parent_job_name=name, max_results=10_000)) == total
                     and sum(t.status == JobStatus.RUNNING for t in
                             c.jobs.list(parent_job_name=name, max_results=10_000)) == 2,
                     timeout=120, interval=0.2)
            asked = time.time()
            r = ember(srv, "job", "cancel", "-n", name)
            assert r.returncode == 0, r.stderr
            assert c.jobs.get(name).status == JobStatus.CANCELED
            trials = c.jobs.list(parent_job_name=name, max_results=10_000)
        assert all(t.status == JobStatus.CANCELED for t in trials)
        started_after = [t.name for t in trials if any(
            h.status == JobStatus.PREPARING and h.time >= asked for h in t.status_history)]
        assert started_after == []
        # How long it takes is measured, not asserted: benchmarks/bench_sweep_cancel.py.
    finally:
        srv.stop()
