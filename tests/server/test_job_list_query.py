"""``GET /jobs``'s filters, search, order and paging, and the submitter every job records."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ember.entities.jobs import Job

WS = "/api/v1/workspaces/default"


def _submit(client: TestClient, name: str, token: str | None = None, **body: object) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.post(f"{WS}/jobs", json={"command": "echo hi", "name": name, **body},
                    headers=headers)
    assert r.status_code == 201, r.text


def _names(client: TestClient, **params: object) -> list[str]:
    r = client.get(f"{WS}/jobs", params=params)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return [j["name"] for j in r.json()]


def test_the_list_filters_searches_sorts_and_pages(client: TestClient) -> None:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    platform.auth.create_user("ada")
    platform.auth.assign_role("ada", "default", "AzureML Data Scientist")
    ada = platform.auth.create_token("ada")[1]
    _submit(client, "j1", experiment_name="exp-a", tags={"team": "x"})
    _submit(client, "j2", token=ada, experiment_name="exp-b", display_name="Big Model",
            description="tuned on everything", tags={"team": "y", "k": "v"})
    _submit(client, "j3", token=ada, experiment_name="exp-b")
    assert client.post(f"{WS}/jobs/j3/cancel").status_code == 200

    # the old call is unchanged: newest first, a list of jobs with their history
    r = client.get(f"{WS}/jobs")
    assert [j["name"] for j in r.json()] == ["j3", "j2", "j1"]
    assert r.json()[0]["status_history"] and "X-Ember-Total-Count" not in r.headers
    assert r.json()[0]["creation_context"]["created_by"] == "ada"
    assert r.json()[2]["creation_context"]["created_by"] == "owner"

    assert _names(client, status="Canceled") == ["j3"]
    assert _names(client, status=["Queued", "Canceled"]) == ["j3", "j2", "j1"]
    assert _names(client, status="Queued,Canceled", experiment_name="exp-a") == ["j1"]
    assert _names(client, submitter="ada") == ["j3", "j2"]
    assert _names(client, tag="team=x") == ["j1"]
    assert _names(client, tag=["team", "k=v"]) == ["j2"]
    assert _names(client, type="pipeline") == []
    assert _names(client, search="BIG") == ["j2"] == _names(client, search="everything")
    assert _names(client, order_by="name asc") == ["j1", "j2", "j3"]
    assert _names(client, order_by="name") == ["j1", "j2", "j3"]    # names: A to Z
    assert _names(client, order_by="experiment_name desc") == ["j3", "j2", "j1"]
    assert _names(client, created_after="2000-01-01", created_before="2999-01-01T00:00:00Z"
                  ) == ["j3", "j2", "j1"]
    assert _names(client, created_after="32503680000") == []           # year 3000, epoch

    page = client.get(f"{WS}/jobs", params={"max_results": 2, "skip": 2, "count": "true",
                                            "history": "false"})
    assert [j["name"] for j in page.json()] == ["j1"]
    assert page.headers["X-Ember-Total-Count"] == "3"
    assert page.json()[0]["status_history"] == []

    for bad in ({"order_by": "spec"}, {"order_by": "name sideways"},
                {"created_after": "yesterday"}, {"tag": "=x"}, {"skip": -1}):
        r = client.get(f"{WS}/jobs", params=bad)
        assert r.status_code == 400, (bad, r.text)


def test_steps_and_trials_take_their_parents_submitter(client: TestClient) -> None:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    platform.auth.create_user("ada")
    platform.auth.assign_role("ada", "default", "AzureML Data Scientist")
    ada = platform.auth.create_token("ada")[1]
    _submit(client, "parent", token=ada)
    # what the orchestrator does for a step: record a job under its parent
    platform.jobs.create("default", Job(name="parent-step", command="echo",
                                        parent_job_name="parent"))
    r = client.get(f"{WS}/jobs/parent-step")
    assert r.json()["creation_context"]["created_by"] == "ada"
    # a job's token (whose user is the server's owner) submits as its job's submitter
    from ember.entities.auth import Principal
    from ember.server.deps import WorkspaceContext
    from ember.server.deps import submitting_user
    as_job = Principal(user="owner", kind="job", workspace="default", subject="parent")
    assert submitting_user(WorkspaceContext("default", platform, as_job)) == "ada"
    assert _names(client, top_level_only="true") == ["parent"]
    assert _names(client, submitter="ada") == ["parent-step", "parent"]


def test_the_sdk_lists_with_the_same_filters(app_client: Any) -> None:
    for name, exp, tags in (("s1", "e1", {"a": "1"}), ("s2", "e2", {})):
        app_client.jobs.create_or_update(Job(name=name, command="echo hi",
                                             experiment_name=exp, tags=tags))
    jobs = app_client.jobs
    assert [j.name for j in jobs.list(experiment_name="e1")] == ["s1"]
    assert [j.name for j in jobs.list(tags={"a": None}, order_by="name asc")] == ["s1"]
    assert [j.name for j in jobs.list(status=["Queued"], order_by="name asc", skip=1)] == ["s2"]
    assert [j.name for j in jobs.list()] == ["s2", "s1"]
    assert jobs.list(search="s2")[0].creation_context.created_by == "owner"
