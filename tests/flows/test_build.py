"""``ember pf flow build``: a folder that serves the flow elsewhere, with no secret in it, and the
connection files it writes read back with the secrets from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.connections import Connection
from ember.errors import InvalidInputError, NotFoundError
from ember.flows.build import FileConnections
from tests.conftest import WorkspaceServer

FLOW = Path(__file__).parent / "build_flow"


def pf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ember.cli.main", "pf", *args],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_build_writes_flow_connections_and_no_secret(server: WorkspaceServer,
                                                     tmp_path: Path) -> None:
    with MLClient() as c:
        c.connections.create_or_update(Connection(
            name="myllm", type="open_ai", configs={"base_url": "http://127.0.0.1:9/v1"},
            secrets={"api_key": "sk-very-secret"}))
        c.connections.create_or_update(Connection(
            name="mycustom", type="custom", configs={"sep": ": "},
            secrets={"token": "tok-very-secret"}))
    out = tmp_path / "build"
    r = pf("flow", "build", "--source", str(FLOW), "--output", str(out), "--format", "docker",
           "--variant", "${chat.v1}")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["connections"] == ["myllm", "mycustom"]
    every = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "very-secret" not in every
    assert json.loads((out / "settings.json").read_text()) == {"MYLLM_API_KEY": "",
                                                               "MYCUSTOM_TOKEN": ""}
    assert (out / "flow" / "shared.py").is_file()              # the include is inside
    dag = (out / "flow" / "flow.dag.yaml").read_text()
    assert "additional_includes" not in dag and "default_variant_id: v1" in dag
    assert "ember" in (out / "Dockerfile").read_text()

    conns = FileConnections(out / "connections", environ={"MYLLM_API_KEY": "k1",
                                                          "MYCUSTOM_TOKEN": "t1",
                                                          "MYLLM_BASE_URL": "http://x/v1"})
    assert conns.get("myllm") == {"name": "myllm", "type": "open_ai", "api_key": "k1",
                                  "base_url": "http://x/v1"}   # <CONN>_<KEY> overrides
    assert conns.get("mycustom")["secrets"] == {"token": "t1"}
    with pytest.raises(InvalidInputError, match="reads environment variable MYLLM_API_KEY"):
        FileConnections(out / "connections", environ={}).get("myllm")
    with pytest.raises(NotFoundError, match="'nope' not found"):
        conns.get("nope")

    again = pf("flow", "build", "--source", str(FLOW), "--output", str(out))
    assert again.returncode == 1 and "is not empty" in again.stderr
    r = pf("flow", "build", "--source", str(FLOW), "--output", str(tmp_path / "x"),
           "--format", "executable")
    assert r.returncode == 1 and "single executable is not supported" in r.stderr


def test_build_names_a_missing_connection(server: WorkspaceServer, tmp_path: Path) -> None:
    r = pf("flow", "build", "--source", str(FLOW), "--output", str(tmp_path / "b"))
    assert r.returncode == 1
    assert "myllm" in r.stderr and "not" in r.stderr
