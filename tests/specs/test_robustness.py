"""Whatever the YAML holds, the loaders answer with SpecError / InvalidInputError only."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from ember.errors import InvalidInputError
from ember.specs.data import load_data_spec
from ember.specs.environments import load_environment_spec
from ember.specs.jobs import load_job_spec

BASE: dict[str, Any] = {
    "command": "python x.py ${{inputs.a}} $[[--b ${{inputs.b}}]] ${{outputs.o}}",
    "code": ".",
    "inputs": {"a": {"type": "uri_folder", "path": ".", "mode": "download"},
               "b": {"type": "integer", "optional": True}, "c": 0.5},
    "outputs": {"o": None, "p": {"type": "uri_file", "mode": "upload"}},
    "environment": {"image": "python:3.11", "conda_file": {"dependencies": ["pip"]}},
    "environment_variables": {"X": "1"},
    "limits": {"timeout": 10},
    "resources": {"instance_count": 1},
    "distribution": {"type": "pytorch", "process_count_per_instance": 1},
    "tags": {"a": "b"},
}
ODD_VALUES: list[Any] = [None, 0, -1, 1.5, float("inf"), True, "", "x", "\x00", "azureml:",
                         "azureml:a:b:c", "${{inputs.zz}}", "$[[", "]]", "../../..", [], [1, {}],
                         {}, {"type": None}, {"path": 3}, "\ud7ff" * 3, "a" * 5000]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    return out


def _mutate(rng: random.Random) -> dict[str, Any]:
    data = _copy(BASE)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_paths(data))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = _copy(rng.choice(ODD_VALUES))
    return data


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def test_mutated_jobs_raise_only_ember_errors(tmp_path: Path) -> None:
    rng = random.Random(1234)
    yaml = YAML()
    for i in range(300):
        path = tmp_path / f"job{i}.yml"
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(_mutate(rng), fh)
        try:
            load_job_spec(path)
        except InvalidInputError:
            pass


@pytest.mark.parametrize("text", [
    "command: echo\n" + "x: &a [1]\ny: *a\n",
    "command: !!binary aGk=\n",
    "command: !custom echo\n",
    "? [a, b]\n: 1\ncommand: echo\n",
    "command: echo\n<<: {name: x}\n",
    "command: echo\ninputs:\n  ? [1]\n  : 2\n",
    "command: echo\ntags: {2024-01-01: x}\n",
    "command: echo\ncode: \"a\\0b\"\n",
    "command: echo\ninputs:\n  d: {path: \"a\\0b\"}\n",
])
def test_odd_documents(write: Callable[..., Path], text: str) -> None:
    path = write("odd.yml", text)
    try:
        load_job_spec(path)
    except InvalidInputError:
        pass


@pytest.mark.parametrize("loader", [load_environment_spec, load_data_spec])
@pytest.mark.parametrize("text", ["name: [x]\n", "name: e\nversion: {a: 1}\n",
                                  "name: e\nimage: [1]\npath: 3\n", "name: e\nconda_file: 3\n",
                                  "name: e\nbuild: 3\n", "name: e\npath: \"\\0\"\n"])
def test_odd_assets(write: Callable[..., Path], loader: Callable[[Path], Any],
                    text: str) -> None:
    try:
        loader(write("a.yml", text))
    except InvalidInputError:
        pass


def test_alias_bomb_is_refused(write: Callable[..., Path]) -> None:
    lines = ["command: echo", "environment:", "  image: x", "  conda_file:",
             "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(InvalidInputError, match="too large"):
        load_job_spec(write("bomb.yml", "\n".join(lines) + "\n"))
