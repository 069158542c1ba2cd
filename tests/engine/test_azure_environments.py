"""Issue 10, items 1 and 4: Azure's curated environments as Ember builds them, registry
references in jobs, components and deployments, and environments isolated from Ember's own."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from ember.errors import InvalidInputError, NotFoundError
from ember.services.curated_environments import FAMILIES, curated_environment, family_of
from tests.conftest import ServerProc
from tests.test_cli import ember

SKLEARN = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"


def _job_name(out: str) -> str:
    return out.split("RunId: ")[1].split()[0]


def _log(server: ServerProc, name: str) -> str:
    r = httpx.get(f"{server.api()}/jobs/{name}/logs", params={"max_bytes": 1 << 20},
                  headers=server.headers)
    return r.text


def test_curated_names_map_to_families_with_an_honest_notice() -> None:
    assert family_of("sklearn-1.5").key == "sklearn"
    assert family_of("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu").key == "sklearn"
    assert family_of("acpt-pytorch-2.2-cuda12.1").key == "pytorch"
    assert family_of("AzureML-ACPT-pytorch-1.13-py38-cuda11.7-gpu").key == "pytorch"
    assert family_of("tensorflow-2.16-cuda12").key == "tensorflow"
    assert family_of("AzureML-lightgbm-3.3-ubuntu20.04-py38-cpu").key == "lightgbm"
    assert family_of("minimal-py311-inference").key == "minimal"
    assert family_of("mlflow-py312-inference").key == "mlflow"
    old = curated_environment("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "33")
    notice = old.tags["ember.notice"]
    assert "scikit-learn 1.0" in notice and "1.5.2" in notice and "version 33" in notice
    assert "scikit-learn==1.5.2" in (old.pip_requirements or [])
    same = curated_environment("sklearn-1.5")
    assert "names scikit-learn" not in same.tags["ember.notice"]
    assert same.build_hash() == old.build_hash()        # one build serves the whole family
    with pytest.raises(NotFoundError) as err:
        family_of("AzureML-Triton-22.04")
    for fam in FAMILIES:                                # the error lists what is offered
        assert fam.example in err.value.message


def test_unknown_curated_name_or_registry_is_refused_at_submit(server: ServerProc,
                                                               tmp_path: Path) -> None:
    job = tmp_path / "job.yml"
    job.write_text("command: echo hi\nenvironment: azureml://registries/azureml/environments/"
                   "triton-24/labels/latest\n")
    r = ember(server, "job", "create", "-f", str(job))
    assert r.returncode != 0
    assert "triton-24" in r.stderr and "sklearn-1.5" in r.stderr and "Traceback" not in r.stderr
    job.write_text("command: echo hi\nenvironment: azureml://registries/my-org/environments/"
                   "sklearn-1.5/versions/2\n")
    r = ember(server, "job", "create", "-f", str(job))
    assert r.returncode != 0 and "registry 'my-org'" in r.stderr
    assert json.loads(ember(server, "job", "list", "-o", "json").stdout) == []


def test_reserved_prefix_and_dockerfile_refused_at_environment_create(
        server: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    env = tmp_path / "env.yml"
    env.write_text("name: docker-env\nbuild:\n  path: ctx\n")
    r = ember(server, "environment", "create", "-f", str(env))
    assert r.returncode != 0 and "Dockerfile" in r.stderr and "conda_file" in r.stderr
    env.write_text("name: AzureML-mine\nimage: python:3.11-slim\n")
    r = ember(server, "environment", "create", "-f", str(env))
    assert r.returncode != 0 and "reserved" in r.stderr
    assert "docker-env" not in ember(server, "environment", "list").stdout


def test_job_and_component_run_in_the_curated_sklearn_environment(
        server: ServerProc, tmp_path: Path) -> None:
    """A job naming the curated sklearn environment by registry URI, another by its
    workspace name AzureML-..., and a pipeline step whose component names it: all run in one
    uv-built environment with scikit-learn 1.5 and MLflow, not on the server's Python."""
    script = ("import sklearn, mlflow, sys; mlflow.log_metric('ok', 1); "
              "print('sk', sklearn.__version__, sklearn.__file__)")
    (tmp_path / "job.yml").write_text(
        f'command: python -c "{script}"\nenvironment: {SKLEARN}\n')
    r = ember(server, "job", "create", "-f", str(tmp_path / "job.yml"), "--stream")
    assert r.returncode == 0 and "Status: Completed" in r.stdout, r.stdout + r.stderr
    assert "sk 1.5.2" in r.stdout and "/envs/" in r.stdout
    shown = json.loads(ember(server, "job", "show", "-n", _job_name(r.stdout), "-o",
                             "json").stdout)
    assert shown["environment"].startswith("azureml://registries/azureml/environments/"
                                           "sklearn-1.5/versions/")

    (tmp_path / "old.yml").write_text(
        f'command: python -c "{script}"\n'
        "environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n")
    r = ember(server, "job", "create", "-f", str(tmp_path / "old.yml"), "--stream")
    assert r.returncode == 0 and "sk 1.5.2" in r.stdout, r.stdout + r.stderr
    log = _log(server, _job_name(r.stdout))
    assert "reusing cached environment" in log and "names scikit-learn 1.0" in log

    (tmp_path / "comp.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\n"
        "name: sk_check\nversion: 1\ntype: command\n"
        f'command: python -c "{script}"\n'
        "environment: azureml://registries/azureml/environments/sklearn-1.5/versions/7\n")
    r = ember(server, "component", "create", "-f", str(tmp_path / "comp.yml"), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "registries/azureml/environments/sklearn-1.5/versions/7" in r.stdout
    (tmp_path / "pipe.yml").write_text(
        "type: pipeline\njobs:\n  check:\n    component: azureml:sk_check:1\n")
    r = ember(server, "job", "create", "-f", str(tmp_path / "pipe.yml"), "--stream")
    assert r.returncode == 0 and "Status: Completed" in r.stdout, r.stdout + r.stderr
    step = _job_name(r.stdout) + "-check"
    assert "sk 1.5.2" in _log(server, step)


def test_pip_install_in_a_job_never_changes_embers_environment(
        server: ServerProc, tmp_path: Path) -> None:
    """A job on the server's Python (no environment, or an image-only one) and a job in a
    uv-built environment each `pip install` a different version of a package Ember has: the
    job sees its version, and neither Ember's own nor the cached build changes."""
    before = metadata.version("packaging")
    (tmp_path / "img.yml").write_text(
        "command: >-\n  pip install -q packaging==23.2 &&\n"
        "  python -c \"import packaging, sys; print('pkg', packaging.__version__, sys.prefix)\"\n"
        "environment:\n  image: python:3.11-slim\n")
    r = ember(server, "job", "create", "-f", str(tmp_path / "img.yml"), "--stream")
    assert r.returncode == 0 and "pkg 23.2" in r.stdout, r.stdout + r.stderr
    show = "  python -c \"import packaging, six; print('pkg', packaging.__version__)\"\n"
    env = "environment:\n  conda_file:\n    dependencies: [python=3.11, {pip: [six]}]\n"
    (tmp_path / "uv.yml").write_text(
        "command: >-\n  pip install -q packaging==24.0 &&\n" + show + env)
    r = ember(server, "job", "create", "-f", str(tmp_path / "uv.yml"), "--stream")
    assert r.returncode == 0 and "pkg 24.0" in r.stdout, r.stdout + r.stderr
    # the next job in the same (cached) environment starts from the build, as each Azure job
    # starts from its image: the first job's install stayed in that job
    (tmp_path / "again.yml").write_text("command: >-\n" + show + env)
    r = ember(server, "job", "create", "-f", str(tmp_path / "again.yml"), "--stream")
    assert r.returncode == 0 and "pkg " in r.stdout and "pkg 24.0" not in r.stdout, r.stdout
    assert "reusing cached environment" in _log(server, _job_name(r.stdout))
    ours = subprocess.run([sys.executable, "-c",
                           "import importlib.metadata as m; print(m.version('packaging'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert ours == before


def test_inline_environment_with_a_name_is_accepted() -> None:
    from ember.specs.environments import environment_from_dict
    env = environment_from_dict({"name": "scoring-env", "version": "3",
                                 "image": "python:3.11-slim",
                                 "conda_file": {"dependencies": [{"pip": ["six"]}]}},
                                "deployment.yml", Path("."), inline=True)
    assert env.name == "scoring-env" and env.pip_requirements is None and env.conda_file
    with pytest.raises(InvalidInputError):
        environment_from_dict({"name": "x"}, "deployment.yml", Path("."), inline=True)


def test_online_deployment_in_a_conda_environment_and_a_curated_one(
        server: ServerProc, tmp_path: Path) -> None:
    """The worker of a deployment with a conda environment runs in that environment (it used
    to be started with `-m ember.serving.worker`, which that environment cannot import), and a
    curated registry reference resolves in a deployment as it does in a job."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(
        "import sys, six\n"
        "def init():\n    pass\n"
        "def run(raw):\n    return {'prefix': sys.prefix, 'six': six.__version__}\n")
    (tmp_path / "ep.yml").write_text("name: envs\nauth_mode: key\n")
    assert ember(server, "online-endpoint", "create", "-f", str(tmp_path / "ep.yml")).returncode == 0
    (tmp_path / "conda.yml").write_text("dependencies:\n  - python=3.11\n  - pip:\n"
                                        "    - six==1.16.0\n")
    (tmp_path / "blue.yml").write_text(
        "name: blue\nendpoint_name: envs\n"
        "code_configuration:\n  code: code\n  scoring_script: score.py\n"
        "environment:\n  name: scoring-env\n  image: python:3.11-slim\n  conda_file: conda.yml\n"
        "instance_type: Standard_DS2_v2\ninstance_count: 1\n")
    r = ember(server, "online-deployment", "create", "-f", str(tmp_path / "blue.yml"),
              "--all-traffic")
    assert r.returncode == 0, r.stdout + r.stderr
    # the CLI passes the environment build's progress on (uv's own lines included)
    assert "building environment scoring-env (inline) with uv" in r.stderr
    assert "six==1.16.0" in r.stderr
    (tmp_path / "req.json").write_text("{}")
    r = ember(server, "online-endpoint", "invoke", "-n", "envs", "--request-file",
              str(tmp_path / "req.json"))
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    body = json.loads(body) if isinstance(body, str) else body
    assert body["six"] == "1.16.0" and "/envs/" in body["prefix"]

    (tmp_path / "green.yml").write_text(
        "name: green\nendpoint_name: envs\n"
        "code_configuration:\n  code: code\n  scoring_script: score.py\n"
        "environment: azureml://registries/azureml/environments/minimal-py311-inference/"
        "labels/latest\ninstance_count: 1\n")
    r = ember(server, "online-deployment", "create", "-f", str(tmp_path / "green.yml"))
    # the minimal curated environment has no six: the worker starts in it and init fails there
    assert r.returncode != 0
    logs = ember(server, "online-deployment", "get-logs", "-n", "green", "-e", "envs").stdout
    assert "No module named 'six'" in logs
    shown = json.loads(ember(server, "online-deployment", "show", "-n", "green", "-e", "envs",
                             "-o", "json").stdout)
    assert shown["environment"].startswith(
        "azureml://registries/azureml/environments/minimal-py311-inference/versions/")



def test_a_workspace_environment_named_azureml_still_resolves_first(tmp_path: Path) -> None:
    """Before the AzureML- prefix was reserved, users registered stand-ins of that name; the
    workspace's own still wins over the curated registry, and only a missing one is curated."""
    from ember.entities.environments import Environment
    from ember.entities.workspaces import Workspace
    from ember.services.environments import EnvironmentService
    from ember.store.sql.store import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        store.workspaces.create(Workspace(name="w", creation_time=1.0))
        store.environments.create("w", Environment(name="AzureML-sklearn-1.5", version="1",
                                                   image="python:3.11-slim"))
        service = EnvironmentService(store.environments)
        assert service.reference("w", "azureml:AzureML-sklearn-1.5@latest") == \
            "AzureML-sklearn-1.5:1"
        assert service.resolve("w", "AzureML-sklearn-1.5:1").image == "python:3.11-slim"
        ref, env = service.pinned("w", "azureml:AzureML-lightgbm-3.3@latest")
        assert ref.startswith("azureml://registries/azureml/environments/AzureML-lightgbm-3.3/")
        assert "lightgbm==4.5.0" in (env.pip_requirements or [])
    finally:
        store.close()
