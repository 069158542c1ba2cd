"""Command jobs end to end: real server subprocess, real runner processes, the real SDK."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import psutil
import pytest

from ember import Input, MLClient, Output, command, load_job
from ember.entities.data import DataAsset
from ember.entities.environments import Environment
from ember.errors import ConflictError, InvalidInputError, NotFoundError, UnsupportedError
from tests.conftest import ServerProc, wait_for

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"Completed", "Failed", "Canceled"}


@pytest.fixture
def client(server: ServerProc) -> MLClient:
    return MLClient(endpoint=server.url)


def wait_status(client: MLClient, name: str, statuses: set[str], timeout: float = 60) -> str:
    return wait_for(lambda: (s := client.jobs.get(name).status) in statuses and s,  # type: ignore[arg-type]
                    timeout=timeout)


def log_of(client: MLClient, name: str) -> bytes:
    resp = client._http.request("GET", client._http.ws(f"/jobs/{name}/logs"),
                                params={"max_bytes": 16 << 20})
    return resp.content


def test_demo_job_completes_with_lifecycle_metrics_and_outputs(client: MLClient, server: ServerProc,
                                                               tmp_path: Path) -> None:
    job = client.jobs.create_or_update(load_job(REPO / "examples/hello/job.yml"))
    assert job.status == "Queued" and job.experiment_name == "hello-ember"
    final = client.jobs.stream(job.name, out=open(os.devnull, "w"))
    assert final.status == "Completed", log_of(client, job.name).decode(errors="replace")
    assert [s.status for s in final.status_history] == [
        "Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed"]
    assert final.start_time and final.end_time and final.end_time >= final.start_time
    log = log_of(client, job.name).decode()
    assert "Hello from Ember" in log and "epoch  29" in log
    import json

    rendered = json.loads((server.home / "jobs" / job.name / "runner.json").read_text())["command"]
    assert "--learning-rate" not in rendered and "${{" not in rendered  # optional input unset

    import mlflow

    run = mlflow.MlflowClient(tracking_uri=client.mlflow_tracking_uri).get_run(job.name)
    assert run.info.status == "FINISHED"
    assert run.data.params["epochs"] == "30"
    assert run.data.metrics["accuracy"] > 0.8
    history = mlflow.MlflowClient(tracking_uri=client.mlflow_tracking_uri).get_metric_history(
        job.name, "loss")
    assert len(history) == 30

    files = client.jobs.download(job.name, tmp_path, all=True)
    assert (tmp_path / "named-outputs/model/model.json").is_file()
    assert (tmp_path / "artifacts/outputs/summary.json").is_file()
    assert (tmp_path / "artifacts/user_logs/std_log.txt").is_file()
    assert len(files) >= 3


def test_optional_segment_kept_when_given_and_literals_rendered(client: MLClient) -> None:
    job = client.jobs.create_or_update(command(
        command="echo A=${{inputs.a}} $[[B=${{inputs.b}}]] C=${{inputs.c}}",
        inputs={"a": 1, "b": Input(type="number", optional=True), "c": True}))
    wait_status(client, job.name, TERMINAL)
    assert b"A=1 C=True\n" == log_of(client, job.name)
    job2 = client.jobs.create_or_update(command(
        command="echo A=${{inputs.a}} $[[B=${{inputs.b}}]]", inputs={"a": 1, "b": 2.5}))
    wait_status(client, job2.name, TERMINAL)
    assert b"A=1 B=2.5" in log_of(client, job2.name)
    # Nothing in ./outputs or ./logs to collect: no Finalizing step.
    assert [h.status for h in client.jobs.get(job2.name).status_history] == [
        "Queued", "Preparing", "Starting", "Running", "Completed"]


def test_failing_command_ends_failed_with_reason(client: MLClient) -> None:
    job = client.jobs.create_or_update(command(command="echo about to fail; exit 3"))
    final = client.jobs.stream(job.name, out=open(os.devnull, "w"))
    assert final.status == "Failed"
    assert final.error and "code 3" in final.error


def test_timeout_cancels_the_job(client: MLClient) -> None:
    job = client.jobs.create_or_update(command(command="sleep 60", timeout=1))
    assert wait_status(client, job.name, TERMINAL, timeout=30) == "Canceled"
    reasons = [s.reason for s in client.jobs.get(job.name).status_history]
    assert any("limits.timeout" in r for r in reasons)


def test_cancel_stops_the_whole_process_tree(client: MLClient, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (f"sleep 300 & echo $! >> {pids}; "
              f"(setsid sleep 301 & echo $! >> {pids}); "
              f"python -c 'import time; time.sleep(302)' & echo $! >> {pids}; wait")
    job = client.jobs.create_or_update(command(command=script))
    wait_status(client, job.name, {"Running"})
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3)
    children = [int(p) for p in pids.read_text().split()]
    canceled = client.jobs.begin_cancel(job.name)
    assert canceled.status == "Canceled"
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                             for p in children), timeout=15)
    with pytest.raises(ConflictError, match="already Canceled"):
        client.jobs.begin_cancel(job.name)


def test_cancel_of_finished_job_is_a_clear_conflict(client: MLClient) -> None:
    job = client.jobs.create_or_update(command(command="true"))
    assert wait_status(client, job.name, TERMINAL) == "Completed"
    with pytest.raises(ConflictError, match="already Completed; there is nothing to cancel"):
        client.jobs.begin_cancel(job.name)
    assert client.jobs.get(job.name).status == "Completed"


def test_invalid_utf8_and_a_one_megabyte_line(client: MLClient) -> None:
    py = ("import sys; w=sys.stdout.buffer.write; w(b'bad \\xff\\xfe bytes\\n'); "
          "w(b'x'*1048576+b'\\n'); w(b'after\\n')")
    job = client.jobs.create_or_update(command(command=f'python -c "{py}"'))
    assert wait_status(client, job.name, TERMINAL) == "Completed"
    log = log_of(client, job.name)
    assert b"bad \xff\xfe bytes" in log and b"x" * 1048576 in log and log.endswith(b"after\n")
    import io

    buf = io.StringIO()
    client.jobs.stream(job.name, out=buf)
    assert "bad \ufffd\ufffd bytes" in buf.getvalue()


def test_an_output_file_name_that_is_not_utf8_is_skipped_with_a_note(client: MLClient,
                                                                     tmp_path: Path) -> None:
    """Such a name has no URL: the runner crashed on it and the job never ended."""
    job = client.jobs.create_or_update(command(
        command="mkdir -p outputs && echo x > \"outputs/bad$(printf '\\377').txt\" "
                "&& echo ok > outputs/good.txt"))
    assert wait_status(client, job.name, TERMINAL) == "Completed"
    assert b"not uploaded: outputs/'bad\\udcff.txt'" in log_of(client, job.name)
    got = client.jobs.download(job.name, tmp_path, show_progress=False)
    assert sorted(p.name for p in got) == ["good.txt", "std_log.txt"]


def test_job_names_are_unique_across_workspaces_and_the_error_says_why(
        client: MLClient, server: ServerProc) -> None:
    client.workspaces.create("team-b")
    other = MLClient(endpoint=server.url, workspace="team-b")
    client.jobs.create_or_update(command(command="true", name="taken-name"))
    with pytest.raises(ConflictError, match=f"already exists in workspace '{client.workspace_name}'"):
        client.jobs.create_or_update(command(command="true", name="taken-name"))
    with pytest.raises(ConflictError, match="another workspace: a job's name is its MLflow "
                                            "run id"):
        other.jobs.create_or_update(command(command="true", name="taken-name"))
    assert [j.name for j in other.jobs.list()] == []


def test_data_inputs_in_every_mode_and_from_assets_and_job_outputs(client: MLClient,
                                                                   tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    producer = client.jobs.create_or_update(command(
        command="cp ${{inputs.src}}/a.txt ${{outputs.out}}/copied.txt",
        inputs={"src": Input(type="uri_folder", path=str(folder), mode="download")},
        outputs={"out": Output(type="uri_folder")}))
    assert wait_status(client, producer.name, TERMINAL) == "Completed"
    asset = client.data.create_or_update(DataAsset(name="letters", version="", path=str(folder)))
    assert asset.version == "1" and asset.path.startswith("azureml://datastores/")
    consumer = client.jobs.create_or_update(command(
        command=("cat ${{inputs.mounted}}/a.txt ${{inputs.prev}}/copied.txt; "
                 "echo; echo direct=${{inputs.direct}}"),
        inputs={"mounted": Input(type="uri_folder", path="azureml:letters:1"),
                "prev": Input(type="uri_folder",
                              path=f"azureml://jobs/{producer.name}/outputs/out"),
                "direct": Input(type="uri_folder", path=asset.path, mode="direct")}))
    assert wait_status(client, consumer.name, TERMINAL) == "Completed"
    log = log_of(client, consumer.name).decode()
    assert "alphaalpha" in log and f"direct={asset.path}" in log


def test_bad_references_create_nothing(client: MLClient) -> None:
    before = len(client.jobs.list())
    with pytest.raises(NotFoundError, match="nope"):
        client.jobs.create_or_update(command(
            command="echo", inputs={"d": Input(type="uri_folder", path="azureml:nope:1")}))
    with pytest.raises(NotFoundError, match="environment 'ghost"):
        client.jobs.create_or_update(command(command="echo", environment="azureml:ghost:1"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        client.jobs.create_or_update(command(command="echo", inputs={"d": Input(
            type="uri_file", path="azureml://datastores/workspaceblobstore/paths/none.csv")}))
    with pytest.raises(InvalidInputError):
        client.jobs.create_or_update(command(command="echo ${{inputs.undeclared}}"))
    for bad in ("../../escape", "a/b", ".hidden"):
        with pytest.raises(InvalidInputError, match="job name"):
            client.jobs.create_or_update(command(command="echo", name=bad))
    assert len(client.jobs.list()) == before


def test_environments_image_notice_build_refused_and_cached_venv(client: MLClient) -> None:
    client.environments.create_or_update(Environment(name="img", image="python:3.11-slim"))
    job = client.jobs.create_or_update(command(command="echo ran", environment="azureml:img:1"))
    assert wait_status(client, job.name, TERMINAL) == "Completed"
    assert b"no container runtime" in log_of(client, job.name)

    with pytest.raises(UnsupportedError, match="Dockerfile"):   # refused when registered
        client.environments.create_or_update(Environment(name="docker", build={"path": "ctx"}))
    with pytest.raises(UnsupportedError, match="Dockerfile"):   # and inline
        client.jobs.create_or_update(command(command="echo",
                                             environment=Environment(build={"path": "ctx"})))

    venv_env = Environment(conda_file={"dependencies": ["python=3.11", {"pip": []}]})
    first = client.jobs.create_or_update(command(
        command='python -c "import sys; print(sys.path)"', environment=venv_env))
    assert wait_status(client, first.name, TERMINAL, timeout=120) == "Completed"
    second = client.jobs.create_or_update(command(
        command='python -c "import sys; print(sys.path)"', environment=venv_env))
    assert wait_status(client, second.name, TERMINAL, timeout=120) == "Completed"
    log1, log2 = log_of(client, first.name), log_of(client, second.name)
    assert b"built environment" in log1 and b"reusing cached environment" in log2
    # the job's own layer sits over the cached build, whose site-packages are on its path
    paths = [ln for ln in log2.decode().splitlines() if "/envs/" in ln]
    assert paths, log2


def test_path_traversal_refused_on_upload_and_download(client: MLClient,
                                                      server: ServerProc) -> None:
    job = client.jobs.create_or_update(command(   # runs until it is cancelled
        command="python -c \"import signal; signal.pause()\""))
    wait_status(client, job.name, {"Running"})
    # only the job's own runner uploads its artifacts: its token, from its runner.json
    token = json.loads((server.home / "jobs" / job.name / "runner.json").read_text())["token"]
    base = server.api()
    r = httpx.put(f"{base}/jobs/{job.name}/artifacts/..%2F..%2Fescape.txt", content=b"x",
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and "escapes its root" in r.json()["message"]
    r = httpx.put(f"{base}/jobs/{job.name}/artifacts/x.txt", content=b"x",
                  headers=server.headers)   # not even the owner
    assert r.status_code == 403 and "only its runner" in r.json()["message"]
    client.jobs.begin_cancel(job.name)
    wait_status(client, job.name, TERMINAL)
    r = httpx.get(f"{base}/jobs/{job.name}/files/..%2F..%2F..%2Fember.db",
                  headers=server.headers)
    assert r.status_code == 400
    assert not (server.home / "escape.txt").exists()


def test_capacity_limit_queues_extra_jobs(tmp_path: Path) -> None:
    srv = ServerProc(tmp_path / "home", extra=["--max-concurrent-jobs", "1"]).start()
    try:
        c = MLClient(endpoint=srv.url, token=srv.token)
        release = tmp_path / "release"   # the first job holds its slot until the test says
        first = c.jobs.create_or_update(command(
            command=f"while [ ! -e {release} ]; do sleep 0.05; done"))
        second = c.jobs.create_or_update(command(command="true"))
        wait_status(c, first.name, {"Running"})
        assert c.jobs.get(second.name).status == "Queued"
        release.touch()
        assert wait_status(c, second.name, TERMINAL, timeout=30) == "Completed"
        first_end = c.jobs.get(first.name).end_time
        second_job = c.jobs.get(second.name)
        running_at = [s.time for s in second_job.status_history if s.status == "Running"][0]
        assert first_end is not None and running_at >= first_end
    finally:
        srv.stop()


def test_background_leftovers_do_not_keep_the_job_alive(client: MLClient, tmp_path: Path) -> None:
    marker = tmp_path / "bg.pid"
    job = client.jobs.create_or_update(command(
        command=f"sleep 300 & echo $! > {marker}; echo main-done"))
    assert wait_status(client, job.name, TERMINAL, timeout=30) == "Completed"
    pid = int(marker.read_text())
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
             timeout=10)


def test_registered_datastore_uri_input_and_uri_file_output(client: MLClient, server: ServerProc,
                                                           tmp_path: Path) -> None:
    root = tmp_path / "lake"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "numbers.txt").write_text("1\n2\n3\n")
    r = httpx.put(f"{server.api()}/datastores/lake", json={"name": "lake", "root": str(root)},
                  headers=server.headers)
    assert r.status_code == 200, r.text
    job = client.jobs.create_or_update(command(
        command="wc -l < ${{inputs.numbers}} > ${{outputs.count}}",
        inputs={"numbers": Input(type="uri_file",
                                 path="azureml://datastores/lake/paths/raw/numbers.txt")},
        outputs={"count": Output(type="uri_file",
                                 path="azureml://datastores/lake/paths/out/${{name}}.txt")}))
    assert wait_status(client, job.name, TERMINAL) == "Completed"
    assert (root / "out" / f"{job.name}.txt").read_text().strip() == "3"
    client.jobs.download(job.name, tmp_path / "dl", output_name="count")
    assert (tmp_path / "dl/named-outputs/count" / f"{job.name}.txt").read_text().strip() == "3"
    r = httpx.get(f"{server.api()}/datastores/ghost", headers=server.headers)
    assert r.status_code == 404


def test_runner_killed_midway_fails_the_job_with_reason(client: MLClient, server: ServerProc) -> None:
    import signal

    from ember.store.sql.store import SqlStore

    job = client.jobs.create_or_update(command(command="sleep 120"))
    wait_status(client, job.name, {"Running"})
    store = SqlStore(f"sqlite:///{server.home / 'ember.db'}")
    try:
        pid = int(store.jobs.get(client.workspace_name, job.name).runner["pid"])
    finally:
        store.close()
    os.killpg(pid, signal.SIGKILL)
    assert wait_status(client, job.name, TERMINAL, timeout=30) == "Failed"
    error = client.jobs.get(job.name).error or ""
    assert "runner exited with code -9" in error


def test_concurrent_submitters_lose_nothing(client: MLClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def submit(i: int) -> str:
        c = MLClient(endpoint=client.endpoint)
        return c.jobs.create_or_update(command(command=f"echo job-{i}")).name

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(submit, range(24)))
    assert len(set(names)) == 24
    for name in names:
        assert wait_status(client, name, TERMINAL, timeout=120) == "Completed"


def test_mlflow_autolog_and_log_artifact_inside_a_job_land_in_the_job_run(
        client: MLClient, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(
        # The Azure ML samples' shape: start_run() picks up the job's run from MLFLOW_RUN_ID.
        "import mlflow\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "mlflow.autolog()\n"
        "with mlflow.start_run():\n"
        "    LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])\n"
        "    open('notes.txt', 'w').write('hello artifact')\n"
        "    mlflow.log_artifact('notes.txt')\n"
        "    mlflow.log_metric('custom', 42.0)\n")
    job = client.jobs.create_or_update(command(command="python train.py", code=str(code),
                                               experiment_name="autolog-exp"))
    assert wait_status(client, job.name, TERMINAL, timeout=120) == "Completed", \
        log_of(client, job.name).decode(errors="replace")
    import mlflow

    mc = mlflow.MlflowClient(tracking_uri=client.mlflow_tracking_uri)
    run = mc.get_run(job.name)
    assert run.data.metrics["custom"] == 42.0
    assert any(k.startswith("training_") for k in run.data.metrics)  # from autolog
    assert run.data.params.get("C") == "1.0"
    assert mc.get_experiment(run.info.experiment_id).name == "autolog-exp"
    assert "notes.txt" in [a.path for a in mc.list_artifacts(job.name)]
    assert run.info.status == "FINISHED"
