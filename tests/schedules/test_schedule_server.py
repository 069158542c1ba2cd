"""Schedules on a real server subprocess, through the CLI and the SDK: a schedule with no
start_time fires at once, trigger now, delete refused while enabled, and restarts: a trigger
missed while the server was down fires once at start-up, and a restart fires nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.store.sql.store import SqlStore
from tests.conftest import ServerProc, wait_for

WS = "default"


def ember(srv: ServerProc, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMBER_ENDPOINT": srv.url, "EMBER_HOME": str(srv.home)}
    return subprocess.run([sys.executable, "-m", "ember.cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def _files(tmp_path: Path) -> Path:
    (tmp_path / "job.yml").write_text("command: echo ${{inputs.when}}\n"
                                      "inputs:\n  when: ${{creation_context.trigger_time}}\n")
    spec = tmp_path / "nightly.yml"
    spec.write_text("name: nightly\ntrigger:\n  type: cron\n  expression: '0 3 * * *'\n"
                    "  time_zone: Pacific Standard Time\ncreate_job: ./job.yml\n")
    return spec


def test_schedule_over_cli_sdk_and_restarts(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_HOME", str(tmp_path / "home"))   # the SDK's owner token
    url = f"sqlite:///{tmp_path / 'ember.db'}"
    srv = ServerProc(tmp_path / "home", store_url=url).start()
    try:
        made = ember(srv, "schedule", "create", "-f", str(_files(tmp_path)), "-o", "json")
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["is_enabled"] is True
        with MLClient(endpoint=srv.url, workspace=WS) as c:
            # no start_time: the first job runs at once
            first = wait_for(lambda: c.schedules.list_jobs("nightly"))[0]
            job = c.jobs.get(first.job_name)
            assert job.name.startswith("nightly-") and job.name.endswith("Z")
            assert job.inputs["when"].value.endswith("Z")   # the trigger time, resolved
            refused = ember(srv, "schedule", "delete", "-n", "nightly", "-y")
            assert refused.returncode != 0
            assert "disable it first" in refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1
            fired = ember(srv, "schedule", "trigger", "-n", "nightly", "-o", "json")
            assert fired.returncode == 0, fired.stderr
            assert json.loads(fired.stdout)["name"].startswith("nightly-")
            updated = ember(srv, "schedule", "update", "-n", "nightly", "--set",
                            "description=nightly run", "--set", "tags.team=ml", "-o", "json")
            assert json.loads(updated.stdout)["tags"] == {"team": "ml"}
            listed = json.loads(ember(srv, "schedule", "list", "-o", "json").stdout)
            assert [s["name"] for s in listed] == ["nightly"]
        srv.stop()

        # While the server is down the 03:00 slot passes (as if hours went by).
        store = SqlStore(url)
        s = store.schedules.get(WS, "nightly")
        s.next_fire_time = time.time() - 3 * 3600
        store.schedules.update(WS, s)
        store.close()
        srv.start()
        with MLClient(endpoint=srv.url, workspace=WS) as c:
            fires = wait_for(lambda: (f := c.schedules.list_jobs("nightly")) and
                             len(f) == 3 and f)
            missed = [f for f in fires if f.missed]
            assert len(missed) == 1
            assert c.jobs.get(missed[0].job_name).properties["ember.missedTrigger"] == "true"
            assert c.schedules.get("nightly").next_fire_time > time.time()
        assert "missed while no server ran" in (srv.home / "server-test.log").read_text()
        srv.stop()

        srv.start()
        with MLClient(endpoint=srv.url, workspace=WS) as c:
            # a fresh schedule fires at once: once it has, the loop has ticked since start-up
            (tmp_path / "probe.yml").write_text(
                "name: probe\ntrigger:\n  type: recurrence\n  frequency: day\n"
                "create_job: ./job.yml\n")
            assert ember(srv, "schedule", "create", "-f", str(tmp_path / "probe.yml")
                         ).returncode == 0
            wait_for(lambda: c.schedules.list_jobs("probe"))
            assert len(c.schedules.list_jobs("nightly")) == 3   # nothing fired twice
            assert ember(srv, "schedule", "disable", "-n", "nightly").returncode == 0
            gone = ember(srv, "schedule", "delete", "-n", "nightly", "-y")
            assert gone.returncode == 0, gone.stderr
            names = [s.name for s in c.schedules.list(list_view_type="all")]
            assert names == ["probe"]
    finally:
        srv.stop()
