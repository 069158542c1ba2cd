"""Command jobs on a Ray compute, against a real loopback Ray cluster and a real Ember server:
inputs downloaded on the node, named outputs and ./outputs uploaded back, MLflow metrics from
inside the job, the log streamed, cancel and timeout stopping the Ray job, and a job whose
runner cannot start ended with Ray's own log."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from ember import Input, MLClient, Output, command
from ember.client.compute import Compute
from ember.entities.jobs import JobStatus
from tests.conftest import WorkspaceServer, job_log, wait_ended, wait_for
from tests.ray.cluster import RayCluster

pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture
def ray_client(server: WorkspaceServer, ray_cluster: RayCluster) -> Any:
    """An SDK client on a fresh workspace with the cluster registered as compute ``ray``."""
    with MLClient(endpoint=server.url) as c:
        c.compute.begin_create_or_update(
            Compute(name="ray", type="ray", address=ray_cluster.address)).result()
        yield c


def ray_status(cluster: RayCluster, workspace: str, job: str) -> str:
    return str(cluster.client().get_job_status(f"ember-{workspace}-{job}").value)


def test_a_command_job_runs_on_ray_with_inputs_outputs_and_metrics(
        ray_client: MLClient, ray_cluster: RayCluster, server: WorkspaceServer,
        tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "train.py").write_text(textwrap.dedent("""
        import os, sys, pathlib, mlflow
        data, table, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
        total = sum(int(p.read_text()) for p in sorted(data.glob("*.txt")))
        rows = table.read_text().splitlines()
        mlflow.log_metric("total", total)
        mlflow.log_metric("rows", len(rows))
        pathlib.Path(out, "result.txt").write_text(f"{total} {len(rows)}")
        pathlib.Path("outputs/note.txt").write_text("from ray")
        print("cwd is private:", "_ray_pkg_" not in os.getcwd(), "pid", os.getpid())
    """))
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("3")
    (data / "sub" / "b.txt").write_text("4")   # found only by data.glob at the top: 3
    (tmp_path / "table.csv").write_text("x\n1\n2\n")
    job = command(code=str(code), compute="azureml:ray",
                  command="python train.py ${{inputs.data}} ${{inputs.table}} ${{outputs.model}}",
                  inputs={"data": Input(type="uri_folder", path=str(data)),
                          "table": Input(type="uri_file", path=str(tmp_path / "table.csv"))},
                  outputs={"model": Output(type="uri_folder")},
                  environment_variables={"GREETING": "hi"})
    made = ray_client.jobs.create_or_update(job)
    final = wait_ended(ray_client, made.name, timeout=180)
    log = job_log(ray_client, made.name)
    assert final.status == JobStatus.COMPLETED, (final.error, log)
    assert f"a Ray cluster at {ray_cluster.address}; the job runs there and reports to " \
        f"{server.url}" in log and "cwd is private: True" in log
    assert "input 'data': downloaded 2 file(s)" in log
    # the runner reports the end, then exits: Ray marks its job a moment later
    wait_for(lambda: ray_status(ray_cluster, server.workspace, made.name) == "SUCCEEDED",
             timeout=60)
    files = ray_client.jobs.download(made.name, tmp_path / "dl", output_name="model")
    assert [(f.name, f.read_text()) for f in files] == [("result.txt", "3 3")]
    notes = ray_client.jobs.download(made.name, tmp_path / "dl2")
    assert any(f.name == "note.txt" and f.read_text() == "from ray" for f in notes)
    import mlflow

    # a client of its own: mlflow's global tracking URI would leak into later tests
    run = mlflow.MlflowClient(tracking_uri=server.tracking_uri).get_run(made.name)
    assert run.data.metrics == {"total": 3.0, "rows": 3.0}


def _forever(tmp_path: Path) -> str:
    """A command that writes its pid to a file, then runs until it is stopped."""
    pid_file = tmp_path / "pid"
    return (f"python -c \"import os, time; open('{pid_file}', 'w').write(str(os.getpid())); "
            "print('working', flush=True); [time.sleep(0.2) for _ in iter(int, 1)]\"")


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancel_stops_the_ray_job_and_its_processes(
        ray_client: MLClient, ray_cluster: RayCluster, server: WorkspaceServer,
        tmp_path: Path) -> None:
    made = ray_client.jobs.create_or_update(command(command=_forever(tmp_path),
                                                    compute="azureml:ray"))
    wait_for(lambda: ray_client.jobs.get(made.name).status == "Running"
             and (tmp_path / "pid").exists(), timeout=120)
    pid = int((tmp_path / "pid").read_text())
    ray_client.jobs.begin_cancel(made.name)
    final = wait_ended(ray_client, made.name, timeout=60)
    assert final.status == JobStatus.CANCELED
    wait_for(lambda: ray_status(ray_cluster, server.workspace, made.name) == "STOPPED",
             timeout=60)
    wait_for(lambda: _gone(pid), timeout=30)
    assert "working" in job_log(ray_client, made.name)


def test_timeout_stops_the_ray_job(ray_client: MLClient, ray_cluster: RayCluster,
                                   server: WorkspaceServer, tmp_path: Path) -> None:
    made = ray_client.jobs.create_or_update(command(command=_forever(tmp_path), timeout=2,
                                                    compute="azureml:ray"))
    final = wait_ended(ray_client, made.name, timeout=120)
    assert final.status == JobStatus.CANCELED
    assert any("limits.timeout" in (h.reason or "") for h in final.status_history)
    wait_for(lambda: ray_status(ray_cluster, server.workspace, made.name) == "STOPPED",
             timeout=60)
    wait_for(lambda: _gone(int((tmp_path / "pid").read_text())), timeout=30)


def test_a_conda_files_pip_list_becomes_the_ray_jobs_environment(
        ray_client: MLClient) -> None:
    from ember.entities.environments import Environment

    env = Environment(name="six-env", conda_file={"dependencies": [
        "python=3.11", "pip", {"pip": ["six==1.16.0"]}]})
    made = ray_client.jobs.create_or_update(command(
        command="python -c \"import six, sys; print('six', six.__version__, sys.prefix)\"",
        environment=env, compute="azureml:ray"))
    final = wait_ended(ray_client, made.name, timeout=300)
    log = job_log(ray_client, made.name)
    assert final.status == JobStatus.COMPLETED, (final.error, log)
    assert "six 1.16.0" in log and "runtime_resources/pip" in log   # Ray's virtualenv
    assert "1 pip requirement(s) installed by Ray" in log


def test_a_runtime_environment_that_cannot_install_fails_with_rays_log(
        ray_client: MLClient, tmp_path: Path) -> None:
    from ember.entities.environments import Environment

    env = Environment(name="broken", conda_file={"dependencies": [
        "python=3.11", {"pip": ["/nonexistent/ember-no-such-package-xyz.whl"]}]})
    made = ray_client.jobs.create_or_update(command(command="echo never", environment=env,
                                                    compute="azureml:ray"))
    final = wait_ended(ray_client, made.name, timeout=180)
    assert final.status == JobStatus.FAILED
    assert final.error and "the Ray job ended FAILED" in final.error
    assert "\n" not in final.error
    log = job_log(ray_client, made.name)
    assert "ember-no-such-package-xyz" in log and "never" not in log.split("Ray's log")[0]


def test_a_two_process_ddp_job_all_reduces_on_the_cluster(
        ray_client: MLClient, tmp_path: Path) -> None:
    """Azure ML's PyTorch distribution: the script reads the launcher's variables, unchanged."""
    code = tmp_path / "ddp"
    code.mkdir()
    (code / "train.py").write_text(textwrap.dedent("""
        import os
        import torch
        import torch.distributed as dist
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        t = torch.tensor([float(rank + 1)])
        dist.all_reduce(t)
        print(f"rank {rank}/{world} local {os.environ['LOCAL_RANK']} all_reduce={t.item()}")
        dist.destroy_process_group()
    """))
    made = ray_client.jobs.create_or_update(command(
        code=str(code), command="python train.py", compute="azureml:ray",
        distribution={"type": "pytorch", "process_count_per_instance": 2},
        environment_variables={"OMP_NUM_THREADS": "1"}))
    final = wait_ended(ray_client, made.name, timeout=180)
    log = job_log(ray_client, made.name)
    assert final.status == JobStatus.COMPLETED, (final.error, log)
    assert "rank 0/2 local 0 all_reduce=3.0" in log and "rank 1/2 local 1 all_reduce=3.0" in log
    assert "on one node of the cluster" in log
    files = {f.name for f in ray_client.jobs.download(made.name, tmp_path / "dl",
                                                       output_name="default")}
    assert {"std_log_process_0.txt", "std_log_process_1.txt"} <= files


def test_show_reports_the_clusters_live_status(ray_client: MLClient, ray_cluster: RayCluster,
                                               tmp_path: Path) -> None:
    status = ray_client.compute.get("ray").status or {}
    assert status["state"] == "Running" and status["nodes"] >= 1 and status["cpus"] >= 2
    assert status["ray_version"] == __import__("ray").__version__
    from tests.ray.cluster import free_port

    ray_client.compute.create_or_update(Compute(name="gone", type="ray",
                                                address=f"http://127.0.0.1:{free_port()}"))
    gone = ray_client.compute.get("gone").status or {}
    assert gone["state"] == "Unreachable" and "Connect" in gone["error"]
    assert ray_client.compute.list()[1].status is None   # lists stay quick: no cluster calls
