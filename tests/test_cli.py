"""The CLI as a user types it: real subprocesses against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerProc

REPO = Path(__file__).resolve().parents[1]


def ember(server: ServerProc | None, *args: str, cwd: Path | None = None,
          home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if server is not None:
        env["EMBER_ENDPOINT"] = server.url
    if home is not None:
        env["EMBER_HOME"] = str(home)
        env.pop("EMBER_ENDPOINT", None)
    return subprocess.run([sys.executable, "-m", "ember.cli.main", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=180)


def create_job(server: ServerProc, spec: Path) -> str:
    """`ember job create -f spec -o json`; the new job's name."""
    r = ember(server, "job", "create", "-f", str(spec), "-o", "json")
    assert r.returncode == 0, r.stderr
    return str(json.loads(r.stdout)["name"])


def test_job_create_stream_show_list_download(server: ServerProc, tmp_path: Path) -> None:
    r = ember(server, "job", "create", "-f", str(REPO / "examples/hello/job.yml"), "--stream",
              "--set", "inputs.epochs=6")
    assert r.returncode == 0, r.stderr
    assert "epoch   5" in r.stdout and "Status: Completed" in r.stdout
    name = r.stdout.split("RunId: ")[1].split()[0]
    shown = json.loads(ember(server, "job", "show", "-n", name, "-o", "json").stdout)
    assert shown["status"] == "Completed" and shown["mlflow_run_id"] == name
    assert shown["inputs"]["epochs"]["value"] == 6
    listed = json.loads(ember(server, "job", "list", "-o", "json").stdout)
    assert name in [j["name"] for j in listed]
    assert "status" in ember(server, "job", "show", "-n", name, "-o", "yaml").stdout
    assert name in ember(server, "job", "list").stdout
    d = ember(server, "job", "download", "-n", name, "--output-name", "model",
              "--download-path", str(tmp_path), "-o", "json")
    assert d.returncode == 0, d.stderr
    assert (tmp_path / "named-outputs/model/model.json").is_file()
    ws = json.loads(ember(server, "workspace", "show", "-o", "json").stdout)
    assert ws["mlflow_tracking_uri"] == server.tracking_uri


def test_failed_job_stream_exits_non_zero(server: ServerProc, tmp_path: Path) -> None:
    job = tmp_path / "fail.yml"
    job.write_text("command: echo failing; exit 2\n")
    r = ember(server, "job", "create", "-f", str(job), "--stream")
    assert r.returncode == 1
    assert "Status: Failed" in r.stdout


def test_bad_yaml_is_one_line_error_without_traceback(server: ServerProc, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("command: echo hi\ncommandd: oops\n")
    r = ember(server, "job", "create", "-f", str(bad))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.yml" in lines[0] and "commandd" in lines[0]
    missing = tmp_path / "nocode.yml"
    missing.write_text("command: python x.py\ncode: ./not-here\n")
    r = ember(server, "job", "create", "-f", str(missing))
    assert r.returncode != 0 and "not-here" in r.stderr and "Traceback" not in r.stderr


def test_cancel_of_finished_job_and_unknown_job(server: ServerProc) -> None:
    r = ember(server, "job", "show", "-n", "does_not_exist")
    assert r.returncode == 1 and "does_not_exist" in r.stderr and "Traceback" not in r.stderr


def test_data_and_environment_create_show_list(server: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    r = ember(server, "data", "create", "--name", "tbl", "--path", str(tmp_path / "d.csv"),
              "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["type"] == "uri_file"
    assert json.loads(ember(server, "data", "show", "-n", "tbl", "-o", "json").stdout)[
        "version"] == "1"
    env = tmp_path / "env.yml"
    env.write_text("name: py\nimage: python:3.11\n")
    r = ember(server, "environment", "create", "-f", str(env), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "py" in ember(server, "environment", "list").stdout


def test_embedded_server_starts_reuses_and_stops(tmp_path: Path) -> None:
    home = tmp_path / "h"
    r = ember(None, "workspace", "show", "-o", "json", home=home)
    assert r.returncode == 0, r.stderr
    st = json.loads(ember(None, "server", "status", "-o", "json", home=home).stdout)
    assert st["running"] is True
    st2 = json.loads(ember(None, "server", "status", "-o", "json", home=home).stdout)
    assert st2["pid"] == st["pid"]
    assert json.loads(ember(None, "server", "stop", "-o", "json", home=home).stdout)["stopped"]
    assert json.loads(ember(None, "server", "status", "-o", "json", home=home).stdout)[
        "running"] is False


def test_workspaces_isolate_jobs(server: ServerProc, tmp_path: Path) -> None:
    r = ember(server, "workspace", "create", "-n", "team-a", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "team-a" in ember(server, "workspace", "list").stdout
    job = tmp_path / "j.yml"
    job.write_text("command: echo in-team-a\nexperiment_name: iso\n")
    r = ember(server, "-w", "team-a", "job", "create", "-f", str(job), "-o", "json")
    assert r.returncode == 0, r.stderr
    name = json.loads(r.stdout)["name"]
    assert name in ember(server, "-w", "team-a", "job", "list", "-o", "json").stdout
    assert name not in ember(server, "job", "list", "-o", "json").stdout
    r = ember(server, "job", "show", "-n", name)
    assert r.returncode == 1 and "team-a" not in r.stderr and name in r.stderr
    r = ember(server, "-w", "nowhere", "job", "list")
    assert r.returncode == 1 and "workspace 'nowhere' does not exist" in r.stderr


def test_datastore_create_show_list_and_use_in_a_job(server: ServerProc, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "in").mkdir(parents=True)
    (lake / "in" / "x.txt").write_text("from-the-lake")
    r = ember(server, "datastore", "create", "-n", "lake", "--root", str(lake), "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(ember(server, "datastore", "show", "-n", "lake", "-o", "json").stdout)[
        "root"] == str(lake)
    assert "workspaceblobstore" in ember(server, "datastore", "list").stdout
    job = tmp_path / "j.yml"
    job.write_text("command: cat ${{inputs.x}}\ninputs:\n  x:\n    type: uri_file\n"
                   "    path: azureml://datastores/lake/paths/in/x.txt\n")
    r = ember(server, "job", "create", "-f", str(job), "--stream")
    assert r.returncode == 0 and "from-the-lake" in r.stdout, r.stdout + r.stderr
    r = ember(server, "datastore", "create", "-n", "../bad", "--root", str(lake))
    assert r.returncode == 1 and "datastore name" in r.stderr


def test_job_update_archive_restore_delete(server: ServerProc, tmp_path: Path) -> None:
    from ember.client.mlclient import MLClient
    from tests.conftest import wait_ended

    quick, slow = tmp_path / "quick.yml", tmp_path / "slow.yml"
    quick.write_text("command: echo hi\ndisplay_name: first\ntags:\n  keep: '1'\n")
    slow.write_text("command: sleep 60\n")
    name, running = create_job(server, quick), create_job(server, slow)
    r = ember(server, "job", "update", "-n", name, "--set", "display_name=second",
              "--set", "tags.stage=dev", "--set", "description=a note", "-o", "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["display_name"] == "second" and shown["description"] == "a note"
    assert shown["tags"] == {"keep": "1", "stage": "dev"}
    r = ember(server, "job", "update", "-n", name, "--set", "properties.x=1")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "--set properties.x: unknown key" in r.stderr and "tags.<key>" in r.stderr

    def listed(*flags: str) -> list[str]:
        out = ember(server, "job", "list", "-o", "json", *flags)
        assert out.returncode == 0, out.stderr
        return [j["name"] for j in json.loads(out.stdout)]

    # the list's filters (the same as GET /jobs's)
    assert listed("--tag", "stage=dev") == [name] and listed("--tag", "keep") == [name]
    assert listed("--tag", "stage=prod") == []
    assert name in listed("--search", "A NOTE") and running not in listed("--search", "a note")
    with MLClient() as client:
        assert wait_ended(client, name).status == "Completed"
    assert listed("--status", "Completed", "--status", "Failed", "--tag", "keep") == [name]
    assert listed("--status", "Failed", "--tag", "keep") == []
    assert listed("--submitter", "owner", "--tag", "keep") == [name]
    names = listed("--order-by", "name asc")
    assert names == sorted(names)
    r = ember(server, "job", "list", "--order-by", "colour")
    assert r.returncode == 1 and "order_by 'colour' is not one of" in r.stderr

    r = ember(server, "job", "archive", "-n", name, "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["is_archived"] is True, r.stderr
    assert name not in listed() and running in listed()
    assert name in listed("--include-archived") and running in listed("--include-archived")
    assert listed("--archived-only") == [name]
    assert json.loads(ember(server, "job", "show", "-n", name, "-o", "json").stdout)[
        "is_archived"] is True
    r = ember(server, "job", "restore", "-n", name, "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["is_archived"] is False, r.stderr
    assert name in listed()

    r = ember(server, "job", "delete", "-n", running, "--yes")
    assert r.returncode == 1 and "cancel it first" in r.stderr and "Traceback" not in r.stderr
    assert ember(server, "job", "cancel", "-n", running).returncode == 0
    with MLClient() as client:
        assert wait_ended(client, name).status == "Completed"
    r = ember(server, "job", "delete", "-n", name, "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"name": name, "deleted": [name]}
    r = ember(server, "job", "show", "-n", name)
    assert r.returncode == 1 and name in r.stderr
    assert name not in listed("--include-archived")
