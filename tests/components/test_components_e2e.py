"""Component registry end to end: the CLI and the SDK against a real server subprocess."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.components import Component
from ember.entities.environments import Environment
from ember.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from ember.specs.components import load_component_spec
from tests.conftest import ServerProc
from tests.test_cli import ember

COMPONENT = """
name: train_model
display_name: Train
environment: azureml:py311:1
code: ./src
additional_includes:
  - ../shared
inputs:
  epochs:
    type: integer
    default: 3
    min: 1
  lr:
    type: number
    optional: true
outputs:
  model:
    type: uri_folder
command: >-
  python train.py --epochs ${{inputs.epochs}} $[[--lr ${{inputs.lr}}]]
  --out ${{outputs.model}}
"""


def _files(tmp_path: Path, text: str = COMPONENT) -> Path:
    (tmp_path / "c/src").mkdir(parents=True)
    (tmp_path / "c/src/train.py").write_text("print('train')\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared/util.py").write_text("X = 1\n")
    spec = tmp_path / "c/component.yml"
    spec.write_text(textwrap.dedent(text).lstrip())
    return spec


def _env(server: ServerProc) -> None:
    with MLClient(endpoint=server.url) as c:
        c.environments.create_or_update(Environment(name="py311", image="python:3.11-slim"))


def _json(server: ServerProc, *args: str) -> object:
    r = ember(server, *args, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_cli_create_show_list_archive_restore(server: ServerProc, tmp_path: Path) -> None:
    _env(server)
    spec = _files(tmp_path)
    first = _json(server, "component", "create", "-f", str(spec))
    second = _json(server, "component", "create", "-f", str(spec), "--set", "display_name=T2")
    assert isinstance(first, dict) and isinstance(second, dict)
    assert (first["version"], second["version"]) == ("1", "2")
    assert first["environment"] == "azureml:py311:1"
    assert first["code"].startswith("codes/") and first["additional_includes"] == ["shared"]
    snapshot = server.home / f"artifacts/workspaces/{server.workspace}" / first["code"]
    names = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*.py")}
    assert {"train.py", "shared/util.py"} <= names
    shown = _json(server, "component", "show", "-n", "train_model")
    assert isinstance(shown, dict) and shown["version"] == "2" and shown["display_name"] == "T2"
    one = _json(server, "component", "show", "-n", "train_model", "--version", "1")
    assert isinstance(one, dict) and one["inputs"]["epochs"]["default"] == 3
    listed = _json(server, "component", "list")
    assert [(c["name"], c["version"]) for c in listed] == [("train_model", "2")]  # type: ignore[union-attr,index]
    archived = _json(server, "component", "archive", "-n", "train_model", "--version", "2")
    assert isinstance(archived, dict) and archived["archived"] is True
    shown = _json(server, "component", "show", "-n", "train_model")
    assert isinstance(shown, dict) and shown["version"] == "1"
    versions = _json(server, "component", "list", "-n", "train_model")
    assert [c["version"] for c in versions] == ["1"]  # type: ignore[union-attr,index]
    _json(server, "component", "restore", "-n", "train_model", "--version", "2")
    shown = _json(server, "component", "show", "-n", "train_model")
    assert isinstance(shown, dict) and shown["version"] == "2"
    table = ember(server, "component", "list")
    assert table.returncode == 0 and "train_model" in table.stdout
    assert "train_model" in ember(server, "component", "show", "-n", "train_model",
                                  "-o", "yaml").stdout
    dup = ember(server, "component", "create", "-f", str(spec), "--version", "1")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    bad = ember(server, "component", "create", "-f", str(spec), "--set", "name=Bad")
    assert bad.returncode == 1 and "component.yml" in bad.stderr and "name" in bad.stderr


def test_sdk_round_trip_and_refusals(app_client: MLClient, tmp_path: Path) -> None:
    comp = load_component_spec(_files(tmp_path))
    with app_client as c:
        c.environments.create_or_update(Environment(name="py311", image="python:3.11-slim"))
        made = c.components.create_or_update(comp)
        assert made.version == "1" and made.code and made.code.startswith("codes/")
        again = c.components.create_or_update(comp)
        assert again.version == "2" and again.code == made.code
        assert c.components.get("train_model").version == "2"
        got = c.components.get("train_model", "1")
        assert got.inputs["lr"].optional and got.outputs["model"].type == "uri_folder"
        c.components.archive("train_model", "2")
        assert c.components.get("train_model").version == "1"
        assert [x.version for x in c.components.list("train_model")] == ["1"]
        assert [x.version for x in c.components.list("train_model", include_archived=True)] \
            == ["2", "1"]
        assert c.components.restore("train_model", "2").archived is False
        with pytest.raises(AlreadyExistsError):
            c.components.create_or_update(Component(
                name="train_model", version="1", command="echo", environment="azureml:py311:1"))
        with pytest.raises(NotFoundError):
            c.components.create_or_update(Component(
                name="orphan", command="echo", environment="azureml:missing:1"))
        with pytest.raises(NotFoundError):
            c.components.get("orphan")
        assert [x.name for x in c.components.list()] == ["train_model"]
        with pytest.raises(InvalidInputError, match="not an uploaded snapshot"):
            c.components.create_or_update(Component(
                name="nocode", command="echo", code="codes/" + "0" * 32,
                environment="azureml:py311:1"))
        inline = c.components.create_or_update(Component(
            name="inline_env", command="echo hi",
            environment=Environment(image="python:3.11-slim")))
        assert isinstance(inline.environment, Environment)
        assert inline.environment.image == "python:3.11-slim"
        with pytest.raises(NotFoundError):
            c.components.archive("train_model", "9")
