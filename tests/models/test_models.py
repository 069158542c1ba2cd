"""The model registry through the CLI and the SDK, against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.jobs import JobStatus
from ember.entities.models import Model
from ember.errors import InvalidInputError, NotFoundError
from ember.specs.jobs import load_job_spec
from tests.conftest import ServerProc, WorkspaceServer, wait_for
from tests.test_cli import ember


def sklearn_model(folder: Path) -> Path:
    """A real MLflow sklearn model folder."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [0.1, 0.8]],
                                   [0, 1, 1, 0])
    mlflow.sklearn.save_model(clf, str(folder))
    return folder


def test_cli_registers_versions_lists_and_downloads(server: ServerProc, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 10)
    (folder / "sub/config.json").write_text('{"a": 1}')
    first = ember(server, "model", "create", "-n", "clf", "-p", str(folder), "--tags", "team=x",
                  "-o", "json")
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout)
    assert one["version"] == 1 and one["type"] == "custom_model" and one["tags"] == {"team": "x"}
    assert one["path"].startswith("mlflow-artifacts:/registry/clf/") and \
        one["path"].endswith("/model")
    spec = tmp_path / "model.yml"
    spec.write_text("$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\n"
                    "name: clf\npath: ./model\ndescription: second\n")
    two = json.loads(ember(server, "model", "create", "-f", str(spec), "-o", "json").stdout)
    assert two["version"] == 2 and two["description"] == "second"
    latest = json.loads(ember(server, "model", "show", "-n", "clf", "-o", "json").stdout)
    assert latest["version"] == 2
    versions = json.loads(ember(server, "model", "list", "-n", "clf", "-o", "json").stdout)
    assert [v["version"] for v in versions] == [2, 1]
    assert "clf" in ember(server, "model", "list").stdout
    out = tmp_path / "dl"
    d = ember(server, "model", "download", "-n", "clf", "-v", "1", "-p", str(out))
    assert d.returncode == 0, d.stderr
    assert (out / "clf/weights.bin").read_bytes() == (folder / "weights.bin").read_bytes()
    assert (out / "clf/sub/config.json").read_text() == '{"a": 1}'


def test_update_archive_restore(server: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("weights")
    for _ in range(2):
        assert ember(server, "model", "create", "-n", "m", "-p",
                     str(tmp_path / "m.txt")).returncode == 0
    r = ember(server, "model", "update", "-n", "m", "-v", "2", "--set", "description=best",
              "--set", "tags.stage=prod", "--stage", "Production", "-o", "json")
    assert r.returncode == 0, r.stderr
    changed = json.loads(r.stdout)
    assert (changed["description"], changed["tags"], changed["stage"]) == \
        ("best", {"stage": "prod"}, "Production")
    bad = ember(server, "model", "update", "-n", "m", "-v", "2", "--set", "path=/etc")
    assert bad.returncode != 0 and "can change" in bad.stderr
    assert ember(server, "model", "archive", "-n", "m", "-v", "2").returncode == 0
    with MLClient(endpoint=server.url) as c:
        assert c.models.get("m").version == 1          # latest skips the archived one
        assert c.models.get("m", 2).archived
        assert [m.version for m in c.models.list("m")] == [1]
        assert [m.version for m in c.models.list("m", include_archived=True)] == [2, 1]
        c.models.restore("m", 2)
        assert c.models.get("m").version == 2
        assert [m.archived for m in c.models.archive("m")] == [True, True]
        with pytest.raises(NotFoundError, match="archived"):
            c.models.get("m")


def test_sdk_registers_an_mlflow_model_and_reads_its_flavors(app_client: MLClient,
                                                             tmp_path: Path) -> None:
    folder = sklearn_model(tmp_path / "sk")
    with app_client as c:
        m = c.models.create_or_update(Model(name="sk", path=str(folder), type="mlflow_model"))
        assert m.version == 1 and "python_function" in m.flavors and "sklearn" in m.flavors
        assert c.models.get("sk", label="latest").version == 1
        files = {p.name for p in c.models.download("sk", 1, tmp_path / "dl").iterdir()}
        assert "MLmodel" in files


def test_mlflow_model_without_a_readable_mlmodel_is_refused(app_client: MLClient,
                                                             tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/model.pkl").write_bytes(b"x")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/MLmodel").write_bytes(b"flavors: [unclosed\n")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary/MLmodel").write_bytes(b"\xff\xfe\x00bad")
    with app_client as c:
        with pytest.raises(InvalidInputError, match="needs an MLmodel file"):
            c.models.create_or_update(Model(name="p", path=str(tmp_path / "plain"),
                                            type="mlflow_model"))
        for bad in ("broken", "binary"):
            with pytest.raises(InvalidInputError, match="not readable YAML"):
                c.models.create_or_update(Model(name="p", path=str(tmp_path / bad),
                                                type="mlflow_model"))
        with pytest.raises(NotFoundError):   # nothing was registered
            c.models.get("p")
        with pytest.raises(InvalidInputError, match="not something the server can read"):
            c.models.create_or_update(Model(name="p", path="https://example.com/m.pkl"))
        with pytest.raises(InvalidInputError, match="does not exist"):
            c.models.create_or_update(Model(name="p", path=str(tmp_path / "missing")))


def test_model_yaml_errors_name_file_line_and_key(server: ServerProc, tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("w")
    cases = {"name: a\npath: m.txt\nflavours: {}\n": "flavours",
             "name: a\npath: m.txt\nversion: one\n": "positive integer",
             "name: a\npath: m.txt\ntype: triton_model\n": "Triton",
             "name: a\npath: nothere.txt\n": "nothere"}
    for body, expected in cases.items():
        spec = tmp_path / "m.yml"
        spec.write_text(body)
        r = ember(server, "model", "create", "-f", str(spec))
        assert r.returncode != 0
        assert expected in r.stderr and "m.yml" in r.stderr and "Traceback" not in r.stderr


def test_register_a_job_output_keeps_lineage_and_is_a_copy(server: ServerProc,
                                                           tmp_path: Path) -> None:
    job_yml = tmp_path / "job.yml"
    job_yml.write_text("command: mkdir -p ${{outputs.model}}/m && echo v1 > "
                       "${{outputs.model}}/m/w.txt\noutputs:\n  model:\n    type: uri_folder\n")
    with MLClient(endpoint=server.url) as c:
        job = c.jobs.create_or_update(load_job_spec(job_yml))
        wait_for(lambda: c.jobs.get(job.name).status in JobStatus.TERMINAL, timeout=120)
        assert c.jobs.get(job.name).status == JobStatus.COMPLETED
        m = c.models.create_or_update(Model(
            name="from-job", path=f"azureml://jobs/{job.name}/outputs/model/paths/m"))
        assert m.run_id == job.name and m.source.endswith("/paths/m")
        whole = c.models.create_or_update(Model(
            name="from-job", path=f"azureml://jobs/{job.name}/outputs/model"))
        assert whole.version == 2
        out = c.models.download("from-job", 1, tmp_path / "dl")
        assert (out / "w.txt").read_text() == "v1\n"
        assert c.models.download("from-job", 2, tmp_path / "dl2").joinpath(
            "m/w.txt").read_text() == "v1\n"
        with pytest.raises(NotFoundError, match="no output 'nope'"):
            c.models.create_or_update(Model(
                name="from-job", path=f"azureml://jobs/{job.name}/outputs/nope"))


def test_register_from_an_mlflow_run_and_traversal_is_refused(server: ServerProc,
                                                              tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(server.tracking_uri)   # no fluent API: its active experiment is global state
    folder = tmp_path / "art"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"pickled")
    run = client.create_run(client.create_experiment("models-from-runs"))
    client.log_artifacts(run.info.run_id, str(folder), "model")
    with MLClient(endpoint=server.url) as c:
        m = c.models.create_or_update(Model(name="r", path=f"runs:/{run.info.run_id}/model"))
        assert m.run_id == run.info.run_id
        assert (c.models.download("r", 1, tmp_path / "dl") / "model.pkl").read_bytes() == \
            b"pickled"
        with pytest.raises(InvalidInputError):
            c.models.create_or_update(Model(name="r", path=f"runs:/{run.info.run_id}/../../x"))
        with pytest.raises(InvalidInputError, match="no artifacts at 'nothing'"):
            c.models.create_or_update(Model(name="r", path=f"runs:/{run.info.run_id}/nothing"))
    import httpx

    url = f"{server.api()}/models/r/versions/1/files/..%2F..%2F..%2Fember.db"
    assert httpx.get(url, headers=server.headers).status_code in (400, 404)


def test_deleting_through_mlflow_removes_the_copied_files(server: WorkspaceServer,
                                                          tmp_path: Path) -> None:
    from mlflow import MlflowClient

    (tmp_path / "m.txt").write_text("weights")
    with MLClient(endpoint=server.url) as c:
        one = c.models.create_or_update(Model(name="gone", path=str(tmp_path / "m.txt")))
        two = c.models.create_or_update(Model(name="gone", path=str(tmp_path / "m.txt")))
    root = server.home / f"artifacts/workspaces/{server.workspace}/mlartifacts"
    folders = [root / "/".join(m.artifact_path.split("/")[:3]) for m in (one, two)]
    assert all(f.is_dir() for f in folders)
    client = MlflowClient(server.tracking_uri)
    client.delete_model_version("gone", "1")
    assert not folders[0].exists() and folders[1].is_dir()
    client.delete_registered_model("gone")
    assert not folders[1].exists()
