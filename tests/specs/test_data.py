from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ember.errors import SpecError
from ember.specs.data import load_data_spec


def test_local_folder_resolved(write: Callable[..., Path], tmp_path: Path) -> None:
    write("data/iris/iris.csv", "a\n")
    asset = load_data_spec(write("data/data.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/data.schema.json
        name: iris
        version: 1
        description: iris data
        path: iris
        """))
    assert (asset.name, asset.version, asset.type) == ("iris", "1", "uri_folder")
    assert asset.path == str((tmp_path / "data/iris").resolve())


def test_uri_file_and_mltable(write: Callable[..., Path]) -> None:
    write("iris.csv", "a\n")
    asset = load_data_spec(write("d.yml", "name: f\ntype: uri_file\npath: iris.csv\n"))
    assert asset.type == "uri_file" and asset.path.endswith("iris.csv")
    write("tbl/MLTable", "paths:\n  - file: ./x.csv\n")
    assert load_data_spec(write("d.yml", "name: t\ntype: mltable\npath: tbl\n")).type == "mltable"


def test_uri_kept_and_overrides(write: Callable[..., Path]) -> None:
    asset = load_data_spec(write("d.yml", "name: r\npath: https://example.com/x/\n"),
                           ["version=3", "description=remote"])
    assert asset.path == "https://example.com/x/"
    assert (asset.version, asset.description) == ("3", "remote")


@pytest.mark.parametrize(("yaml_text", "key", "fragment"), [
    ("path: .\n", "name", "is required"),
    ("name: d\n", "path", "is required"),
    ("name: d\npath: nope\n", "path", "not found"),
    ("name: d\ntype: uri_file\npath: .\n", "path", "must be a file"),
    ("name: d\ntype: uri_folder\npath: d.yml\n", "path", "must be a folder"),
    ("name: d\ntype: mltable\npath: .\n", "path", "MLTable"),
    ("name: d\ntype: table\npath: .\n", "type", "not one of"),
    ("name: d\npath: .\npaht: x\n", "paht", "did you mean 'path'?"),
    ("name: d\npath: .\ntags: 3\n", "tags", "must be a mapping"),
])
def test_bad_data(write: Callable[..., Path], yaml_text: str, key: str, fragment: str) -> None:
    path = write("d.yml", yaml_text)
    with pytest.raises(SpecError) as info:
        load_data_spec(path)
    assert info.value.key == key
    assert fragment in str(info.value)
    assert str(path) in str(info.value)
