"""The team server across process boundaries: the real `mlflow` client with a token and with a
user name and password, a running job's own token, secrets that never leak, and the audit log
of a scripted sequence — against a real server subprocess."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from ember import MLClient, command
from ember.entities.connections import Connection
from tests.conftest import WorkspaceServer, job_log, wait_ended, wait_for

PASSWORD = "correct horse battery"
W = "/api/v1/workspaces/{workspace}"


def admin(server: WorkspaceServer) -> MLClient:
    return MLClient(endpoint=server.url, workspace=server.workspace, token=server.token)


def make_user(server: WorkspaceServer, role: str) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    h = server.headers
    r = httpx.post(f"{server.url}/api/v1/users", json={"name": name, "password": PASSWORD},
                   headers=h)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{server.api()}/roles", json={"user": name, "role": role}, headers=h)
    assert r.status_code == 201, r.text
    return name


def test_the_mlflow_client_with_a_token_and_with_a_password(
        server: WorkspaceServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    user = make_user(server, "AzureML Data Scientist")
    basic = httpx.BasicAuth(user, PASSWORD)
    r = httpx.post(f"{server.url}/api/v1/tokens", json={"name": "mlflow"}, auth=basic)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    mlflow.set_tracking_uri(server.tracking_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    mlflow.set_experiment("team")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    assert mlflow.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_metric("loss", 0.25, step=1)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not the password")
    with pytest.raises(MlflowException, match="wrong user name or password"):
        mlflow.get_run(run.info.run_id)
    # the user's token, revoked, fails on the next call
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    r = httpx.delete(f"{server.url}/api/v1/tokens/{r.json()['id']}",
                     headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    with pytest.raises(MlflowException, match="revoked"):
        mlflow.get_run(run.info.run_id)


PROBE = r'''
import json, os, sys, urllib.request, urllib.error
base = sys.argv[1]
token = os.environ["EMBER_TOKEN"]
assert os.environ["MLFLOW_TRACKING_TOKEN"] == token

def status(method, url, body=b"{}"):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

other = sys.argv[2]
tracking = os.environ["MLFLOW_TRACKING_URI"]
mine = os.environ["MLFLOW_RUN_ID"]

def call(method, path, body=b"{}"):
    return status(method, base + path, body)

def mlflow_call(path, body):
    return status("POST", tracking + "/api/2.0/mlflow/" + path, json.dumps(body).encode())

metric = {"key": "m", "value": 1.0, "timestamp": 0, "step": 0}
got = {
    "metric_own": mlflow_call("runs/log-metric", {"run_id": mine, **metric}),
    "metric_other": mlflow_call("runs/log-metric", {"run_id": other, **metric}),
    "run_top_level": mlflow_call("runs/create", {"experiment_id": "0"}),
    "run_nested": mlflow_call("runs/create", {
        "experiment_id": os.environ["MLFLOW_EXPERIMENT_ID"],
        "tags": [{"key": "mlflow.parentRunId", "value": mine}]}),
    "cancel_other": call("POST", f"/jobs/{other}/cancel"),
    "report_for_other": call("POST", f"/jobs/{other}/runner/status",
                             json.dumps({"status": "Completed"}).encode()),
    "secret": call("POST", "/connections/vault/listsecrets"),
    "submit": call("POST", "/jobs"),
    "read_other": call("GET", f"/jobs/{other}", None),
}
os.makedirs("outputs", exist_ok=True)
with open("outputs/probe.json", "w") as f:
    json.dump({"codes": got, "token": token}, f)
'''


def test_a_jobs_token_touches_only_its_own_job_and_dies_with_it(
        server: WorkspaceServer, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "probe.py").write_text(PROBE)
    with admin(server) as c:
        c.connections.create_or_update(Connection(
            name="vault", type="custom", configs={}, secrets={"key": "s3cr3t-vault"}))
        victim = c.jobs.create_or_update(command(   # runs until it is cancelled
            command="python -c \"import signal; signal.pause()\""))
        wait_for(lambda: c.jobs.get(victim.name).status == "Running", timeout=60)
        api = f"{server.url}/api/v1/workspaces/{server.workspace}"
        prober = c.jobs.create_or_update(command(
            code=str(tmp_path / "src"), command=f"python probe.py {api} {victim.name}"))
        done = wait_ended(c, prober.name)
        assert done.status == "Completed", job_log(c, prober.name)
        out = tmp_path / "out"
        c.jobs.download(prober.name, download_path=str(out), all=True)
        found = json.loads(next(out.rglob("probe.json")).read_text())
        assert found["codes"] == {"cancel_other": 403, "report_for_other": 403,
                                  "secret": 403, "submit": 403, "read_other": 200,
                                  "metric_own": 200, "metric_other": 403,
                                  "run_top_level": 403, "run_nested": 200}
        assert c.jobs.get(victim.name).status == "Running"   # untouched
        # the job has ended: its token is refused from now on
        r = httpx.get(f"{api}/jobs/{victim.name}",
                      headers={"Authorization": f"Bearer {found['token']}"})
        assert r.status_code == 401 and "revoked" in r.json()["message"]
        c.jobs.begin_cancel(victim.name)
        wait_ended(c, victim.name)


def test_a_planted_secret_never_leaves_but_through_listsecrets(
        server: WorkspaceServer, tmp_path: Path) -> None:
    secret = f"PLANTED-{uuid.uuid4().hex}"
    seen: list[str] = []
    h = server.headers
    api = server.api()
    with admin(server) as c:
        c.connections.create_or_update(Connection(
            name="planted", type="custom", configs={"endpoint": "http://127.0.0.1:9"},
            secrets={"api_key": secret}))
        for r in (httpx.get(f"{api}/connections/planted", headers=h),
                  httpx.get(f"{api}/connections", headers=h),
                  httpx.put(f"{api}/connections/planted", headers=h,
                            json={"type": "custom", "configs": {"x": 1},
                                  "secrets": {"api_key": "****"}}),
                  httpx.put(f"{api}/connections/planted", headers=h, json={"secrets": 7}),
                  httpx.post(f"{api}/connections/planted/listsecrets"),
                  httpx.get(f"{server.url}/api/v1/workspaces/{server.workspace}/audit",
                            headers=h)):
            seen.append(r.text)
        job = c.jobs.create_or_update(command(command="env; echo done"))
        wait_ended(c, job.name)
        seen.append(job_log(c, job.name))
        shown = httpx.post(f"{api}/connections/planted/listsecrets", headers=h)
        assert shown.json()["secrets"]["api_key"] == secret   # the one way out
    for text in seen:
        assert secret not in text
    for log in server.home.rglob("*.log"):
        assert secret.encode() not in log.read_bytes(), log
    for log in server.home.rglob("std_log.txt"):
        assert secret.encode() not in log.read_bytes(), log


def test_the_audit_log_has_each_mutation_of_a_scripted_sequence(
        server: WorkspaceServer, tmp_path: Path) -> None:
    user = make_user(server, "Reader")
    h = server.headers
    api = server.api()
    with admin(server) as c:
        job = c.jobs.create_or_update(command(command="echo hi", display_name="audited"))
        wait_ended(c, job.name)
        c.jobs.archive(job.name)
        c.connections.create_or_update(Connection(name="c1", type="custom", configs={},
                                                  secrets={"k": "v"}))
    denied = httpx.post(f"{api}/jobs/{job.name}/cancel",
                        auth=httpx.BasicAuth(user, PASSWORD))
    assert denied.status_code == 403
    anonymous = httpx.delete(f"{api}/connections/c1")
    assert anonymous.status_code == 401
    entries = httpx.get(f"{api}/audit", headers=h).json()
    mine = [(e["user"], e["action"], e["outcome"]) for e in entries]
    expected = [
        ("owner", f"POST {W}/roles", 201),
        ("owner", f"POST {W}/jobs", 201),
        ("owner", f"POST {W}/jobs/{{name}}/archive", 200),
        ("owner", f"PUT {W}/connections/{{name}}", 200),
        (user, f"POST {W}/jobs/{{name}}/cancel", 403),
        ("", f"DELETE {W}/connections/{{name}}", 401),
    ]
    it = iter(mine)
    for want in expected:   # in this order, with the job's own reports between them
        assert any(got == want for got in it), (want, mine)
    runner = [e for e in entries if e["principal"] == f"job {job.name}"]
    assert runner and all(e["user"] == "owner" for e in runner)
    assert f"POST {W}/jobs/{{name}}/runner/status" in {e["action"] for e in runner}
    assert all(e["client"] == "127.0.0.1" for e in entries)
    # Owners only: the Reader may not read it
    r = httpx.get(f"{api}/audit", auth=httpx.BasicAuth(user, PASSWORD))
    assert r.status_code == 403
