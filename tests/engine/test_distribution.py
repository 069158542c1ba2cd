"""``distribution`` and ``resources.instance_count`` on local compute (issue 10, item 8): the
launcher's processes and variables, per-process logs, any failure fails the job, cancel stops
every process, and what cannot be honoured is said in the job log."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import psutil
import pytest

from ember import MLClient
from ember.entities.jobs import JobStatus
from ember.errors import InvalidInputError, NotFoundError
from tests.conftest import ServerProc, job_log, wait_ended, wait_for
from tests.test_cli import create_job, ember

HAS_TORCH = importlib.util.find_spec("torch") is not None

CHECK = """
import json, os, sys
names = ["MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK"]
env = {k: os.environ[k] for k in names}
assert env["MASTER_ADDR"] == "127.0.0.1", env
assert env["WORLD_SIZE"] == "2" and env["NODE_RANK"] == "0", env
assert env["RANK"] == env["LOCAL_RANK"] and env["RANK"] in ("0", "1"), env
print("ENV " + json.dumps(env, sort_keys=True))
if sys.argv[1:] == ["--torch"]:
    import torch
    import torch.distributed as dist
    dist.init_process_group("gloo")
    t = torch.tensor([float(env["RANK"]) + 1.0])
    dist.all_reduce(t)
    print("SUM", t.item())
    dist.destroy_process_group()
"""


def _submit(server: ServerProc, tmp_path: Path, yaml_text: str) -> str:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src/check.py").write_text(textwrap.dedent(CHECK).lstrip())
    spec = tmp_path / "job.yml"
    spec.write_text(textwrap.dedent(yaml_text).lstrip())
    return create_job(server, spec)




def _lines(log: str, rank: int, marker: str) -> list[str]:
    prefix = f"[rank {rank}] {marker}"
    return [line[len(prefix):].strip() for line in log.splitlines() if line.startswith(prefix)]


def test_pytorch_two_processes_get_the_launcher_variables_and_all_reduce(
        server: ServerProc, tmp_path: Path) -> None:
    torch_arg = " --torch" if HAS_TORCH else ""   # the env-var part runs either way
    name = _submit(server, tmp_path, f"""
        code: ./src
        command: python check.py{torch_arg}
        distribution:
          type: pytorch
          process_count_per_instance: 2
        """)
    with MLClient(endpoint=server.url) as c:
        status = wait_ended(c, name).status
        log = job_log(c, name)
        assert status == JobStatus.COMPLETED, log
        envs = [json.loads(_lines(log, r, "ENV")[0]) for r in (0, 1)]
        assert [e["RANK"] for e in envs] == ["0", "1"]
        assert envs[0]["MASTER_PORT"] == envs[1]["MASTER_PORT"]
        assert "distribution pytorch: 2 process(es)" in log
        if HAS_TORCH:
            assert _lines(log, 0, "SUM") == ["3.0"] and _lines(log, 1, "SUM") == ["3.0"]
        c.jobs.download(name, tmp_path / "dl", all=True)
    for rank in (0, 1):
        own = (tmp_path / f"dl/artifacts/user_logs/std_log_process_{rank}.txt").read_text()
        assert f'"RANK": "{rank}"' in own and "[rank" not in own


def test_tensorflow_and_mpi_variables_and_two_instances(server: ServerProc,
                                                        tmp_path: Path) -> None:
    tf = _submit(server, tmp_path, """
        command: python -c "import os; print('TF', os.environ['TF_CONFIG'])"
        distribution: {type: tensorflow, worker_count: 2}
        resources: {instance_type: Standard_NC6}
        """)
    mpi = _submit(server, tmp_path, """
        command: >-
          echo MPI $OMPI_COMM_WORLD_RANK $OMPI_COMM_WORLD_SIZE
          $OMPI_COMM_WORLD_LOCAL_RANK $OMPI_COMM_WORLD_LOCAL_SIZE
        distribution: {type: mpi, process_count_per_instance: 2}
        resources: {instance_count: 2}
        """)
    with MLClient(endpoint=server.url) as c:
        assert wait_ended(c, tf).status == JobStatus.COMPLETED, job_log(c, tf)
        log = job_log(c, tf)
        configs = [json.loads(_lines(log, r, "TF")[0]) for r in (0, 1)]
        workers = configs[0]["cluster"]["worker"]
        assert len(set(workers)) == 2 and all(w.startswith("127.0.0.1:") for w in workers)
        assert [cfg["task"] for cfg in configs] == [{"type": "worker", "index": 0},
                                                    {"type": "worker", "index": 1}]
        assert "resources instance_type: not applicable on local compute" in log

        assert wait_ended(c, mpi).status == JobStatus.COMPLETED, job_log(c, mpi)
        log = job_log(c, mpi)
        got = sorted(_lines(log, r, "MPI")[0] for r in range(4))
        assert got == ["0 4 0 2", "1 4 1 2", "2 4 0 2", "3 4 1 2"]
        assert "resources.instance_count 2: local compute is one machine" in log
        assert "no mpirun" in log


def test_one_failing_process_fails_the_job_and_stops_the_others(server: ServerProc,
                                                                tmp_path: Path) -> None:
    marker = tmp_path / "pids"
    marker.mkdir()
    name = _submit(server, tmp_path, f"""
        command: >-
          echo $$ > {marker}/$RANK;
          if [ "$RANK" = 1 ]; then while [ ! -e {marker}/0 ]; do sleep 0.05; done; exit 7; fi;
          exec sleep 300
        distribution: {{type: pytorch, process_count_per_instance: 2}}
        """)
    with MLClient(endpoint=server.url) as c:
        assert wait_ended(c, name, timeout=60).status == JobStatus.FAILED
        error = c.jobs.get(name).error or ""
        assert "process rank 1 of 2 failed" in error and "code 7" in error
    pid = int((marker / "0").read_text())
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
             timeout=10)


def test_cancel_stops_every_process(server: ServerProc, tmp_path: Path) -> None:
    marker = tmp_path / "pids"
    marker.mkdir()
    name = _submit(server, tmp_path, f"""
        command: echo $$ > {marker}/$RANK.tmp && mv {marker}/$RANK.tmp {marker}/$RANK && exec sleep 300
        distribution: {{type: pytorch, process_count_per_instance: 3}}
        """)
    wait_for(lambda: len(list(marker.iterdir())) == 3 and
             all(not p.name.endswith(".tmp") for p in marker.iterdir()), timeout=60)
    pids = [int(p.read_text()) for p in marker.iterdir()]
    r = ember(server, "job", "cancel", "-n", name)
    assert r.returncode == 0, r.stderr
    with MLClient(endpoint=server.url) as c:
        assert c.jobs.get(name).status == JobStatus.CANCELED
    for pid in pids:
        wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
                 timeout=10)


@pytest.mark.parametrize("distribution, resources, message", [
    ({"type": "pytorch", "process_count_per_instance": -1}, None, "process_count_per_instance"),
    ({"type": "pytorch", "process_count_per_instance": 2}, {"instance_count": "two"},
     "instance_count"),
    ({"type": "pytorch", "process_count_per_instance": 16}, {"instance_count": 8},
     "128 processes"),
    ({"type": "horovod"}, None, "type"),
])
def test_bad_run_settings_sent_through_the_api_are_a_clear_400(
        app_client: MLClient, distribution: dict[str, object],
        resources: dict[str, object] | None, message: str) -> None:
    """The server checks distribution/resources itself (the SDK's Job, or a raw request,
    skips the YAML's checks): a bad value is a 400 naming the key, nothing is recorded."""
    from ember.entities.jobs import Job
    with pytest.raises(InvalidInputError) as err:
        app_client.jobs.create_or_update(Job(name="bad-dist", command="echo",
                                             distribution=distribution, resources=resources))
    assert message in err.value.message
    with pytest.raises(NotFoundError):
        app_client.jobs.get("bad-dist")
