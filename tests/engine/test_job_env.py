"""A job inherits the server's environment less its secrets (issue 14, item 7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ember import MLClient, command
from ember.engine.job_env import is_secret_name, scrubbed_environ
from tests.conftest import ServerProc, wait_for

PLANTED = {
    "EMBER_SECRETS_KEY": Fernet.generate_key().decode(),
    "AWS_ACCESS_KEY_ID": "AKIAPLANTED0000000001",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-secret-9d1c",
    "OPENAI_API_KEY": "sk-planted-openai-3e7a",
    "HF_TOKEN": "hf_planted_token_55b2",
    "AZURE_CLIENT_SECRET": "planted-azure-secret-a0f4",
    "PGPASSWORD": "planted-pg-password-77c1",
}


@pytest.fixture
def planted_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProc]:
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EMBER_STORE_URL", f"sqlite:///{tmp_path / 'planted-store.db'}")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    srv = ServerProc(tmp_path / "home").start()
    yield srv
    srv.stop()


def test_a_job_sees_none_of_the_servers_secrets(planted_server: ServerProc) -> None:
    client = MLClient(endpoint=planted_server.url, token=planted_server.token)
    # the job's environment, and its runner's (the job's parent) read through /proc
    job = client.jobs.create_or_update(command(
        command="env; echo ---runner---; tr '\\0' '\\n' < /proc/$PPID/environ",
        environment_variables={"MY_API_KEY": "given-by-name-ok"}))
    wait_for(lambda: client.jobs.get(job.name).status in {"Completed", "Failed"}, timeout=90)
    assert client.jobs.get(job.name).status == "Completed"
    resp = client._http.request("GET", client._http.ws(f"/jobs/{job.name}/logs"),
                                params={"max_bytes": 16 << 20})
    log = resp.content.decode()
    assert "---runner---" in log
    for name, value in PLANTED.items():
        assert value not in log, name
        assert f"\n{name}=" not in log, name
    assert "planted-store.db" not in log and "EMBER_STORE_URL=" not in log
    # what jobs need stays; a credential the job is given by name is kept
    for kept in ("PATH=", "HOME=", "LANG=C.UTF-8", "TOKENIZERS_PARALLELISM=false",
                 f"MLFLOW_RUN_ID={job.name}", f"AZUREML_RUN_ID={job.name}",
                 "MLFLOW_TRACKING_URI=", "MY_API_KEY=given-by-name-ok"):
        assert kept in log, kept


@pytest.mark.parametrize("name", [
    "EMBER_SECRETS_KEY", "EMBER_STORE_URL", "EMBER_ROUTER_TOKEN", "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_KEY", "GITHUB_TOKEN", "SLACK_BOT_TOKEN", "DB_PASSWORD", "STRIPE_SECRET_KEY",
    "MLFLOW_TRACKING_PASSWORD", "GOOGLE_APPLICATION_CREDENTIALS", "ANTHROPIC_API_KEY"])
def test_secret_names_are_dropped(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "HTTPS_PROXY", "CUDA_VISIBLE_DEVICES",
    "MLFLOW_TRACKING_URI", "AZUREML_RUN_ID", "TOKENIZERS_PARALLELISM", "HF_HOME",
    "XAUTHORITY", "PYTHONPATH", "OMP_NUM_THREADS", "KEYBOARD"])
def test_what_jobs_need_stays(name: str) -> None:
    assert not is_secret_name(name)
    assert scrubbed_environ({name: "x"}) == {name: "x"}
