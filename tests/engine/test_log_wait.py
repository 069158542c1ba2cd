"""A log follower's long poll (``read_log(wait=...)``, ``GET .../logs?wait=``): it is answered
when the log grows or the job's status changes, not at its next poll."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ember.engine import jobs as jobs_module
from ember.entities.jobs import Job, JobStatus
from ember.entities.workspaces import DEFAULT_WORKSPACE as WS
from ember.server.context import Platform
from ember.settings import Settings
from tests.conftest import wait_for


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(Settings(home=tmp_path / "home", port=0))   # no scheduler: jobs stay Queued
    try:
        yield p
    finally:
        p.close()


def _follow(platform: Platform, name: str, offset: int) -> tuple[threading.Thread, list[Any]]:
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(
        platform.jobs.read_log(WS, name, offset, wait=60)))
    reader.start()
    # The reader is waiting once it holds the condition's wait (CPython's Condition keeps a
    # list of its waiters).
    wait_for(lambda: len(platform.jobs._changed._waiters) == 1)   # type: ignore[attr-defined]
    return reader, got


def test_a_waiting_reader_gets_the_new_bytes_and_the_end(platform: Platform) -> None:
    job = platform.jobs.create(WS, Job(name="follow_me", command="echo hi"))
    assert platform.jobs.read_log(WS, job.name, 0, wait=0)[0] == b""
    reader, got = _follow(platform, job.name, 0)
    platform.jobs.append_log(WS, job.name, 0, b"line one\n")
    reader.join(30)
    data, size, _job = got[0]
    assert data == b"line one\n" and size == 9   # before the wake: b"" after 60 s
    reader, got = _follow(platform, job.name, 9)
    assert platform.jobs.move(WS, job.name, JobStatus.CANCELED)
    reader.join(30)
    assert got[0][0] == b"" and got[0][2].status == JobStatus.CANCELED


def test_another_jobs_news_does_not_end_the_wait(platform: Platform) -> None:
    mine = platform.jobs.create(WS, Job(name="mine", command="echo"))
    other = platform.jobs.create(WS, Job(name="other", command="echo"))
    reader, got = _follow(platform, mine.name, 0)
    before = platform.jobs._changes   # type: ignore[attr-defined]
    platform.jobs.append_log(WS, other.name, 0, b"not yours\n")
    # Woken, it read its own job again, found nothing and waits once more.
    wait_for(lambda: len(platform.jobs._changed._waiters) == 1   # type: ignore[attr-defined]
             and platform.jobs._changes == before + 1)   # type: ignore[attr-defined]
    assert reader.is_alive()
    platform.jobs.append_log(WS, mine.name, 0, b"yours\n")
    reader.join(30)
    assert got[0][0] == b"yours\n"


def test_readers_past_the_limit_are_answered_at_once(platform: Platform) -> None:
    job = platform.jobs.create(WS, Job(name="busy", command="echo"))
    for _ in range(jobs_module.MAX_LOG_WAITERS):
        assert platform.jobs._waiters.acquire(blocking=False)   # type: ignore[attr-defined]
    assert platform.jobs.read_log(WS, job.name, 0, wait=60)[0] == b""   # no thread held
