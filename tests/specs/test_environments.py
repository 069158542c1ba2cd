from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ember.errors import SpecError
from ember.specs.environments import environment_from_dict, load_environment_spec


def test_image_with_conda_file(write: Callable[..., Path]) -> None:
    write("env/conda.yaml", "name: e\ndependencies:\n  - python=3.11\n")
    env = load_environment_spec(write("env/env.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
        name: sklearn-env
        version: 2
        image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
        conda_file: conda.yaml
        description: sklearn
        tags: {k: v}
        os_type: linux
        """))
    assert (env.name, env.version) == ("sklearn-env", "2")
    assert env.conda_file == {"name": "e", "dependencies": ["python=3.11"]}
    assert env.tags == {"k": "v"} and env.os_type == "linux"


def test_build_context_resolved(write: Callable[..., Path], tmp_path: Path) -> None:
    write("ctx/Dockerfile", "FROM python:3.11\n")
    env = load_environment_spec(write("env.yml", "name: e\nbuild:\n  path: ctx\n"))
    assert env.build == {"path": str((tmp_path / "ctx").resolve()),
                         "dockerfile_path": "Dockerfile"}
    err = _fails(write("env.yml", "name: e\nbuild:\n  path: ctx\n  dockerfile_path: D2\n"))
    assert err.key == "build.dockerfile_path"


def test_conda_alone_and_requirements_alone(write: Callable[..., Path]) -> None:
    env = load_environment_spec(write("env.yml", """
        name: local-env
        conda_file:
          dependencies: [python=3.11, {pip: [numpy]}]
        """))
    assert env.image is None and env.conda_file is not None
    write("req.txt", "numpy\n")
    env = load_environment_spec(write("env.yml", "name: e\nconda_file: req.txt\n"))
    assert env.pip_requirements == ["numpy"]


def test_overrides_and_inference_config(write: Callable[..., Path]) -> None:
    env = load_environment_spec(write("env.yml", """
        name: e
        image: python:3.11
        inference_config:
          liveness_route: {path: /health, port: 5001}
          scoring_route: {path: /score, port: 5001}
        """), ["version=7", "tags.stage=dev"])
    assert env.version == "7" and env.tags == {"stage": "dev"}
    assert env.inference_config == {"liveness_route": {"path": "/health", "port": 5001},
                                    "scoring_route": {"path": "/score", "port": 5001}}


def test_from_dict_inline(tmp_path: Path) -> None:
    env = environment_from_dict({"image": "python:3.11"}, "job.yml", tmp_path, inline=True)
    assert env.name == "" and env.image == "python:3.11"
    with pytest.raises(SpecError, match="name: is required"):
        environment_from_dict({"image": "python:3.11"}, "env.yml", tmp_path)


def _fails(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_environment_spec(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(("yaml_text", "key", "fragment"), [
    ("image: x\n", "name", "is required"),
    ("name: e\nimgae: x\n", "imgae", "did you mean 'image'?"),
    ("name: e\n", "", "needs 'image' or 'build'"),
    ("name: e\nimage: x\nbuild: {path: .}\n", "build", "not both"),
    ("name: e\nbuild: {path: .}\nconda_file: {dependencies: []}\n", "conda_file", "build"),
    ("name: e\nimage: x\nversion: 1.10\n", "version", "quote it"),
    ("name: e\nimage: x\nos_type: macos\n", "os_type", "not one of"),
    ("name: 'bad name'\nimage: x\n", "name", "not a valid name"),
    ("name: e\nimage: x\nconda_file: missing.yml\n", "conda_file", "not found"),
    ("name: e\nimage: x\nconda_file: [a]\n", "conda_file", "path or a mapping"),
    ("name: e\nimage: x\nconda_file: {dependencies: numpy}\n", "conda_file", "must be a list"),
    ("name: e\nimage: x\ninference_config: {scoring_route: {port: web}}\n",
     "inference_config.scoring_route.port", "integer"),
    ("name: e\nbuild: {dockerfile_path: D}\n", "build.path", "is required"),
])
def test_bad_environments(write: Callable[..., Path], yaml_text: str, key: str,
                          fragment: str) -> None:
    err = _fails(write("env.yml", yaml_text))
    assert (err.key or "") == key
    assert fragment in str(err)
