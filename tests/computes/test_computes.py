"""Compute targets through the real app: the built-in ``local`` with its capacity, ``type: ray``
computes created, shown, listed and deleted (Ray is installed here: a test dependency), Azure's
other types refused, a Reader may look but not change, jobs, pipeline steps and sweep trials
naming a registered Ray compute accepted at submit and, when its address does not answer,
ended Failed with one line naming the compute and the address, and a job naming an unknown
compute run locally with the notice (a real server subprocess, with the CLI).
Without Ray in the server's Python: ``test_without_ray.py``."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ember import MLClient, command, load_job
from ember.client.compute import Compute, load_compute
from ember.entities.computes import Compute as ComputeEntity
from ember.entities.jobs import JobStatus
from ember.errors import ConflictError, EmberError, InvalidInputError, NotFoundError
from ember.settings import Settings
from ember.specs.sweeps import load_sweep_spec
from ember.store.sql.store import SqlStore
from tests.conftest import APP_URL, AppTransport, WorkspaceServer, job_log, wait_ended
from tests.test_cli import ember

SWEEP = ("type: sweep\ntrial:\n  command: echo ${{search_space.x}}\n"
         "search_space:\n  x: {type: choice, values: [1, 2]}\n"
         "sampling_algorithm: random\nobjective: {primary_metric: m, goal: maximize}\n"
         "limits: {max_total_trials: 2}\n")


@pytest.fixture
def dead_address() -> Iterator[str]:
    """The URL of a loopback port held by this test and listened on by nobody: connecting to
    it is refused at once (and no Ray cluster of anyone else can be there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def running_client(tmp_path: Path) -> Iterator[MLClient]:
    """``MLClient`` on the real app in process *with* its scheduler and orchestrator (the
    shared ``app_client`` has none: its jobs stay Queued). Only for jobs that never reach a
    local runner: a runner reports to the server over HTTP, and this app listens on no port."""
    from ember.server.app import create_app

    app = create_app(Settings(home=tmp_path / "run-home", port=0, max_concurrent_jobs=1))
    with TestClient(app) as tc, MLClient(endpoint=APP_URL, workspace="default",
                                         transport=AppTransport(tc)) as client:
        yield client


def _seed_ray(store: SqlStore, workspace: str, address: str, name: str = "ray1") -> None:
    """A registered Ray compute, written through the store."""
    store.computes.create_or_update(workspace, ComputeEntity(
        name=name, type="ray", address=address, max_concurrent_jobs=2,
        creation_time=time.time()))


def _platform_store(app_transport: AppTransport) -> SqlStore:
    return app_transport.app_client.app.state.platform.store  # type: ignore[attr-defined,no-any-return]


def _unreachable(compute: str, address: str) -> str:
    return f"the Ray compute {compute!r} at {address} cannot be reached: "


def _assert_failed_unreachable(client: MLClient, name: str, address: str) -> None:
    """Job ``name`` ended Failed before it started, with one line naming ray1 and its address."""
    final = wait_ended(client, name, timeout=90)
    assert final.status == JobStatus.FAILED, (final.status, final.error)
    assert final.error is not None and _unreachable("ray1", address) in final.error
    assert "\n" not in final.error
    assert final.status_history[-1].reason == "preparation failed"


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


def test_a_ray_compute_is_created_shown_listed_updated_and_deleted(
        app_client: MLClient, tmp_path: Path, dead_address: str) -> None:
    # the address is not contacted at creation: a cluster may be started after it is registered
    spec = tmp_path / "compute.yml"
    spec.write_text(f"name: ray-lab\ntype: ray\naddress: {dead_address}\n"
                    "max_concurrent_jobs: 2\nresources: {CPU: 1}\n")
    made = app_client.compute.begin_create_or_update(load_compute(spec)).result()
    assert (made.name, made.type, made.address, made.max_concurrent_jobs, made.resources,
            made.capacity) == ("ray-lab", "ray", dead_address, 2, {"CPU": 1.0}, None)
    shown = app_client.compute.get("ray-lab")
    assert dataclasses.replace(shown, status=None) == made
    assert shown.status is not None and shown.status["state"] == "Unreachable"
    assert [(c.name, c.type) for c in app_client.compute.list()] == [("local", "local"),
                                                                      ("ray-lab", "ray")]
    updated = app_client.compute.create_or_update(
        Compute(name="ray-lab", type="ray", address=dead_address, max_concurrent_jobs=5))
    assert app_client.compute.get("ray-lab").max_concurrent_jobs == 5 == (
        updated.max_concurrent_jobs)
    app_client.compute.begin_delete("ray-lab").result()
    assert [c.name for c in app_client.compute.list()] == ["local"]
    with pytest.raises(NotFoundError, match="compute 'ray-lab'"):
        app_client.compute.get("ray-lab")


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


def test_jobs_pipelines_and_sweeps_naming_ray_or_unknown_computes_are_accepted(
        app_transport: AppTransport, app_client: MLClient, tmp_path: Path,
        dead_address: str) -> None:
    """At submit (no scheduler here: the jobs stay Queued); where they then run is below."""
    _seed_ray(_platform_store(app_transport), "default", dead_address)
    got = app_client.compute.get("ray1")
    assert (got.address, got.max_concurrent_jobs, got.capacity) == (dead_address, 2, None)
    for ref in ("azureml:ray1", "ray1", "azureml:not-registered", "local"):
        assert app_client.jobs.create_or_update(
            command(command="echo hi", compute=ref)).status == "Queued"
    pipeline = tmp_path / "pipeline.yml"
    for ref in ("azureml:ray1", "azureml:elsewhere"):
        pipeline.write_text(f"type: pipeline\ncompute: {ref}\n"
                            "jobs:\n  a:\n    type: command\n    command: echo hi\n")
        assert app_client.jobs.create_or_update(load_job(pipeline)).status == "Queued"
        sweep = tmp_path / "sweep.yml"
        sweep.write_text(SWEEP + f"compute: {ref}\n")
        assert app_client.jobs.create_or_update(load_sweep_spec(sweep)).status == "Queued"
    # A compute with unfinished jobs is not deleted (they would run unwatched, or locally).
    on_ray1 = [j.name for j in app_client.jobs.list() if j.compute in ("azureml:ray1", "ray1")]
    assert len(on_ray1) == 4
    with pytest.raises(ConflictError, match="compute 'ray1' is in use by job ") as refused:
        app_client.compute.begin_delete("ray1").result()
    assert all(f"job {name!r} (Queued)" in str(refused.value) for name in on_ray1)
    assert "elsewhere" not in str(refused.value)
    assert [c.name for c in app_client.compute.list()] == ["local", "ray1"]
    for name in on_ray1:
        assert app_client.jobs.begin_cancel(name).status in JobStatus.TERMINAL
    app_client.compute.begin_delete("ray1").result()
    assert [c.name for c in app_client.compute.list()] == ["local"]
    assert app_client.jobs.create_or_update(
        command(command="echo hi", compute="azureml:ray1")).status == "Queued"


def test_a_command_job_on_an_unreachable_ray_compute_fails_naming_it(
        running_client: MLClient, dead_address: str) -> None:
    running_client.compute.begin_create_or_update(
        Compute(name="ray1", type="ray", address=dead_address, max_concurrent_jobs=2)).result()
    names = [running_client.jobs.create_or_update(command(command="echo hi", compute=ref)).name
             for ref in ("azureml:ray1", "ray1")]
    for name in names:
        _assert_failed_unreachable(running_client, name, dead_address)
        assert f"compute 'ray1': a Ray cluster at {dead_address}" in job_log(running_client,
                                                                               name)


def test_pipeline_steps_and_sweep_trials_on_an_unreachable_ray_compute_fail_naming_it(
        running_client: MLClient, tmp_path: Path, dead_address: str) -> None:
    running_client.compute.begin_create_or_update(
        Compute(name="ray1", type="ray", address=dead_address, max_concurrent_jobs=2)).result()
    pipeline = tmp_path / "pipeline.yml"
    step = "jobs:\n  a:\n    type: command\n    command: echo hi\n"
    for text in ("type: pipeline\nsettings:\n  default_compute: azureml:ray1\n" + step,
                 "type: pipeline\ncompute: azureml:ray1\n" + step,
                 "type: pipeline\n" + step + "    compute: azureml:ray1\n"):
        pipeline.write_text(text)
        made = running_client.jobs.create_or_update(load_job(pipeline))
        final = wait_ended(running_client, made.name, timeout=90)
        assert final.status == JobStatus.FAILED, (text, final.error)
        assert final.error is not None and final.error.startswith("step 'a' Failed: ")
        assert _unreachable("ray1", dead_address) in final.error and "\n" not in final.error
        [child] = running_client.jobs.list(parent_job_name=made.name)
        assert child.compute == "azureml:ray1"
        _assert_failed_unreachable(running_client, child.name, dead_address)

    sweep = tmp_path / "sweep.yml"
    sweep.write_text(SWEEP + "compute: azureml:ray1\n")
    made = running_client.jobs.create_or_update(load_sweep_spec(sweep))
    assert wait_ended(running_client, made.name, timeout=90).status == JobStatus.FAILED
    trials = running_client.jobs.list(parent_job_name=made.name)
    assert len(trials) == 2
    for trial in trials:
        assert trial.compute == "azureml:ray1"
        _assert_failed_unreachable(running_client, trial.name, dead_address)


def test_a_reader_may_list_and_show_but_not_create_or_delete(
        app_transport: AppTransport, dead_address: str) -> None:
    tc: TestClient = app_transport.app_client  # type: ignore[assignment]
    platform: Any = tc.app.state.platform  # type: ignore[attr-defined]
    _seed_ray(platform.store, "default", dead_address)
    tokens = {}
    for user, role in (("rita", "Reader"), ("cora", "AzureML Compute Operator")):
        platform.auth.create_user(user)
        platform.auth.assign_role(user, "default", role)
        tokens[user] = {"Authorization": f"Bearer {platform.auth.create_token(user)[1]}"}
    base = "/api/v1/workspaces/default/computes"
    reader = tokens["rita"]
    assert [c["name"] for c in tc.get(base, headers=reader).json()] == ["local", "ray1"]
    assert tc.get(f"{base}/local", headers=reader).json()["capacity"] >= 1
    body = {"name": "r2", "type": "ray", "address": dead_address}
    for r in (tc.put(f"{base}/r2", json=body, headers=reader),
              tc.delete(f"{base}/ray1", headers=reader)):
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    # the compute operator may change computes
    operator = tokens["cora"]
    r = tc.put(f"{base}/r2", json=body, headers=operator)
    assert r.status_code in (200, 201) and r.json()["address"] == dead_address, r.text
    assert [c["name"] for c in tc.get(base, headers=reader).json()] == ["local", "r2", "ray1"]
    for name in ("ray1", "r2"):
        assert tc.delete(f"{base}/{name}", headers=operator).status_code == 204


def test_jobs_on_a_real_server_and_the_cli(server: WorkspaceServer, tmp_path: Path,
                                           dead_address: str) -> None:
    store = SqlStore(Settings(home=server.home).resolved().store_url)   # the server's own
    try:
        _seed_ray(store, server.workspace, dead_address)
    finally:
        store.close()
    with MLClient(endpoint=server.url) as client:
        on_ray = client.jobs.create_or_update(command(command="echo hi",
                                                      compute="azureml:ray1"))
        job = client.jobs.create_or_update(command(command="echo ran-here",
                                                   compute="azureml:not-registered"))
        _assert_failed_unreachable(client, on_ray.name, dead_address)
        final = wait_ended(client, job.name)
        log = job_log(client, job.name)
    assert final.status == "Completed", log
    assert "compute 'azureml:not-registered' is not registered in Ember" in log
    assert "ran-here" in log

    r = ember(server.proc, "compute", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [(c["name"], c["type"]) for c in json.loads(r.stdout)] == [("local", "local"),
                                                                       ("ray1", "ray")]
    r = ember(server.proc, "compute", "show", "-n", "ray1", "-o", "yaml")
    assert r.returncode == 0 and f"address: {dead_address}" in r.stdout, r.stderr
    r = ember(server.proc, "compute", "list", "-o", "table")
    assert r.returncode == 0 and "ray1" in r.stdout and "local" in r.stdout, r.stderr
    spec = tmp_path / "compute.yml"
    spec.write_text(f"name: lab\ntype: ray\naddress: {dead_address}\n")
    r = ember(server.proc, "compute", "create", "-f", str(spec), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert (json.loads(r.stdout)["name"], json.loads(r.stdout)["address"]) == ("lab",
                                                                               dead_address)
    r = ember(server.proc, "compute", "show", "-n", "lab", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["type"] == "ray", r.stderr
    spec.write_text("name: lab\ntype: amlcompute\n")
    r = ember(server.proc, "compute", "create", "-f", str(spec))
    assert r.returncode != 0 and f"{spec}:2" in r.stderr and "local, ray" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = ember(server.proc, "compute", "delete", "-n", "local", "--yes")
    assert r.returncode != 0 and "cannot be deleted" in r.stderr
    for name in ("ray1", "lab"):
        r = ember(server.proc, "compute", "delete", "-n", name, "--yes", "-o", "json")
        assert r.returncode == 0 and json.loads(r.stdout) == {"name": name, "deleted": True}
    r = ember(server.proc, "compute", "list", "-o", "json")
    assert [c["name"] for c in json.loads(r.stdout)] == ["local"], r.stderr


def test_a_compute_serving_a_deployment_is_not_deleted(app_transport: AppTransport,
                                                       app_client: MLClient,
                                                       dead_address: str) -> None:
    from ember.entities.online_endpoints import EndpointKeys, OnlineDeployment, OnlineEndpoint

    store = _platform_store(app_transport)
    _seed_ray(store, "default", dead_address, name="serve1")
    store.online_endpoints.create_endpoint("default", OnlineEndpoint(name="ep1"),
                                           EndpointKeys("k1", "k2"))
    store.online_endpoints.create_deployment("default", OnlineDeployment(
        name="blue", endpoint_name="ep1", model="azureml:m:1", compute="azureml:serve1"))
    with pytest.raises(ConflictError, match="compute 'serve1' is in use by online deployment "
                                            "'ep1'/'blue'"):
        app_client.compute.begin_delete("serve1").result()
    store.online_endpoints.delete_deployment("default", "ep1", "blue")
    app_client.compute.begin_delete("serve1").result()
    with pytest.raises(NotFoundError, match="compute 'serve1'"):
        app_client.compute.begin_delete("serve1").result()
