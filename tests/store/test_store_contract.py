"""One contract for every metadata store backend; each backend subclasses it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ember.entities.data import DataAsset
from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobInput, JobOutput, JobStatus
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


class TestStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        store.workspaces.create(Workspace(name="w1", creation_time=time.time()))
        return "w1"

    def test_workspace_create_get_list_and_duplicate(self, store: SqlStore) -> None:
        store.workspaces.create(Workspace(name="a", description="d", creation_time=1.0))
        assert store.workspaces.get("a").description == "d"
        with pytest.raises(AlreadyExistsError):
            store.workspaces.create(Workspace(name="a", creation_time=2.0))
        with pytest.raises(NotFoundError, match="'zz'"):
            store.workspaces.get("zz")
        assert [w.name for w in store.workspaces.list()] == ["a"]

    def test_versions_auto_increment_and_latest(self, store: SqlStore, ws: str) -> None:
        for _ in range(3):
            store.data.create(ws, DataAsset(name="d", version="", path="azureml://x",
                                            creation_time=time.time()))
        store.data.create(ws, DataAsset(name="d", version="beta", path="p", creation_time=1))
        assert store.data.get(ws, "d").version == "beta"  # most recently created
        store.data.create(ws, DataAsset(name="u", version="²", path="p", creation_time=1))
        store.data.create(ws, DataAsset(name="u", version="", path="p", creation_time=1))
        assert store.data.get(ws, "u").version == "1"   # "²" is a digit, not a number
        assert store.data.get(ws, "d", "2").version == "2"
        assert [d.version for d in store.data.list(ws, "d")] == ["beta", "3", "2", "1"]
        assert [d.version for d in store.data.list(ws)] == ["beta", "1"]   # d and u, latest
        store.data.create(ws, DataAsset(name="d", version="", path="p", creation_time=1))
        assert store.data.get(ws, "d").version == "4"
        with pytest.raises(AlreadyExistsError):
            store.data.create(ws, DataAsset(name="d", version="2", path="p", creation_time=1))
        with pytest.raises(NotFoundError, match="d:9"):
            store.data.get(ws, "d", "9")

    def test_environment_round_trip(self, store: SqlStore, ws: str) -> None:
        env = Environment(name="e", version="", conda_file={"dependencies": ["python=3.11",
                                                                            {"pip": ["six"]}]},
                          image="python:3.11", tags={"k": "v"}, creation_time=1.0)
        store.environments.create(ws, env)
        got = store.environments.get(ws, "e", "1")
        assert got.conda_file == env.conda_file and got.tags == {"k": "v"}

    def _job(self, name: str) -> Job:
        return Job(name=name, command="echo hi", experiment_name="exp",
                   inputs={"n": JobInput(type="integer", value=3),
                           "d": JobInput(type="uri_folder", path="azureml://x", mode="download")},
                   outputs={"o": JobOutput()}, environment=Environment(image="python"),
                   creation_time=time.time())

    def test_job_round_trip_and_status_cas(self, store: SqlStore, ws: str) -> None:
        store.jobs.create(ws, self._job("j1"))
        got = store.jobs.get(ws, "j1")
        assert got.inputs["n"].value == 3 and got.inputs["d"].mode == "download"
        assert isinstance(got.environment, Environment) and got.environment.image == "python"
        assert got.status == JobStatus.QUEUED
        ok = store.jobs.transition(ws, "j1", JobStatus.PREPARING,
                                   allowed_from=[JobStatus.QUEUED], time=1.0)
        again = store.jobs.transition(ws, "j1", JobStatus.PREPARING,
                                      allowed_from=[JobStatus.QUEUED], time=2.0)
        assert ok and not again
        store.jobs.transition(ws, "j1", JobStatus.FAILED, allowed_from=[JobStatus.PREPARING],
                              time=3.0, reason="boom", error="it broke")
        got = store.jobs.get(ws, "j1")
        assert [s.status for s in got.status_history] == ["Queued", "Preparing", "Failed"]
        assert got.error == "it broke" and got.end_time == 3.0
        with pytest.raises(AlreadyExistsError):
            store.jobs.create(ws, self._job("j1"))
        with pytest.raises(NotFoundError):
            store.jobs.get("other", "j1")

    def test_concurrent_transitions_have_one_winner(self, store: SqlStore, ws: str) -> None:
        store.jobs.create(ws, self._job("race"))
        wins: list[bool] = []

        def attempt() -> None:
            wins.append(store.jobs.transition(ws, "race", JobStatus.PREPARING,
                                              allowed_from=[JobStatus.QUEUED], time=1.0))

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wins.count(True) == 1
        assert len(store.jobs.get(ws, "race").status_history) == 2

    def test_list_filters(self, store: SqlStore, ws: str) -> None:
        for i in range(3):
            store.jobs.create(ws, self._job(f"l{i}"))
        store.jobs.transition(ws, "l1", JobStatus.PREPARING, allowed_from=[JobStatus.QUEUED],
                              time=1.0)
        assert [j.name for j in store.jobs.list(ws, statuses=[JobStatus.QUEUED])] == ["l2", "l0"]
        assert [j.name for _, j in store.jobs.list_in_status([JobStatus.PREPARING])] == ["l1"]
        store.jobs.set_runner(ws, "l1", {"pid": 5})
        assert store.jobs.get(ws, "l1").runner == {"pid": 5}

    def test_job_names_are_taken_across_workspaces(self, store: SqlStore, ws: str) -> None:
        store.workspaces.create(Workspace(name="w2", creation_time=time.time()))
        store.jobs.create(ws, self._job("shared-name"))
        assert store.jobs.name_taken("shared-name") and not store.jobs.name_taken("other")
        with pytest.raises(NotFoundError):
            store.jobs.get("w2", "shared-name")

    def test_update_and_find_reusable(self, store: SqlStore, ws: str) -> None:
        a, b = self._job("r1"), self._job("r2")
        a.reuse_key = b.reuse_key = "k" * 64
        b.creation_time = a.creation_time + 1
        store.jobs.create(ws, a)
        store.jobs.create(ws, b)
        assert store.jobs.find_reusable(ws, "k" * 64) is None   # neither is Completed
        for name in ("r1", "r2"):
            store.jobs.transition(ws, name, JobStatus.COMPLETED,
                                  allowed_from=[JobStatus.QUEUED], time=5.0)
        found = store.jobs.find_reusable(ws, "k" * 64)
        assert found is not None and found.name == "r2"
        assert store.jobs.find_reusable("other", "k" * 64) is None
        got = store.jobs.get(ws, "r1")
        got.outputs["o"].path = "azureml://datastores/x/paths/y/"
        got.properties["azureml.isreused"] = "true"
        got.definition = {"jobs": {"a": {"kind": "command"}}}
        store.jobs.update(ws, got)
        again = store.jobs.get(ws, "r1")
        assert again.outputs["o"].path == "azureml://datastores/x/paths/y/"
        assert again.properties == {"azureml.isreused": "true"}
        assert again.definition == {"jobs": {"a": {"kind": "command"}}}
        assert again.status == JobStatus.COMPLETED and again.reuse_key == "k" * 64
        with pytest.raises(NotFoundError):
            store.jobs.update("other", got)

    def test_children_statuses_and_light_reads(self, store: SqlStore, ws: str) -> None:
        parent = self._job("p1")
        parent.type = "pipeline"
        store.jobs.create(ws, parent)
        for i in range(3):
            child = self._job(f"p1-s{i}")
            child.parent_job_name = "p1"
            store.jobs.create(ws, child)
        store.jobs.create(ws, self._job("unrelated"))
        store.jobs.transition(ws, "p1-s1", JobStatus.PREPARING, allowed_from=[JobStatus.QUEUED],
                              time=2.0)
        assert store.jobs.child_statuses(ws, "p1") == {
            "p1-s0": "Queued", "p1-s1": "Preparing", "p1-s2": "Queued"}
        assert store.jobs.child_statuses("other", "p1") == {}
        assert store.jobs.get_status(ws, "p1-s1") == "Preparing"
        with pytest.raises(NotFoundError):
            store.jobs.get_status(ws, "nope")
        light = store.jobs.get(ws, "p1-s1", with_history=False)
        assert light.status == "Preparing" and light.status_history == []
        assert len(store.jobs.get(ws, "p1-s1").status_history) == 2
        listed = store.jobs.list(ws, parent_job_name="p1", with_history=False)
        assert sorted(j.name for j in listed) == ["p1-s0", "p1-s1", "p1-s2"]
        assert all(j.status_history == [] for j in listed)
        queued = store.jobs.list_in_status([JobStatus.QUEUED], with_history=False)
        assert {j.name for _, j in queued} >= {"p1", "p1-s0", "p1-s2", "unrelated"}


def test_sqlite_migrations_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'again.sqlite'}"
    SqlStore(url).close()
    s = SqlStore(url)
    s.workspaces.create(Workspace(name="x", creation_time=1.0))
    s.close()
