"""The sweep driver against a real Platform (SQLite, in process), stepped by hand: no
scheduler or orchestrator thread runs, so races are placed exactly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.settings import Settings
from ember.engine.sweeps import SweepDriver
from ember.entities.jobs import Job, JobStatus
from ember.entities.tracking import Metric
from ember.server.context import Platform
from ember.specs.sweeps import load_sweep_spec

WS = "default"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(Settings(home=tmp_path / "home", port=0))
    try:
        yield p
    finally:
        p.close()


def _complete(p: Platform, trial: Job, value: float) -> None:
    """What a trial's runner does: log the metric, then end Completed."""
    p.tracking.log_metric(WS, trial.name, Metric(key="acc", value=value,
                                                 timestamp=int(time.time() * 1000), step=0))
    for status in (JobStatus.PREPARING, JobStatus.STARTING, JobStatus.RUNNING,
                   JobStatus.FINALIZING, JobStatus.COMPLETED):
        assert p.jobs.move(WS, trial.name, status)


def test_a_trial_ending_during_the_last_tick_still_gets_its_objective(
        platform: Platform, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yml"
    spec.write_text("""type: sweep
trial:
  command: echo ${{search_space.x}}
search_space:
  x: {type: choice, values: [1, 2]}
sampling_algorithm: grid
objective: {primary_metric: acc, goal: maximize}
limits: {max_total_trials: 2, max_concurrent_trials: 2}
""")
    sweep = platform.sweeps.create(WS, load_sweep_spec(spec))
    driver = platform.orchestrator.drivers["sweep"]
    assert isinstance(driver, SweepDriver)
    driver.advance(WS, platform.jobs.get(WS, sweep.name))          # records both trials
    first, second = platform.jobs.list(WS, parent_job_name=sweep.name)
    _complete(platform, first, 0.25)
    looks = 0
    read_trials = driver._trials

    def trials_then_one_ends(workspace: str, name: str) -> list[Job]:
        nonlocal looks
        looks += 1
        found = read_trials(workspace, name)
        if looks == 1:   # after the tick's first look, before its last: the second trial ends
            _complete(platform, second, 0.75)
        return found

    driver._trials = trials_then_one_ends   # type: ignore[method-assign]
    driver.advance(WS, platform.jobs.get(WS, sweep.name))
    final = platform.jobs.get(WS, sweep.name)
    assert final.status == JobStatus.COMPLETED
    assert final.properties["best_child_run_id"] == second.name
    rows = {r["job"]: r["objective"] for r in platform.sweeps.trials(WS, sweep.name)}
    assert rows == {first.name: repr(0.25), second.name: repr(0.75)}   # before: second's None
