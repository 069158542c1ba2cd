"""Registries (Azure ML registries): models, components and environments shared across
workspaces; registry roles; the built-in ``azureml`` registry stays read-only; a registry's
backing workspace is never a workspace of the API."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.components import Component
from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobStatus
from ember.entities.models import Model
from ember.errors import (AlreadyExistsError, InvalidInputError, NotFoundError,
                          PermissionDeniedError)
from ember.specs.any_job import load_any_job_spec
from tests.conftest import APP_URL, AppTransport, WorkspaceServer, job_log, wait_for

READER = """
name: reader
environment: azureml:tools:1
code: ./src
inputs:
  model: {type: custom_model}
command: python read.py ${{inputs.model}}
"""
READ_PY = """
import pathlib, sys
p = pathlib.Path(sys.argv[1])
files = sorted(p.rglob("*")) if p.is_dir() else [p]
print("MODEL SAYS", " ".join(f.read_text().strip() for f in files if f.is_file()))
"""
PIPELINE = """
type: pipeline
inputs:
  m: {{type: custom_model, path: azureml://registries/{reg}/models/tiny/labels/latest}}
jobs:
  use:
    component: azureml://registries/{reg}/components/{comp}/versions/1
    inputs:
      model: ${{{{parent.inputs.m}}}}
"""


def _client(transport: AppTransport, token: str | None = None,
            registry: str | None = None) -> MLClient:
    return MLClient(endpoint=APP_URL, workspace="default", transport=transport,
                    token=token, registry_name=registry)


def _share(tmp_path: Path, reg: MLClient) -> None:
    """An environment, a component (with code) and a model (a local file) in ``reg``'s
    registry."""
    reg.environments.create_or_update(Environment(name="tools", version="1",
                                                  image="python:3.11-slim"))
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "read.py").write_text(textwrap.dedent(READ_PY).lstrip())
    spec = tmp_path / "reader.yml"
    spec.write_text(textwrap.dedent(READER).lstrip())
    from ember.client.dsl import load_component
    reg.components.create_or_update(load_component(spec))
    (tmp_path / "weights.txt").write_text("forty-two")
    reg.models.create_or_update(Model(name="tiny", path=str(tmp_path / "weights.txt")))


def test_a_registry_holds_models_components_and_environments(
        app_transport: AppTransport, tmp_path: Path) -> None:
    admin = _client(app_transport)
    created = admin.registries.create("shared", "team assets")
    assert (created.name, created.description) == ("shared", "team assets")
    assert [r.name for r in admin.registries.list()] == ["azureml", "shared"]
    assert admin.registries.get("shared").description == "team assets"
    with pytest.raises(AlreadyExistsError):
        admin.registries.create("shared")
    for reserved in ("azureml", "AzureML"):
        with pytest.raises(InvalidInputError, match="reserved"):
            admin.registries.create(reserved)
    with pytest.raises(InvalidInputError):
        admin.registries.create("a.b")

    _share(tmp_path, _client(app_transport, registry="shared"))
    reg = _client(app_transport, registry="shared")
    tiny = reg.models.get("tiny", label="latest")
    assert (tiny.version, tiny.registry) == (1, "shared")
    assert tiny.id == "azureml://registries/shared/models/tiny/versions/1"
    assert [m.name for m in reg.models.list()] == ["tiny"]
    comp = reg.components.get("reader", "1")
    # the workspace reference became the registry's: the same from every workspace
    assert comp.environment == "azureml://registries/shared/environments/tools/versions/1"
    assert [c.name for c in reg.components.list()] == ["reader"]
    assert reg.environments.get("tools", "1").image == "python:3.11-slim"
    assert [e.name for e in reg.environments.list()] == ["tools"]
    # the workspace sees none of them as its own
    assert admin.models.list() == [] and admin.components.list() == []


def test_the_backing_workspace_is_no_workspace(app_transport: AppTransport) -> None:
    admin = _client(app_transport)
    admin.registries.create("hidden")
    assert "registry.hidden" not in [w["name"] for w in admin.workspaces.list()]
    http = admin._http
    for path in ("/api/v1/workspaces/registry.hidden",
                 "/api/v1/workspaces/registry.hidden/models",
                 "/api/v1/workspaces/registry.hidden/roles"):
        with pytest.raises(NotFoundError):
            http.json("GET", path)
    with pytest.raises(InvalidInputError):
        admin.workspaces.create("registry.hidden")


def test_the_builtin_registry_stays_read_only(app_transport: AppTransport,
                                              tmp_path: Path) -> None:
    azureml = _client(app_transport, registry="azureml")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(PermissionDeniedError):
        azureml.models.create_or_update(Model(name="mine", path=str(tmp_path / "w.txt")))
    http = azureml._http
    for what, body in (("components", {"name": "c", "command": "echo"}),
                       ("environments", {"name": "e", "image": "python:3.11-slim"})):
        with pytest.raises(PermissionDeniedError):
            http.json("POST", f"/api/v1/registries/azureml/{what}", json=body)
    with pytest.raises(PermissionDeniedError):
        http.json("POST", "/api/v1/registries/azureml/roles",
                  json={"user": "owner", "role": "Owner"})
    assert azureml.components.list()   # the built-in components are still served


def test_registry_roles(app_transport: AppTransport, tmp_path: Path) -> None:
    admin = _client(app_transport)
    admin.registries.create("team")
    _share(tmp_path, _client(app_transport, registry="team"))
    auth = app_transport.app_client.app.state.platform.auth  # type: ignore[attr-defined]
    tokens = {}
    for user in ("ursula", "cora", "nora"):
        auth.create_user(user)
        tokens[user] = auth.create_token(user)[1]
    made = admin.registries.assign_role("team", "ursula", "AzureML Registry User")
    assert made["workspace"] == "registry.team" and made["role"] == "AzureML Registry User"
    admin.registries.assign_role("team", "cora", "Contributor")
    assert {a["user"] for a in admin.registries.list_roles("team")} == {"ursula", "cora"}

    user = _client(app_transport, tokens["ursula"], registry="team")
    assert user.models.get("tiny").version == 1
    assert [c.name for c in user.components.list()] == ["reader"]
    assert user.environments.get("tools").name == "tools"
    (tmp_path / "more.txt").write_text("more")
    with pytest.raises(PermissionDeniedError):
        user.models.create_or_update(Model(name="tiny", path=str(tmp_path / "more.txt")))
    with pytest.raises(PermissionDeniedError):
        user.environments.create_or_update(Environment(name="e2", image="python:3.11-slim"))
    with pytest.raises(PermissionDeniedError):
        user.registries.assign_role("team", "nora", "Owner")
    assert [r.name for r in user.registries.list()] == ["azureml", "team"]

    writer = _client(app_transport, tokens["cora"], registry="team")
    assert writer.models.create_or_update(
        Model(name="tiny", path=str(tmp_path / "more.txt"))).version == 2
    assert user.models.get("tiny", label="latest").version == 2

    stranger = _client(app_transport, tokens["nora"], registry="team")
    for call in (lambda: stranger.models.list(), lambda: stranger.components.get("reader"),
                 lambda: stranger.environments.list(), lambda: stranger.registries.get("team")):
        with pytest.raises(PermissionDeniedError):
            call()
    with pytest.raises(PermissionDeniedError):
        stranger.models.create_or_update(Model(name="x", path=str(tmp_path / "more.txt")))
    assert [r.name for r in stranger.registries.list()] == ["azureml"]
    with pytest.raises(PermissionDeniedError):   # only server admins create registries
        stranger.registries.create("mine")
    with pytest.raises(NotFoundError, match="'nope'"):
        stranger.registries.get("nope")

    # using a registry's asset is reading it: a Data Scientist of the workspace who has no role
    # in the registry may not submit a job that names one; a Registry User may
    auth.assign_role("nora", "default", "AzureML Data Scientist")
    auth.assign_role("ursula", "default", "AzureML Data Scientist")
    uses = Job(name="", command="echo", environment="azureml://registries/team/environments/"
               "tools/versions/1")
    nora = _client(app_transport, tokens["nora"])
    with pytest.raises(PermissionDeniedError, match="may not use registry 'team'"):
        nora.jobs.create_or_update(uses)
    assert _client(app_transport, tokens["ursula"]).jobs.create_or_update(uses).name


def _run(c: MLClient, spec: Path) -> Any:
    job = c.jobs.create_or_update(load_any_job_spec(spec))
    return wait_for(lambda: (j := c.jobs.get(job.name)).status in JobStatus.TERMINAL and j,
                    timeout=180, interval=0.1)


def test_registry_assets_are_used_from_two_workspaces(server: WorkspaceServer,
                                                       tmp_path: Path) -> None:
    reg = f"r{uuid.uuid4().hex[:8]}"
    other = f"t-{uuid.uuid4().hex[:12]}"
    httpx.post(f"{server.url}/api/v1/workspaces", json={"name": other},
               headers=server.headers).raise_for_status()
    with MLClient(endpoint=server.url, workspace=server.workspace, token=server.token) as c:
        c.registries.create(reg)
    with MLClient(endpoint=server.url, registry_name=reg, token=server.token) as c:
        _share(tmp_path, c)
    spec = tmp_path / "pipeline.yml"
    spec.write_text(textwrap.dedent(PIPELINE.format(reg=reg, comp="reader")).lstrip())
    for ws in (server.workspace, other):
        with MLClient(endpoint=server.url, workspace=ws, token=server.token) as c:
            final = _run(c, spec)
            children = c.jobs.list(parent_job_name=final.name)
            assert final.status == JobStatus.COMPLETED, [job_log(c, ch.name) for ch in children]
            assert "MODEL SAYS forty-two" in job_log(c, children[0].name)
            assert c.models.list() == []   # nothing was copied in as the workspace's model

    with MLClient(endpoint=server.url, workspace=other, token=server.token) as c:
        for registry, comp in (("nope", "reader"), (reg, "missing")):
            bad = tmp_path / f"bad-{registry}-{comp}.yml"
            bad.write_text(textwrap.dedent(PIPELINE.format(reg=registry, comp=comp)).lstrip())
            with pytest.raises(NotFoundError) as err:
                c.jobs.create_or_update(load_any_job_spec(bad))
            assert f"registry {registry!r}" in str(err.value)
            assert "registry." not in str(err.value)   # the backing name stays hidden


def test_the_cli(server: WorkspaceServer, tmp_path: Path) -> None:
    from tests.test_cli import ember

    reg = f"c{uuid.uuid4().hex[:8]}"
    proc: Any = server.proc
    r = ember(proc, "registry", "create", "--name", reg, "--description", "cli", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == reg
    r = ember(proc, "registry", "list", "-o", "json")
    assert {"azureml", reg} <= {d["name"] for d in json.loads(r.stdout)}
    r = ember(proc, "registry", "show", "--name", reg, "-o", "json")
    assert json.loads(r.stdout)["description"] == "cli"
    r = ember(proc, "registry", "create", "--name", "azureml")
    assert r.returncode != 0 and "reserved" in r.stderr
    (tmp_path / "w.txt").write_text("w")
    (tmp_path / "model.yml").write_text("name: cli-model\npath: ./w.txt\n")
    r = ember(proc, "model", "create", "--registry-name", reg, "-f",
              str(tmp_path / "model.yml"), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["registry"] == reg
    r = ember(proc, "model", "list", "--registry-name", reg, "-o", "json")
    assert [d["name"] for d in json.loads(r.stdout)] == ["cli-model"]
    assert json.loads(r.stdout)[0]["id"] == \
        f"azureml://registries/{reg}/models/cli-model/versions/1"
    r = ember(proc, "user", "create", "rudi", "-o", "json")
    assert r.returncode == 0, r.stderr
    r = ember(proc, "role", "assign", "--registry", reg, "--user", "rudi", "--role",
              "AzureML Registry User", "-o", "json")
    assert r.returncode == 0, r.stderr
    r = ember(proc, "role", "list", "--registry", reg, "-o", "json")
    assert [(d["user"], d["role"]) for d in json.loads(r.stdout)] == [
        ("rudi", "AzureML Registry User")]
    r = ember(proc, "role", "remove", "--registry", reg, "--user", "rudi", "--role",
              "AzureML Registry User")
    assert r.returncode == 0, r.stderr
    r = ember(proc, "role", "list", "--registry", reg, "-o", "json")
    assert json.loads(r.stdout) == []
