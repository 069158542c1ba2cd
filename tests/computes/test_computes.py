"""Compute targets through the real app: the built-in ``local`` with its capacity, ``type: ray``
refused without Ray in the server's Python (naming the extra), Azure's other types refused, a
Reader may look but not change, and a job naming a registered Ray compute refused at submit
while one naming an unknown compute runs locally with the notice (a real server subprocess)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ember import MLClient, command
from ember.client.compute import Compute, load_compute
from ember.entities.computes import Compute as ComputeEntity
from ember.errors import EmberError, InvalidInputError, NotFoundError, UnsupportedError
from ember.settings import Settings
from ember.store.sql.store import SqlStore
from tests.conftest import AppTransport, WorkspaceServer, wait_ended
from tests.test_cli import ember

RAY_REFUSED = "running jobs on Ray computes is not built yet"


def _seed_ray(store: SqlStore, workspace: str, name: str = "ray1") -> None:
    """A registered Ray compute, written through the store: the server refuses to create one
    while Ray is not installed (as in this test environment)."""
    store.computes.create_or_update(workspace, ComputeEntity(
        name=name, type="ray", address="http://127.0.0.1:8265", max_concurrent_jobs=2,
        creation_time=time.time()))


def _platform_store(app_transport: AppTransport) -> SqlStore:
    return app_transport.app_client.app.state.platform.store  # type: ignore[attr-defined,no-any-return]


def test_local_is_built_in_with_the_servers_job_slots(app_client: MLClient) -> None:
    local = app_client.compute.get("local")
    assert (local.name, local.type, local.provisioning_state, local.capacity) == (
        "local", "local", "Succeeded", Settings().max_concurrent_jobs)
    assert app_client.compute.list() == [local]
    with pytest.raises(InvalidInputError, match="'local' is built in .* cannot be deleted"):
        app_client.compute.delete("local")
    with pytest.raises(InvalidInputError, match="built in; only 'type: ray'"):
        app_client.compute.create_or_update(Compute(name="mine", type="local"))
    with pytest.raises(NotFoundError, match="compute 'nope' does not exist"):
        app_client.compute.get("nope")
    with pytest.raises(NotFoundError, match="compute 'nope'"):
        app_client.compute.delete("nope")


def test_a_ray_compute_needs_ray_on_the_server(app_client: MLClient, tmp_path: Path) -> None:
    spec = tmp_path / "compute.yml"
    spec.write_text("name: ray-lab\ntype: ray\naddress: http://127.0.0.1:8265\n")
    with pytest.raises(UnsupportedError) as err:
        app_client.compute.begin_create_or_update(load_compute(spec)).result()
    assert "pip install 'ember-ml[ray]'" in str(err.value) and "\n" not in str(err.value)
    assert [c.name for c in app_client.compute.list()] == ["local"]


@pytest.mark.parametrize(("compute", "words"), [
    (Compute(name="big", type="amlcompute"), "supported types: local, ray"),
    (Compute(name="k", type="kubernetes"), "supported types: local, ray"),
    (Compute(name="r", type="ray", address="127.0.0.1:8265"), "http:// or https://"),
    (Compute(name="r", type="ray", address="http://127.0.0.1"), "has no port"),
    (Compute(name="r", type="ray"), "is not a URL|http:// or https://"),
])
def test_bad_computes_are_refused_by_the_server(app_client: MLClient, compute: Compute,
                                                words: str) -> None:
    with pytest.raises(EmberError, match=words):
        app_client.compute.create_or_update(compute)


def test_a_registered_ray_compute_is_listed_shown_deleted_and_refuses_jobs(
        app_transport: AppTransport, app_client: MLClient) -> None:
    _seed_ray(_platform_store(app_transport), "default")
    assert [(c.name, c.type) for c in app_client.compute.list()] == [("local", "local"),
                                                                      ("ray1", "ray")]
    got = app_client.compute.get("ray1")
    assert (got.address, got.max_concurrent_jobs, got.capacity) == (
        "http://127.0.0.1:8265", 2, None)
    for ref in ("azureml:ray1", "ray1"):
        with pytest.raises(UnsupportedError, match=RAY_REFUSED) as err:
            app_client.jobs.create_or_update(command(command="echo hi", compute=ref))
        assert "'ray1'" in str(err.value) and "\n" not in str(err.value)
    # unknown names and local are accepted as before (the job is queued)
    for ref in ("azureml:not-registered", "local"):
        assert app_client.jobs.create_or_update(
            command(command="echo hi", compute=ref)).status == "Queued"
    app_client.compute.begin_delete("ray1").result()
    assert [c.name for c in app_client.compute.list()] == ["local"]
    assert app_client.jobs.create_or_update(
        command(command="echo hi", compute="azureml:ray1")).status == "Queued"


def test_a_reader_may_list_and_show_but_not_create_or_delete(
        app_transport: AppTransport) -> None:
    tc: TestClient = app_transport.app_client  # type: ignore[assignment]
    platform: Any = tc.app.state.platform  # type: ignore[attr-defined]
    _seed_ray(platform.store, "default")
    tokens = {}
    for user, role in (("rita", "Reader"), ("cora", "AzureML Compute Operator")):
        platform.auth.create_user(user)
        platform.auth.assign_role(user, "default", role)
        tokens[user] = {"Authorization": f"Bearer {platform.auth.create_token(user)[1]}"}
    base = "/api/v1/workspaces/default/computes"
    reader = tokens["rita"]
    assert [c["name"] for c in tc.get(base, headers=reader).json()] == ["local", "ray1"]
    assert tc.get(f"{base}/local", headers=reader).json()["capacity"] >= 1
    body = {"name": "r2", "type": "ray", "address": "http://127.0.0.1:8265"}
    for r in (tc.put(f"{base}/r2", json=body, headers=reader),
              tc.delete(f"{base}/ray1", headers=reader)):
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    # the compute operator may change computes (here: delete; creating needs Ray)
    assert tc.delete(f"{base}/ray1", headers=tokens["cora"]).status_code == 204


def test_jobs_on_a_real_server_and_the_cli(server: WorkspaceServer, tmp_path: Path) -> None:
    store = SqlStore(Settings(home=server.home).resolved().store_url)   # the server's own
    try:
        _seed_ray(store, server.workspace)
    finally:
        store.close()
    client = MLClient(endpoint=server.url)
    with pytest.raises(UnsupportedError, match=RAY_REFUSED):
        client.jobs.create_or_update(command(command="echo hi", compute="azureml:ray1"))
    job = client.jobs.create_or_update(command(command="echo ran-here",
                                               compute="azureml:not-registered"))
    final = wait_ended(client, job.name)
    log = client._http.request("GET", client._http.ws(f"/jobs/{job.name}/logs"),
                               params={"max_bytes": 1 << 20}).text
    assert final.status == "Completed", log
    assert "compute 'azureml:not-registered' is not registered in Ember" in log
    assert "ran-here" in log

    r = ember(server, "compute", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [(c["name"], c["type"]) for c in json.loads(r.stdout)] == [("local", "local"),
                                                                       ("ray1", "ray")]
    r = ember(server, "compute", "show", "-n", "ray1", "-o", "yaml")
    assert r.returncode == 0 and "address: http://127.0.0.1:8265" in r.stdout, r.stderr
    r = ember(server, "compute", "list", "-o", "table")
    assert r.returncode == 0 and "ray1" in r.stdout and "local" in r.stdout, r.stderr
    spec = tmp_path / "compute.yml"
    spec.write_text("name: lab\ntype: ray\naddress: http://127.0.0.1:8265\n")
    r = ember(server, "compute", "create", "-f", str(spec))
    assert r.returncode != 0 and "pip install 'ember-ml[ray]'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    spec.write_text("name: lab\ntype: amlcompute\n")
    r = ember(server, "compute", "create", "-f", str(spec))
    assert r.returncode != 0 and f"{spec}:2" in r.stderr and "local, ray" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = ember(server, "compute", "delete", "-n", "local", "--yes")
    assert r.returncode != 0 and "cannot be deleted" in r.stderr
    r = ember(server, "compute", "delete", "-n", "ray1", "--yes", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"name": "ray1", "deleted": True}


def test_pipelines_and_sweeps_naming_a_ray_compute_are_refused_at_submit(
        app_transport: AppTransport, app_client: MLClient, tmp_path: Path) -> None:
    from ember import load_job
    from ember.specs.sweeps import load_sweep_spec

    _seed_ray(_platform_store(app_transport), "default")
    pipeline = tmp_path / "pipeline.yml"
    for where in ("settings:\n  default_compute: azureml:ray1\n", "compute: azureml:ray1\n",
                  "jobs:\n  a:\n    compute: azureml:ray1\n"):
        text = "type: pipeline\n"
        step = "jobs:\n  a:\n    type: command\n    command: echo hi\n"
        if where.startswith("jobs:"):
            step += "    compute: azureml:ray1\n"
        else:
            text += where
        pipeline.write_text(text + step)
        with pytest.raises(UnsupportedError, match=f"step 'a' .*'ray1': {RAY_REFUSED}"):
            app_client.jobs.create_or_update(load_job(pipeline))
    pipeline.write_text("type: pipeline\ncompute: azureml:elsewhere\n"
                        "jobs:\n  a:\n    type: command\n    command: echo hi\n")
    assert app_client.jobs.create_or_update(load_job(pipeline)).status == "Queued"

    sweep = tmp_path / "sweep.yml"
    body = ("type: sweep\ntrial:\n  command: echo ${{search_space.x}}\n"
            "search_space:\n  x: {type: choice, values: [1, 2]}\n"
            "sampling_algorithm: random\nobjective: {primary_metric: m, goal: maximize}\n"
            "limits: {max_total_trials: 2}\n")
    sweep.write_text(body + "compute: azureml:ray1\n")
    with pytest.raises(UnsupportedError, match=RAY_REFUSED):
        app_client.jobs.create_or_update(load_sweep_spec(sweep))
    sweep.write_text(body + "compute: azureml:elsewhere\n")
    assert app_client.jobs.create_or_update(load_sweep_spec(sweep)).status == "Queued"
