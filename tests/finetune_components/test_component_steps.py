"""The built-in components' own steps, in process: the model inputs, the preprocessing's
checks and splits, and the argument a language model's evaluation leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ember.errors import InvalidInputError
from ember.finetune import preprocess
from ember.finetune._base_model import locate_model, select_model, with_tokenizer
from ember.finetune.metrics_component import without_empty_folders
from tests.finetune.conftest import chat_line, write_jsonl


def _run(tmp_path: Path, *extra: str) -> dict[str, int]:
    args = preprocess.parser().parse_args([
        "--task", "chat_completion", "--pytorch-model-path", str(tmp_path / "model"),
        "--train-data", str(tmp_path / "out/train.jsonl"),
        "--validation-data", str(tmp_path / "out/validation.jsonl"),
        "--test-data", str(tmp_path / "out/test.jsonl"), *extra])
    return preprocess.run(args)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    return tmp_path / "model"


def test_model_inputs_are_one_path_never_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="^huggingface_id 'gpt2': Ember does not down"):
        select_model(huggingface_id="gpt2", pytorch_model_path=None, mlflow_model_path=None)
    with pytest.raises(InvalidInputError, match="^no model to fine-tune"):
        select_model(huggingface_id="", pytorch_model_path=None, mlflow_model_path=None)
    with pytest.raises(InvalidInputError, match="not both"):
        select_model(huggingface_id=None, pytorch_model_path="a", mlflow_model_path="b")
    assert select_model(huggingface_id=None, pytorch_model_path=None,
                        mlflow_model_path="m") == ("mlflow_model_path", Path("m"))


def test_an_mlflow_folders_model_and_tokenizer_are_joined(tmp_path: Path) -> None:
    mlflow = tmp_path / "mlflow"
    (mlflow / "model").mkdir(parents=True)
    (mlflow / "model" / "config.json").write_text("{}")
    (mlflow / "components" / "tokenizer").mkdir(parents=True)
    (mlflow / "components" / "tokenizer" / "tokenizer.json").write_text("{}")
    (mlflow / "MLmodel").write_text("flavors: {transformers: {}}\n")
    found = locate_model(mlflow)
    assert found == mlflow / "model"
    staged = with_tokenizer(found, tmp_path / "stage")
    assert sorted(p.name for p in staged.iterdir()) == ["config.json", "tokenizer.json"]
    (mlflow / "model" / "adapter_config.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="is a LoRA adapter; fine-tune its base"):
        locate_model(mlflow, "mlflow_model_path")
    gguf = tmp_path / "gguf"
    gguf.mkdir()
    (gguf / "m.Q4.gguf").write_bytes(b"GGUF")
    assert locate_model(gguf) == gguf / "m.Q4.gguf"


def test_preprocess_splits_as_azure_and_names_bad_lines(tmp_path: Path, model: Path) -> None:
    rows = [chat_line(f"q{i}", f"a{i}") for i in range(20)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    assert _run(tmp_path, "--train-file", str(tmp_path / "train.jsonl")) == \
        {"train": 16, "validation": 2, "test": 2}
    written = [json.loads(x) for x in (tmp_path / "out/train.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (tmp_path / "out/test.jsonl").read_text().splitlines()]
    assert not {json.dumps(r) for r in written} & {json.dumps(r) for r in test}

    write_jsonl(tmp_path / "val.jsonl", rows[:3])      # validation given: only test split off
    assert _run(tmp_path, "--train-file", str(tmp_path / "train.jsonl"), "--validation-file",
                str(tmp_path / "val.jsonl")) == {"train": 18, "validation": 3, "test": 2}

    write_jsonl(tmp_path / "two.jsonl", rows[:2])
    with pytest.raises(InvalidInputError, match="2 example.s.: too few to split off "
                                                "validation and test"):
        _run(tmp_path, "--train-file", str(tmp_path / "two.jsonl"))
    write_jsonl(tmp_path / "bad.jsonl", rows[:4] + [{"messages": [{"role": "bot",
                                                                   "content": "x"}]}])
    with pytest.raises(InvalidInputError, match='^bad.jsonl line 5: messages.0. has role "bot"'):
        _run(tmp_path, "--train-file", str(tmp_path / "train.jsonl"), "--test-file",
             str(tmp_path / "bad.jsonl"))


def test_an_mltable_folder_names_its_one_file(tmp_path: Path, model: Path) -> None:
    table = tmp_path / "table"
    table.mkdir()
    write_jsonl(table / "rows.jsonl", [chat_line(f"q{i}", "a") for i in range(10)])
    (table / "MLTable").write_text("paths:\n  - file: ./rows.jsonl\n")
    assert _run(tmp_path, "--train-mltable", str(table))["train"] == 8
    (table / "MLTable").write_text("paths:\n  - pattern: ./*.jsonl\n")
    with pytest.raises(InvalidInputError, match="names one local file"):
        _run(tmp_path, "--train-mltable", str(table))


def test_an_empty_probabilities_folder_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    argv = ["--task", "text-generation", "--prediction-probabilities", str(tmp_path / "empty"),
            "--evaluation-result", "out"]
    assert without_empty_folders(argv) == ["--task", "text-generation", "--evaluation-result",
                                           "out"]
    (tmp_path / "empty" / "p.jsonl").write_text("{}\n")
    assert without_empty_folders(argv) == argv
