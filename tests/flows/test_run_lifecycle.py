"""``pf run update / archive / restore / delete`` and ``run list``'s archive flags on a real
flow run (a job) against a real server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ember.client.mlclient import MLClient
from ember.entities.jobs import Job
from tests.conftest import WorkspaceServer, wait_ended
from tests.flows.test_runs import PYFLOW, RUNS, data_file, pf


def _listed(*flags: str) -> list[str]:
    r = pf("run", "list", *flags)
    assert r.returncode == 0, r.stderr
    return [run["name"] for run in json.loads(r.stdout)]


def test_update_archive_restore_delete_a_run(server: WorkspaceServer, tmp_path: Path) -> None:
    name = f"life-{uuid.uuid4().hex[:8]}"
    data = data_file(tmp_path, 2)
    r = pf("run", "create", "--flow", str(PYFLOW), "--data", str(data), "--column-mapping",
           "text=${data.text}", "--name", name, "--tags", "owner=me", "--stream")
    assert r.returncode == 0, r.stderr + r.stdout

    r = pf("run", "update", "-n", name, "--set", "display_name=renamed",
           "description=a note", "tags.team=a")
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    assert view["display_name"] == "renamed" and view["description"] == "a note"
    assert view["tags"] == {"owner": "me", "team": "a"} and view["status"] == "Completed"
    r = pf("run", "update", "--name", name, "--set", "flow=elsewhere")
    assert r.returncode == 1
    assert r.stderr.strip() == ("Error: --set flow: unknown key; only display_name, "
                                "description and tags.<key> can be updated")

    r = pf("run", "archive", "-n", name)
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == name, r.stderr
    assert name not in _listed()
    assert name in _listed("--include-archived")
    assert _listed("--archived-only") == [name]
    r = pf("run", "restore", "-n", name)
    assert r.returncode == 0, r.stderr
    assert name in _listed() and _listed("--archived-only") == []

    r = pf("run", "delete", "-n", name, "--yes")
    assert r.returncode == 0, r.stderr
    assert name not in _listed("--include-archived")
    r = pf("run", "show", "-n", name)
    assert r.returncode == 1 and name in r.stderr


def test_delete_refuses_a_run_that_has_not_ended_and_a_job_that_is_not_a_run(
        server: WorkspaceServer, tmp_path: Path) -> None:
    name = f"busy-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "hang.jsonl"
    data.write_text('{"text": "hang"}\n')   # hangs until cancelled (pf's line timeout: 600 s)
    r = pf("run", "create", "--flow", str(RUNS / "hangflow"), "--data", str(data),
           "--name", name)
    assert r.returncode == 0, r.stderr
    r = pf("run", "delete", "-n", name, "-y")
    assert r.returncode == 1 and "cancel it first" in r.stderr, r.stderr
    with MLClient() as client:
        client.jobs.begin_cancel(name)
        assert wait_ended(client, name).status == "Canceled"
        assert pf("run", "delete", "-n", name, "-y").returncode == 0
        plain = client.jobs.create_or_update(Job(name=f"plain-{uuid.uuid4().hex[:8]}",
                                                 command="echo hi"))
        for args in (("archive",), ("delete", "--yes")):
            r = pf("run", *args, "-n", plain.name)
            assert r.returncode == 1 and "not a flow run" in r.stderr, r.stderr
        assert not client.jobs.get(plain.name).is_archived
