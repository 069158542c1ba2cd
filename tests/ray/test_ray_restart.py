"""An Ember server restart while a job runs on Ray: the new server process reattaches the Ray
job by its submission id, the job's log is complete and its end is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember import MLClient, command
from ember.client.compute import Compute
from tests.conftest import ServerProc, job_log, wait_for
from tests.ray.cluster import RayCluster

pytestmark = pytest.mark.xdist_group("ray")


def test_a_restarted_server_reattaches_a_running_ray_job(ray_cluster: RayCluster,
                                                         tmp_path: Path) -> None:
    go = tmp_path / "go"
    srv = ServerProc(tmp_path / "home").start()
    try:
        c = MLClient(endpoint=srv.url, token=srv.token)
        c.compute.begin_create_or_update(
            Compute(name="ray", type="ray", address=ray_cluster.address)).result()
        # waits for the test's go-ahead: it ends only after the server came back
        job = c.jobs.create_or_update(command(compute="azureml:ray", command=(
            f"echo before-restart; while [ ! -e {go} ]; do sleep 0.1; done; "
            "echo after-restart")))
        wait_for(lambda: c.jobs.get(job.name).status == "Running"
                 and "before-restart" in job_log(c, job.name), timeout=120)
        srv.kill()   # SIGKILL: no clean shutdown
        srv.start(port=srv.port)
        c = MLClient(endpoint=srv.url, token=srv.token)
        assert c.jobs.get(job.name).status == "Running"
        go.touch()
        wait_for(lambda: c.jobs.get(job.name).status in ("Completed", "Failed", "Canceled"),
                 timeout=120)
        final = c.jobs.get(job.name)
        assert final.status == "Completed", final.error
        log = job_log(c, job.name)
        assert log.count("before-restart") == 1 and log.count("after-restart") == 1
        wait_for(lambda: str(ray_cluster.client().get_job_status(
            f"ember-default-{job.name}").value) == "SUCCEEDED", timeout=60)
    finally:
        srv.stop()
