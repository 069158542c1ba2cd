"""The job store's user edits, archive and delete, on SQLite and PostgreSQL (the rest of the
job contract is in ``test_store_contract.py``)."""

from __future__ import annotations

import threading
import time

import pytest

from ember.entities.jobs import Job, JobOutput, JobStatus
from ember.entities.workspaces import Workspace
from ember.errors import NotFoundError
from ember.store.sql.store import SqlStore


@pytest.fixture
def store(sql_store: SqlStore) -> SqlStore:
    sql_store.workspaces.create(Workspace(name="w1", creation_time=time.time()))
    sql_store.workspaces.create(Workspace(name="w2", creation_time=time.time()))
    return sql_store


def _job(name: str, parent: str | None = None, **kw: object) -> Job:
    return Job(name=name, command="echo hi", display_name=f"dn-{name}", description="d",
               tags={"a": "1", "b": "2"}, parent_job_name=parent, creation_time=time.time(),
               **kw)  # type: ignore[arg-type]


def _end(store: SqlStore, name: str, status: str = JobStatus.COMPLETED) -> None:
    assert store.jobs.transition("w1", name, status, allowed_from=[JobStatus.QUEUED],
                                 time=time.time())


def test_update_metadata_sets_only_what_is_given(store: SqlStore) -> None:
    store.jobs.create("w1", _job("j1"))
    store.jobs.update_metadata("w1", "j1", display_name="new name")
    got = store.jobs.get("w1", "j1")
    assert (got.display_name, got.description, got.tags) == ("new name", "d",
                                                             {"a": "1", "b": "2"})
    store.jobs.update_metadata("w1", "j1", description="", tags={"c": "3"})
    got = store.jobs.get("w1", "j1")
    assert (got.display_name, got.description, got.tags) == ("new name", "", {"c": "3"})
    assert got.command == "echo hi" and got.status == JobStatus.QUEUED
    with pytest.raises(NotFoundError, match="'nope'"):
        store.jobs.update_metadata("w1", "nope", description="x")
    with pytest.raises(NotFoundError):   # another workspace's job
        store.jobs.update_metadata("w2", "j1", description="x")


def test_the_engines_update_keeps_what_the_user_edited(store: SqlStore) -> None:
    store.jobs.create("w1", _job("j1", outputs={"o": JobOutput()}))
    stale = store.jobs.get("w1", "j1")            # the engine's copy, read first
    store.jobs.update_metadata("w1", "j1", display_name="mine", description="why",
                               tags={"k": "v"})
    store.jobs.set_archived("w1", ["j1"], True)
    stale.outputs["o"] = JobOutput(path="azureml://datastores/x/paths/y")
    stale.properties = {"p": "1"}
    store.jobs.update("w1", stale)
    got = store.jobs.get("w1", "j1")
    assert got.outputs["o"].path == "azureml://datastores/x/paths/y"
    assert got.properties == {"p": "1"}
    assert (got.display_name, got.description, got.tags, got.is_archived) == (
        "mine", "why", {"k": "v"}, True)


def test_concurrent_tag_edits_are_not_lost(store: SqlStore) -> None:
    """Each edit reads and writes the spec under the row's lock: none undoes another."""
    store.jobs.create("w1", _job("j1"))
    errors: list[BaseException] = []

    def edit(i: int) -> None:
        try:
            if i % 2:
                store.jobs.update_metadata("w1", "j1", description=f"d{i}")
            else:
                job = store.jobs.get("w1", "j1", with_history=False)
                job.properties = {"n": str(i)}
                store.jobs.update("w1", job)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    got = store.jobs.get("w1", "j1")
    assert got.description in {f"d{i}" for i in range(1, 8, 2)}
    assert got.tags == {"a": "1", "b": "2"}
    assert got.properties.get("n") in {str(i) for i in range(0, 8, 2)}


def test_archived_jobs_are_listed_only_when_asked(store: SqlStore) -> None:
    for name in ("j1", "j2", "j3"):
        store.jobs.create("w1", _job(name))
    store.jobs.set_archived("w1", ["j1", "j3"], True)
    assert store.jobs.get("w1", "j1").is_archived
    assert not store.jobs.get("w1", "j2").is_archived
    names = lambda **kw: sorted(j.name for j in store.jobs.list("w1", **kw))  # noqa: E731
    assert names() == ["j1", "j2", "j3"]
    assert names(archived=False) == ["j2"]
    assert names(archived=True) == ["j1", "j3"]
    store.jobs.set_archived("w1", ["j3"], False)
    assert names(archived=True) == ["j1"]


def test_set_archived_is_all_or_nothing(store: SqlStore) -> None:
    store.jobs.create("w1", _job("j1"))
    store.jobs.create("w2", _job("j2"))
    with pytest.raises(NotFoundError, match="'j2'"):   # in another workspace
        store.jobs.set_archived("w1", ["j1", "j2"], True)
    assert not store.jobs.get("w1", "j1").is_archived


def test_delete_removes_the_jobs_and_their_history(store: SqlStore) -> None:
    store.jobs.create("w1", _job("p"))
    store.jobs.create("w1", _job("p-a", parent="p"))
    store.jobs.create("w1", _job("keep"))
    for name in ("p", "p-a"):
        _end(store, name)
    assert store.jobs.delete("w1", ["p", "p-a"], only_in=JobStatus.TERMINAL)
    for name in ("p", "p-a"):
        with pytest.raises(NotFoundError):
            store.jobs.get("w1", name)
        assert not store.jobs.name_taken(name)
    assert store.jobs.child_statuses("w1", "p") == {}
    assert [j.name for j in store.jobs.list("w1")] == ["keep"]
    # The name can be given to a new job (the store keeps nothing of the old one).
    store.jobs.create("w1", _job("p"))
    assert [s.status for s in store.jobs.get("w1", "p").status_history] == [JobStatus.QUEUED]


def test_delete_changes_nothing_when_one_job_has_not_ended(store: SqlStore) -> None:
    store.jobs.create("w1", _job("p"))
    store.jobs.create("w1", _job("p-a", parent="p"))
    _end(store, "p", JobStatus.CANCELED)
    assert not store.jobs.delete("w1", ["p", "p-a"], only_in=JobStatus.TERMINAL)
    assert len(store.jobs.get("w1", "p").status_history) == 2
    assert store.jobs.get("w1", "p-a").status == JobStatus.QUEUED
    # A missing job, or one of another workspace, also deletes nothing.
    _end(store, "p-a")
    assert not store.jobs.delete("w1", ["p", "p-a", "ghost"], only_in=JobStatus.TERMINAL)
    assert not store.jobs.delete("w2", ["p"], only_in=JobStatus.TERMINAL)
    assert store.jobs.get("w1", "p").status == JobStatus.CANCELED


def _filled(store: SqlStore) -> None:
    """Six jobs of w1 (and one of w2) made a second apart, oldest first."""
    rows = [("a1", "command", "Completed", "exp-a", "ada", {"team": "x", "k": "1"}, "first", None),
            ("a2", "command", "Failed", "exp-a", "bob", {"team": "y"}, "second", None),
            ("b1", "pipeline", "Completed", "exp-b", "ada", {}, "a Pipeline run", None),
            ("b1-s", "command", "Completed", "exp-b", "ada", {}, "", "b1"),
            ("b2", "sweep", "Running", "exp-b", None, {"team": "x"}, "100% tuned_x", None),
            ("c1", "command", "Canceled", "exp-c", "bob", {"k": "2"}, "", None)]
    for i, (name, kind, status, exp, who, tags, desc, parent) in enumerate(rows):
        job = Job(name=name, command="true", type=kind, display_name=f"Run {name.upper()}",
                  experiment_name=exp, submitter=who, tags=tags, description=desc,
                  parent_job_name=parent, creation_time=1000.0 + i)
        store.jobs.create("w1", job)
        if status != JobStatus.QUEUED:
            store.jobs.transition("w1", name, JobStatus.RUNNING, allowed_from=[JobStatus.QUEUED],
                                  time=1100.0)
        if status in JobStatus.TERMINAL:
            store.jobs.transition("w1", name, status, allowed_from=[JobStatus.RUNNING],
                                  time=1100.0 + 10 * (6 - i))
    store.jobs.create("w2", Job(name="other", command="true", experiment_name="exp-a",
                                creation_time=1003.5))


def _names(store: SqlStore, count: bool = False, **kw: object) -> list[str]:
    from ember.entities.jobs import JobQuery
    jobs, total = store.jobs.search("w1", JobQuery(**kw), count=count)  # type: ignore[arg-type]
    return [j.name for j in jobs]


def test_search_filters_each_alone_and_together(store: SqlStore) -> None:
    _filled(store)
    assert _names(store) == ["c1", "b2", "b1-s", "b1", "a2", "a1"]
    assert _names(store, statuses=["Completed", "Canceled"]) == ["c1", "b1-s", "b1", "a1"]
    assert _names(store, experiment_names=["exp-a"]) == ["a2", "a1"]
    assert _names(store, types=["pipeline", "sweep"]) == ["b2", "b1"]
    assert _names(store, submitters=["bob"]) == ["c1", "a2"]
    assert _names(store, tags=[("team", "x")]) == ["b2", "a1"]
    assert _names(store, tags=[("k", None)]) == ["c1", "a1"]
    assert _names(store, tags=[("team", "x"), ("k", "1")]) == ["a1"]
    assert _names(store, tags=[("team.other", None)]) == []
    assert _names(store, created_after=1002.0, created_before=1004.0) == ["b1-s", "b1"]
    assert _names(store, top_level_only=True) == ["c1", "b2", "b1", "a2", "a1"]
    assert _names(store, parent_job_name="b1") == ["b1-s"]
    assert _names(store, statuses=["Completed"], experiment_names=["exp-b"],
                  top_level_only=True) == ["b1"]
    store.jobs.set_archived("w1", ["a2"], True)
    assert _names(store, archived=True) == ["a2"]
    assert "a2" in _names(store, archived=None) and "a2" not in _names(store)


def test_search_looks_in_names_experiments_and_descriptions_in_any_case(
        store: SqlStore) -> None:
    _filled(store)
    assert _names(store, search="RUN B") == ["b2", "b1-s", "b1"]       # display name
    assert _names(store, search="exp-c") == ["c1"]                      # experiment
    assert _names(store, search="pipeline") == ["b1"]                   # description
    assert _names(store, search="a2") == ["a2"]                         # name
    # LIKE's wildcards are plain characters here
    assert _names(store, search="100%") == ["b2"]
    assert _names(store, search="tuned_x") == ["b2"]
    assert _names(store, search="d_x") == ["b2"] and _names(store, search="%") == ["b2"]


def test_search_sorts_by_each_key_both_ways(store: SqlStore) -> None:
    _filled(store)
    assert _names(store, order_by="name", descending=False) == [
        "a1", "a2", "b1", "b1-s", "b2", "c1"]
    assert _names(store, order_by="creation_time", descending=False)[0] == "a1"
    assert _names(store, order_by="status", descending=False) == [
        "c1", "a1", "b1", "b1-s", "a2", "b2"]
    assert _names(store, order_by="type", descending=True)[:2] == ["b2", "b1"]
    assert _names(store, order_by="experiment_name", descending=True)[0] == "c1"
    assert _names(store, order_by="display_name", descending=False)[0] == "a1"
    assert _names(store, order_by="submitter", descending=False)[-1] == "b2"   # None last
    # duration: a1 ran 60 s ... c1 10 s; b2 is still running (now - start: the longest)
    assert _names(store, order_by="duration", descending=False) == [
        "c1", "b1-s", "b1", "a2", "a1", "b2"]
    assert _names(store, order_by="duration", descending=True)[0] == "b2"
    from ember.errors import InvalidInputError
    with pytest.raises(InvalidInputError, match="order_by"):
        _names(store, order_by="spec")


def test_search_pages_by_skip_and_counts_every_match(store: SqlStore) -> None:
    from ember.entities.jobs import JobQuery
    _filled(store)
    seen: list[str] = []
    for skip in (0, 2, 4, 6):
        jobs, total = store.jobs.search("w1", JobQuery(skip=skip, max_results=2), count=True)
        assert total == 6
        seen += [j.name for j in jobs]
    assert seen == ["c1", "b2", "b1-s", "b1", "a2", "a1"]
    jobs, total = store.jobs.search("w1", JobQuery(statuses=["Completed"], max_results=1),
                                    count=True, with_history=False)
    assert total == 3 and [j.status_history for j in jobs] == [[]]
    assert store.jobs.search("w1", JobQuery(), count=False)[1] is None


def test_the_submitter_is_kept(store: SqlStore) -> None:
    store.jobs.create("w1", _job("j1", submitter="ada"))
    assert store.jobs.get("w1", "j1").submitter == "ada"
    assert store.jobs.list("w1")[0].submitter == "ada"
    store.jobs.create("w1", _job("j2"))
    assert store.jobs.get("w1", "j2").submitter is None
