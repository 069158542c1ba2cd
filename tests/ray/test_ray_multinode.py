"""``resources.instance_count > 1`` on a Ray compute: each instance on its own node (a second
raylet on this host makes the session's cluster two nodes), a DDP script written for Azure ML
all-reducing across them unchanged, each instance downloading the inputs and uploading what it
wrote; more instances than nodes fails naming both; one failing rank stops the others, and a
cancel leaves no rank process on any node."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ember import Input, MLClient, Output, command
from ember.client.compute import Compute
from ember.entities.jobs import JobStatus
from tests.conftest import WorkspaceServer, job_log, wait_ended, wait_for
from tests.ray.cluster import RayCluster

pytestmark = pytest.mark.xdist_group("ray")

ONE_EACH = {"type": "pytorch", "process_count_per_instance": 1}


@pytest.fixture(scope="module")
def two_nodes(ray_cluster: RayCluster) -> Iterator[RayCluster]:
    """The session's cluster with a second node (one CPU); it stays: it only adds capacity."""
    if ray_cluster.alive_nodes() < 2:
        ray_cluster.add_node(num_cpus=1)
    yield ray_cluster


@pytest.fixture
def ray_client(server: WorkspaceServer, two_nodes: RayCluster) -> Iterator[Any]:
    with MLClient(endpoint=server.url) as c:
        c.compute.begin_create_or_update(
            Compute(name="ray", type="ray", address=two_nodes.address)).result()
        yield c


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _pids(folder: Path, count: int) -> list[int]:
    texts = [f.read_text() for f in sorted(folder.glob("pid_*"))]
    return [int(t) for t in texts] if len(texts) == count and all(texts) else []


def _rank_code(tmp_path: Path, body: str) -> str:
    """A folder with rank.py (``tmp``: tmp_path): it writes its pid to ``pid_<RANK>`` under tmp_path, prints that it
    is up, and on SIGTERM writes ``term_<RANK>`` and exits; then runs ``body``."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "rank.py").write_text(textwrap.dedent(f"""
        import os, signal, sys, time
        rank, tmp = os.environ["RANK"], {str(tmp_path)!r}
        def on_term(*_):
            open(os.path.join(tmp, "term_" + rank), "w").close()
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        with open(os.path.join(tmp, "pid_" + rank + ".tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.rename(f.name, f.name[:-4])
        print("rank", rank, "up", flush=True)
    """) + body)
    return str(code)


FOREVER = textwrap.dedent("""
    while True:
        time.sleep(0.2)
""")


def test_two_instances_all_reduce_across_two_nodes(ray_client: MLClient,
                                                   tmp_path: Path) -> None:
    code = tmp_path / "ddp"
    code.mkdir()
    (code / "train.py").write_text(textwrap.dedent("""
        import os, pathlib, sys
        import torch
        import torch.distributed as dist
        data, model = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        t = torch.tensor([float(rank + 1)])
        dist.all_reduce(t)
        print(f"rank {rank}/{world} node {os.environ['NODE_RANK']} "
              f"local {os.environ['LOCAL_RANK']} all_reduce={t.item()}")
        (model / f"rank{rank}.txt").write_text((data / "a.txt").read_text())
        pathlib.Path(f"outputs/rank{rank}.txt").write_text(str(t.item()))
        dist.destroy_process_group()
    """))
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("seen")
    job = command(code=str(code), command="python train.py ${{inputs.data}} ${{outputs.model}}",
                  inputs={"data": Input(type="uri_folder", path=str(data))},
                  outputs={"model": Output(type="uri_folder")}, compute="azureml:ray",
                  instance_count=2, distribution=ONE_EACH,
                  environment_variables={"OMP_NUM_THREADS": "1"})
    job.resources = {"instance_count": 2, "shm_size": "2g"}
    made = ray_client.jobs.create_or_update(job)
    final = wait_ended(ray_client, made.name, timeout=180)
    log = job_log(ray_client, made.name)
    assert final.status == JobStatus.COMPLETED, (final.error, log)
    assert "rank 0/2 node 0 local 0 all_reduce=3.0" in log
    assert "rank 1/2 node 1 local 0 all_reduce=3.0" in log
    nodes = dict(re.findall(r"instance (\d): node (\w+) ", log))
    assert set(nodes) == {"0", "1"} and nodes["0"] != nodes["1"], log
    assert "each instance on its own node of the cluster" in log
    assert "resources shm_size 2g: not applied" in log
    # every instance downloads the inputs on its node and uploads what it wrote
    assert "instance 0: input 'data': downloaded 1 file(s)" in log
    assert "instance 1: input 'data': downloaded 1 file(s)" in log
    model = {f.name: f.read_text() for f in ray_client.jobs.download(
        made.name, tmp_path / "model", output_name="model")}
    assert model == {"rank0.txt": "seen", "rank1.txt": "seen"}
    files = {f.name for f in ray_client.jobs.download(made.name, tmp_path / "dl",
                                                       output_name="default")}
    assert {"std_log_process_0.txt", "std_log_process_1.txt"} <= files
    outputs = {f.name: f.read_text() for f in ray_client.jobs.download(made.name,
                                                                       tmp_path / "out")}
    assert outputs.get("rank0.txt") == "3.0" and outputs.get("rank1.txt") == "3.0"


def test_more_instances_than_nodes_fail_naming_both(ray_client: MLClient,
                                                    two_nodes: RayCluster) -> None:
    many = two_nodes.alive_nodes() + 2
    made = ray_client.jobs.create_or_update(command(
        command="echo never", compute="azureml:ray", instance_count=many,
        distribution=ONE_EACH, environment_variables={"EMBER_RAY_PLACEMENT_TIMEOUT_S": "3"}))
    final = wait_ended(ray_client, made.name, timeout=120)
    assert final.status == JobStatus.FAILED
    assert final.error and "\n" not in final.error
    assert f"resources.instance_count {many} needs {many} nodes" in final.error
    assert f"the Ray cluster has {many - 2} alive node(s)" in final.error
    assert "never" not in job_log(ray_client, made.name)


def test_one_failing_rank_stops_the_other_instance(ray_client: MLClient,
                                                   tmp_path: Path) -> None:
    body = textwrap.dedent("""
        if rank == "1":
            while not os.path.exists(os.path.join(tmp, "pid_0")):
                time.sleep(0.05)
            sys.exit(3)
    """) + FOREVER
    made = ray_client.jobs.create_or_update(command(
        code=_rank_code(tmp_path, body), command="python rank.py", compute="azureml:ray",
        instance_count=2, distribution=ONE_EACH))
    final = wait_ended(ray_client, made.name, timeout=180)
    log = job_log(ray_client, made.name)
    assert final.status == JobStatus.FAILED, log
    assert final.error and "process rank 1 of 2 (instance 1) failed" in final.error
    assert "exited with code 3" in final.error
    assert "[rank 0] rank 0 up" in log and "[rank 1] rank 1 up" in log
    pids = _pids(tmp_path, 2)
    assert len(pids) == 2
    for pid in pids:
        wait_for(lambda p=pid: _gone(p), timeout=30)
    assert (tmp_path / "term_0").exists()   # stopped by its actor, across nodes: SIGTERM first


def test_cancel_leaves_no_rank_process_on_any_node(ray_client: MLClient,
                                                   tmp_path: Path) -> None:
    made = ray_client.jobs.create_or_update(command(
        code=_rank_code(tmp_path, FOREVER), command="python rank.py", compute="azureml:ray",
        instance_count=2, distribution=ONE_EACH))
    pids = wait_for(lambda: ray_client.jobs.get(made.name).status == "Running"
                    and _pids(tmp_path, 2), timeout=120)
    ray_client.jobs.begin_cancel(made.name)
    final = wait_ended(ray_client, made.name, timeout=60)
    assert final.status == JobStatus.CANCELED
    for pid in pids:
        wait_for(lambda p=pid: _gone(p), timeout=30)
    # each rank was told to stop (SIGTERM, its grace) before anything was killed
    assert (tmp_path / "term_0").exists() and (tmp_path / "term_1").exists()
