"""A flow job's connections arrive as one environment variable at run time: only those its flow
(and its overrides) name, out of the environment before a tool runs; its token reads none."""

from __future__ import annotations

import json
from pathlib import Path

from ember.client.mlclient import MLClient
from ember.engine.flow_secrets import connection_names
from ember.entities.connections import Connection
from ember.entities.flow_runs import Run
from ember.entities.jobs import Job, JobInput
from ember.flows.batch import BatchConfig
from tests.conftest import WorkspaceServer, job_log, wait_ended

FLOWS = Path(__file__).parent / "flows"
ENV_PROBE = '''
import os
from promptflow.core import tool


@tool
def read_env() -> str:
    leaked = "EMBER_CONNECTIONS" in os.environ
    return os.environ["EMBER_TEST_FLOW_TOKEN"] + "," + str(leaked)
'''


def test_a_flow_run_gets_its_connections_and_no_other(server: WorkspaceServer,
                                                       tmp_path: Path) -> None:
    flow = tmp_path / "conn"
    flow.mkdir()
    for f in (FLOWS / "conn").iterdir():
        (flow / f.name).write_bytes(f.read_bytes())
    (flow / "read_env.py").write_text(ENV_PROBE)
    data = tmp_path / "d.jsonl"
    data.write_text('{"q": "hi"}\n')
    with MLClient() as c:
        c.connections.create_or_update(Connection(
            name="my_custom", type="custom", configs={"endpoint": "http://e"},
            secrets={"token": "tok-used"}))
        c.connections.create_or_update(Connection(
            name="unnamed", type="custom", configs={"endpoint": "http://x"},
            secrets={"token": "tok-never-handed"}))
        run = c.flow_runs.create_or_update(Run(flow=str(flow), data=str(data), name="secrets-1",
                                               column_mapping={"question": "${data.q}"}))
        job = wait_ended(c, run.name or "")
        assert job.status == "Completed", job_log(c, "secrets-1")
        details = c.flow_runs.details("secrets-1")
        assert details[0]["outputs"] == {"answer": "http://e|tok-used|hi|512",
                                         "env": "tok-used,False"}
        runner = json.loads((server.home / "jobs" / "secrets-1" / "runner.json").read_text())
        handed = json.loads(runner["env"]["EMBER_CONNECTIONS"])
        assert set(handed) == {"my_custom"}            # not "unnamed"
        assert "tok-never-handed" not in job_log(c, "secrets-1")


def test_the_connections_a_flow_job_names(tmp_path: Path) -> None:
    cfg = BatchConfig(connections={"ask": {"connection": "override_a"}})
    job = Job(name="j", command=f"python -m ember.flows.batch --config {cfg.encode()} --x",
              inputs={"connections": JobInput(type="string", value=json.dumps(
                  {"ask": {"connection": "step_b", "deployment_name": "d"}}))})
    assert connection_names(job, FLOWS / "conn") == ["my_custom", "override_a", "step_b"]
    # a flow that does not load hands nothing over (the job itself says why)
    assert connection_names(Job(name="k", command="python -m ember.flows.batch --config e30="),
                            tmp_path) == []
