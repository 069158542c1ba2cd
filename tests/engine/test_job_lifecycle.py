"""Job update, archive, restore and delete through the REST API, with the app in process
(nothing runs: a submitted job stays Queued until cancelled)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ember.client.mlclient import MLClient
from ember.entities.jobs import Job, JobStatus
from ember.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from tests.conftest import APP_URL, AppTransport


@pytest.fixture
def client(app_transport: AppTransport) -> Iterator[MLClient]:
    with MLClient(endpoint=APP_URL, workspace="default", transport=app_transport) as c:
        yield c


@pytest.fixture
def platform(app_transport: AppTransport) -> Any:
    return app_transport.app_client.app.state.platform  # type: ignore[attr-defined]


def _run(transport: AppTransport, run_id: str) -> dict[str, Any]:
    """The job's MLflow run as the MLflow REST API shows it (deleted runs included)."""
    resp = transport.app_client.get(  # type: ignore[attr-defined]
        "/api/2.0/mlflow/runs/get", params={"run_id": run_id},
        headers={"Authorization": f"Bearer {transport.token}"})
    assert resp.status_code == 200, resp.text
    run: dict[str, Any] = resp.json()["run"]
    run["tags"] = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    return run


def _submit(client: MLClient, name: str, **kw: Any) -> Job:
    return client.jobs.create_or_update(Job(name=name, command="echo hi", display_name=name,
                                            tags={"a": "1", "b": "2"}, **kw))


def _record(platform: Any, name: str, status: str, parent: str | None = None,
            kind: str = "command") -> None:
    """A job recorded by the engine as the orchestrator records steps and trials."""
    platform.jobs.record("default", Job(name=name, command="echo", type=kind,
                                        display_name=name, parent_job_name=parent),
                         status=status)


def test_update_changes_the_job_and_its_mlflow_run(client: MLClient,
                                                   app_transport: AppTransport) -> None:
    _submit(client, "j1", description="first")
    job = client.jobs.update("j1", display_name="renamed", tags={"a": "9", "c": "3"})
    assert job.status == JobStatus.QUEUED   # a job that has not ended changes too
    assert (job.display_name, job.description, job.tags) == ("renamed", "first",
                                                             {"a": "9", "c": "3"})
    run = _run(app_transport, "j1")
    assert run["info"]["run_name"] == "renamed"
    tags = run["tags"]
    assert tags["mlflow.runName"] == "renamed" and tags["a"] == "9" and tags["c"] == "3"
    assert "b" not in tags and tags["ember.job_type"] == "command"
    job = client.jobs.update("j1", description="second")
    assert (job.display_name, job.description, job.tags) == ("renamed", "second",
                                                             {"a": "9", "c": "3"})
    # azure-ai-ml's way: change the Job and send it back.
    job.tags["d"] = "4"
    job.display_name = "again"
    assert client.jobs.update(job).tags == {"a": "9", "c": "3", "d": "4"}
    assert client.jobs.get("j1").display_name == "again"


def test_update_refuses_every_other_field_by_name(client: MLClient,
                                                  app_transport: AppTransport) -> None:
    _submit(client, "j1")
    tc: Any = app_transport.app_client
    for body, words in (({"properties": {"x": "1"}}, ["'properties'", "read-only"]),
                        ({"command": "rm -rf /"}, ["'command'", "display_name"]),
                        ({"is_archived": True}, ["'is_archived'", "/archive"]),
                        ({"tags": {"k": 1}}, ["tags.k"]),
                        ({"display_name": " "}, ["display_name cannot be empty"])):
        resp = tc.patch("/api/v1/workspaces/default/jobs/j1", json=body,
                        headers={"Authorization": f"Bearer {app_transport.token}"})
        assert resp.status_code == 400, body
        assert all(w in resp.json()["message"] for w in words), resp.json()
    with pytest.raises(InvalidInputError, match="description: .*at most 8000"):
        client.jobs.update("j1", description="x" * 8001)
    with pytest.raises(NotFoundError, match="'nope'"):
        client.jobs.update("nope", description="x")
    assert client.jobs.get("j1").tags == {"a": "1", "b": "2"}


def test_archived_jobs_are_hidden_from_the_list_until_restored(client: MLClient) -> None:
    for name in ("j1", "j2"):
        _submit(client, name)
    archived = client.jobs.archive("j1")
    assert archived.is_archived and archived.status == JobStatus.QUEUED

    def names(**kw: Any) -> list[str]:
        return sorted(j.name for j in client.jobs.list(**kw))

    assert names() == ["j2"]
    assert names(include_archived=True) == ["j1", "j2"]
    assert names(archived_only=True) == ["j1"]
    assert client.jobs.get("j1").is_archived
    assert not client.jobs.restore("j1").is_archived
    assert names() == ["j1", "j2"] and names(archived_only=True) == []
    with pytest.raises(NotFoundError):
        client.jobs.archive("nope")


def test_a_parent_is_archived_with_its_children_and_a_child_alone_is_refused(
        client: MLClient, platform: Any) -> None:
    _record(platform, "pipe", JobStatus.COMPLETED, kind="pipeline")
    _record(platform, "pipe-step", JobStatus.COMPLETED, parent="pipe", kind="sweep")
    _record(platform, "pipe-step_0", JobStatus.COMPLETED, parent="pipe-step")
    with pytest.raises(ConflictError, match="child of job 'pipe-step'.*archive 'pipe'"):
        client.jobs.archive("pipe-step_0")
    client.jobs.archive("pipe")
    assert [j.name for j in client.jobs.list()] == []
    assert sorted(j.name for j in client.jobs.list(archived_only=True)) == [
        "pipe", "pipe-step", "pipe-step_0"]
    # A parent's children are all listed, archived with it or not.
    assert [j.name for j in client.jobs.list(parent_job_name="pipe")] == ["pipe-step"]
    client.jobs.restore("pipe")
    assert not client.jobs.get("pipe-step_0").is_archived


def test_delete_an_ended_job_marks_its_run_deleted(client: MLClient,
                                                   app_transport: AppTransport) -> None:
    _submit(client, "j1")
    with pytest.raises(ConflictError, match="'j1' is Queued; cancel it first"):
        client.jobs.delete("j1")
    client.jobs.begin_cancel("j1")
    assert client.jobs.delete("j1") == ["j1"]
    with pytest.raises(NotFoundError):
        client.jobs.get("j1")
    assert "j1" not in [j.name for j in client.jobs.list(include_archived=True)]
    run = _run(app_transport, "j1")
    assert run["info"]["lifecycle_stage"] == "deleted"
    # The name is the kept run's id: a new job cannot take it.
    with pytest.raises(AlreadyExistsError, match="'j1' is the id of an MLflow run"):
        _submit(client, "j1")
    with pytest.raises(NotFoundError):
        client.jobs.delete("j1")


def test_delete_takes_a_parents_children_and_refuses_a_child_alone(
        client: MLClient, platform: Any, app_transport: AppTransport) -> None:
    _record(platform, "pipe", JobStatus.FAILED, kind="pipeline")
    _record(platform, "pipe-a", JobStatus.COMPLETED, parent="pipe")
    _record(platform, "pipe-b", JobStatus.QUEUED, parent="pipe")
    with pytest.raises(ConflictError, match="child of job 'pipe'.*delete 'pipe'"):
        client.jobs.delete("pipe-a")
    with pytest.raises(ConflictError, match="'pipe-b' is Queued; cancel it first"):
        client.jobs.delete("pipe")
    assert client.jobs.get("pipe-a").status == JobStatus.COMPLETED   # nothing deleted
    client.jobs.begin_cancel("pipe-b")
    assert client.jobs.delete("pipe") == ["pipe", "pipe-a", "pipe-b"]
    for name in ("pipe", "pipe-a", "pipe-b"):
        with pytest.raises(NotFoundError):
            client.jobs.get(name)
        assert _run(app_transport, name)["info"]["lifecycle_stage"] == "deleted"
