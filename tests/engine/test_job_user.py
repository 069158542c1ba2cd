"""``ember server start --job-user``: jobs run as another OS user, out of reach of the server's
database, keys and owner token, and still report, log, track and write outputs."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember import MLClient, command
from tests.conftest import ServerProc, job_log, wait_ended

JOB_USER = "ember-job"

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="switching a job to another OS user needs root")


@pytest.fixture(scope="module")
def job_user_server() -> Iterator[ServerProc]:
    try:
        pwd.getpwnam(JOB_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", JOB_USER], check=True)
    with reachable_python():
        yield from _server()


@contextlib.contextmanager
def reachable_python() -> Iterator[None]:
    """What --job-user asks of the machine (the server refuses otherwise): the job user can
    reach the server's Python and Ember. A Python under /root (pyenv) is not, so for this test
    the folders in the way are opened for passing through (o+x, no listing), then closed."""
    import ember
    from ember.engine.job_user import JobUser, _blocked

    entry = pwd.getpwnam(JOB_USER)
    user = JobUser(JOB_USER, entry.pw_uid, entry.pw_gid)
    opened: list[tuple[Path, int]] = []
    try:
        for needed in (Path(sys.executable).resolve(), Path(sysconfig.get_paths()["stdlib"]),
                       Path(ember.__file__).resolve().parent):
            while (folder := _blocked(needed, user)) is not None:
                mode = stat.S_IMODE(folder.stat().st_mode)
                opened.append((folder, mode))
                folder.chmod(mode | stat.S_IXOTH)
        yield
    finally:
        for folder, mode in reversed(opened):
            folder.chmod(mode)


def _server() -> Iterator[ServerProc]:
    # pytest's own temporary folders are 0700: the job user could not reach its job's folder
    root = Path(tempfile.mkdtemp(prefix="ember-job-user-"))
    root.chmod(0o755)
    srv = ServerProc(root / "home", extra=["--job-user", JOB_USER]).start()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_job_runs_as_the_job_user_and_cannot_read_the_servers_secrets(
        job_user_server: ServerProc, tmp_path: Path) -> None:
    home = job_user_server.home
    probe = (f"id -un > outputs/who.txt; "
             f"for f in owner.token secrets.key ember.db server.json; do "
             f"if cat {home}/$f > /dev/null 2>&1; then echo $f:read; else echo $f:denied; fi; "
             f"done > outputs/files.txt; "
             f"python -c \"import mlflow; mlflow.log_metric('seen', 1.0)\"")
    with MLClient(endpoint=job_user_server.url, token=job_user_server.token) as c:
        job = c.jobs.create_or_update(command(command=probe))
        done = wait_ended(c, job.name)
        assert done.status == "Completed", job_log(c, job.name)
        out = tmp_path / "out"
        c.jobs.download(job.name, download_path=str(out), all=True)
        assert next(out.rglob("who.txt")).read_text().strip() == JOB_USER
        assert next(out.rglob("files.txt")).read_text().split() == [
            "owner.token:denied", "secrets.key:denied", "ember.db:denied", "server.json:denied"]
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"{job_user_server.url}/workspaces/default")
    os.environ["MLFLOW_TRACKING_TOKEN"] = job_user_server.token
    try:
        assert client.get_run(job.name).data.metrics["seen"] == 1.0
    finally:
        del os.environ["MLFLOW_TRACKING_TOKEN"]


def test_a_job_user_that_does_not_exist_is_refused_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run(["python", "-m", "ember.cli.main", "server", "start", "--home",
                        str(tmp_path / "h"), "--port", "0", "--job-user", "no-such-user-x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip() == ("Error: --job-user no-such-user-x: no such OS user (make one "
                                "with 'useradd --system no-such-user-x')")
