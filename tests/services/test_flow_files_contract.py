"""The workspace flows' file store: the same contract on a local artifact folder and an S3
bucket (moto's S3 server on loopback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.artifacts.store import ArtifactStore
from ember.errors import InvalidInputError, NotFoundError
from ember.services.flow_files import MAX_FILE_BYTES, ArtifactFlowFiles, FlowFileStore
from tests.artifacts.conftest import S3Endpoint, s3_endpoint  # noqa: F401  (the fixture)


@pytest.fixture(params=["local", "s3"])
def files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlowFileStore]:
    if request.param == "local":
        yield ArtifactFlowFiles(ArtifactStore(str(tmp_path / "artifacts")))
        return
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"flows-{uuid.uuid4().hex[:10]}"
    endpoint.client().create_bucket(Bucket=bucket)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in endpoint.env.items():
            mp.setenv(k, v)
        yield ArtifactFlowFiles(ArtifactStore(f"s3://{bucket}/ember"))


def test_files_round_trip_per_workspace_and_flow(files: FlowFileStore, tmp_path: Path) -> None:
    files.write("w1", "f", "flow.dag.yaml", b"nodes: []\n")
    files.write("w1", "f", "lib/tool.py", b"x = 1\n")
    files.write("w1", "g", "flow.dag.yaml", b"")
    files.write("w1", "f", "lib/tool.py", b"x = 2\n")
    assert files.list_flows("w1") == ["f", "g"]
    assert files.list_flows("w2") == []
    assert files.exists("w1", "f") and not files.exists("w2", "f")
    assert files.list_files("w1", "f") == {"flow.dag.yaml": 10, "lib/tool.py": 6}
    assert files.read("w1", "f", "lib/tool.py") == b"x = 2\n"
    files.copy_to("w1", "f", tmp_path / "copy")
    assert (tmp_path / "copy" / "lib" / "tool.py").read_bytes() == b"x = 2\n"
    files.delete_file("w1", "f", "lib/tool.py")
    assert files.list_files("w1", "f") == {"flow.dag.yaml": 10}
    files.delete_flow("w1", "g")
    assert files.list_flows("w1") == ["f"]


def test_missing_flows_files_and_paths_outside_are_refused(files: FlowFileStore) -> None:
    files.write("w1", "f", "flow.dag.yaml", b"")
    with pytest.raises(NotFoundError, match="flow 'nope'"):
        files.list_files("w1", "nope")
    with pytest.raises(NotFoundError, match="no file 'x.py'"):
        files.read("w1", "f", "x.py")
    with pytest.raises(NotFoundError):
        files.delete_file("w1", "f", "x.py")
    for bad in ("../x.py", "/etc/passwd", "a/../../x", ".git/config", "a\\b", ""):
        with pytest.raises(InvalidInputError):
            files.write("w1", "f", bad, b"x")
    for bad in ("..", "../w2", "a/b", ".hidden"):
        with pytest.raises(InvalidInputError):
            files.write("w1", bad, "flow.dag.yaml", b"x")
    with pytest.raises(InvalidInputError, match="at most"):
        files.write("w1", "f", "big.py", b"x" * (MAX_FILE_BYTES + 1))
