"""Component YAML → Component, and every refusal naming file, line and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ember.entities.components import ComponentInput
from ember.entities.environments import Environment
from ember.errors import SpecError
from ember.specs.components import load_component_spec

GOOD = """
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: train_model
version: 3
display_name: Train
type: command
tags: {team: ml}
code: ./src
additional_includes:
  - ../shared/utils
environment: azureml:py311:1
inputs:
  data:
    type: uri_folder
  epochs:
    type: integer
    default: 5
    min: 1
    max: 100
  lr:
    type: number
    optional: true
  mode:
    type: string
    default: fast
    enum: [fast, slow]
outputs:
  model:
    type: mlflow_model
  logs:
command: >-
  python train.py --data ${{inputs.data}} --epochs ${{inputs.epochs}}
  --mode ${{inputs.mode}} $[[--lr ${{inputs.lr}}]] --out ${{outputs.model}}
"""

Write = Callable[..., Path]


def _good(write: Write, text: str = GOOD) -> Path:
    write("c/src/train.py", "print('hi')\n")
    write("shared/utils/u.py", "X = 1\n")
    return write("c/component.yml", text)


def test_good_component(write: Write, tmp_path: Path) -> None:
    comp = load_component_spec(_good(write))
    assert comp.name == "train_model" and comp.version == "3" and comp.type == "command"
    assert comp.code == str((tmp_path / "c/src").resolve())
    assert comp.additional_includes == [str((tmp_path / "shared/utils").resolve())]
    assert comp.environment == "azureml:py311:1"
    assert comp.inputs["epochs"] == ComponentInput(type="integer", default=5, min=1, max=100)
    assert comp.inputs["lr"].optional and comp.inputs["mode"].enum == ["fast", "slow"]
    assert comp.outputs["model"].type == "mlflow_model"
    assert comp.outputs["logs"].type == "uri_folder"
    assert comp.is_deterministic and comp.tags == {"team": "ml"}


def test_inline_environment_and_overrides(write: Write) -> None:
    path = write("component.yml", """
        name: hello
        environment: {image: python:3.11-slim}
        command: echo hi
        """)
    comp = load_component_spec(path, ["version=7", "display_name=Hi"])
    assert isinstance(comp.environment, Environment)
    assert comp.environment.image == "python:3.11-slim"
    assert comp.version == "7" and comp.display_name == "Hi" and comp.code is None


@pytest.mark.parametrize("body, line, key, message", [
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ncomand: x\n", 4, "comand",
     "did you mean 'command'"),
    ("name: Hello\nenvironment: azureml:e:1\ncommand: echo\n", 1, "name",
     "not a valid component name"),
    ("name: 9lives\nenvironment: azureml:e:1\ncommand: echo\n", 1, "name",
     "not a valid component name"),
    ("name: a-b\nenvironment: azureml:e:1\ncommand: echo\n", 1, "name",
     "not a valid component name"),
    ("type: pipeline\nname: p\n", 1, "type", "not supported yet"),
    ("type: comand\nname: p\n", 1, "type", "did you mean 'command'"),
    ("name: hello\nenvironment: azureml:e:1\n", None, "command", "is required"),
    ("name: hello\ncommand: echo\n", None, "environment", "is required"),
    ("name: hello\nenvironment: 3\ncommand: echo\n", 2, "environment", "must be a reference"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    default: 1\n",
     None, "inputs.n.type", "is required"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n"
     "    type: integr\n", 6, "inputs.n.type", "did you mean 'integer'"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n: 3\n", 5, "inputs.n",
     "must be a mapping"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  s:\n    type: string\n"
     "    min: 1\n", 7, "inputs.s.min", "only for number and integer"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    type: integer\n"
     "    enum: [a]\n", 7, "inputs.n.enum", "only for string"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    type: integer\n"
     "    max: 3\n    default: 4\n", 8, "inputs.n.default", "greater than max"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    type: number\n"
     "    min: 0.5\n    default: 0.1\n", 8, "inputs.n.default", "less than min"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    type: integer\n"
     "    min: 1.5\n", 7, "inputs.n.min", "must be an integer"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  s:\n    type: string\n"
     "    enum: [a, b]\n    default: c\n", 8, "inputs.s.default", "not one of enum"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    type: integer\n"
     "    default: abc\n", 7, "inputs.n.default", "must be of type integer"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    type: integer\n"
     "    optional: maybe\n", 7, "inputs.n.optional", "must be true or false"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ninputs:\n  n:\n    type: integer\n"
     "    defualt: 1\n", 7, "inputs.n.defualt", "did you mean 'default'"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo ${{inputs.m}}\ninputs:\n  n:\n"
     "    type: integer\n", 3, "command", "undeclared input 'm'"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo ${{inputs.n}}\ninputs:\n  n:\n"
     "    type: integer\n    optional: true\n", 3, "command", "must be used inside"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo ${{outputs.o}}\noutputs:\n  o:\n"
     "    type: string\n", 6, "outputs.o.type", "is not one of"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\ncode: ./nope\n", 4, "code",
     "path not found"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\nadditional_includes:\n  - ./gone\n",
     4, "additional_includes", "path not found"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\nadditional_includes: ./x\n",
     4, "additional_includes", "must be a list"),
    ("name: hello\nenvironment: azureml:e:1\ncommand: echo\nis_deterministic: 1\n", 4,
     "is_deterministic", "must be true or false"),
    ("name: hello\nversion: 1.10\nenvironment: azureml:e:1\ncommand: echo\n", 2, "version",
     "must be an integer or a string"),
])
def test_bad_component(write: Write, body: str, line: int | None, key: str,
                       message: str) -> None:
    path = write("bad.yml", body)
    with pytest.raises(SpecError) as err:
        load_component_spec(path)
    exc = err.value
    assert message in str(exc)
    assert exc.file == str(path) and exc.key == key
    if line is not None:
        assert exc.line == line
    else:
        assert exc.line is not None
