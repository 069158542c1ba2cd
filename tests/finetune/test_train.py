"""The fine-tuning job end to end: fast failures, outputs, resume, MLflow metrics, and a real
LoRA run on SmolLM2-135M whose adapter llama.cpp loads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember.errors import InvalidInputError
from ember.finetune.train import FinetuneConfig, run
from tests.finetune.conftest import (PYTHON, chat_line, secret_chat_rows, subprocess_env,
                                     tiny_config, write_jsonl)

LONG = chat_line("hello " * 5, "the secret word is zorblax " * 60)


@pytest.mark.parametrize("rows, hyperparameters, expected", [
    ([chat_line("q", "a")] * 4 + ['{"messages": [}'], {},
     "train.jsonl line 5: not valid JSON: "),
    ([chat_line("q", "a"), {"messages": [{"role": "human", "content": "hi"}]}], {},
     'train.jsonl line 2: messages[0] has role "human"'),
    ([], {}, "train.jsonl is empty"),
    ([chat_line("q", "a"), LONG], {"truncate_long_sequences": "false", "max_seq_length": "64"},
     "train.jsonl line 2: "),
])
def test_bad_data_fails_before_the_model_loads(tiny_model: Path, tmp_path: Path, rows: list[Any],
                                               hyperparameters: dict[str, str],
                                               expected: str) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    config = tiny_config(tmp_path, tiny_model, train, hyperparameters=hyperparameters)
    lines: list[str] = []
    with pytest.raises(InvalidInputError) as info:
        run(FinetuneConfig.from_dict(config), progress=lines.append)
    assert info.value.message.startswith(expected)
    assert not any(line.startswith("loading") for line in lines)
    assert not (tmp_path / "out").exists() and not (tmp_path / "checkpoints").exists()


def test_cli_prints_one_error_line_and_exits_2(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [chat_line("q", "a")] * 4 + ["{oops"])
    config = tiny_config(tmp_path, tiny_model, train, hyperparameters={"learning_rat": "1"})
    cases = [(config, "error: unknown hyperparameter learning_rat; known: num_train_epochs, "),
             ({**config, "hyperparameters": {}}, "error: train.jsonl line 5: not valid JSON: ")]
    for body, expected in cases:
        (tmp_path / "c.json").write_text(json.dumps(body))
        proc = subprocess.run([PYTHON, "-m", "ember.finetune.train", "--config",
                               str(tmp_path / "c.json")], capture_output=True, text=True,
                              env=subprocess_env(), timeout=120)
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(expected)


def test_outputs_evaluation_and_checkpoint_limit(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", secret_chat_rows(8))
    val = write_jsonl(tmp_path / "val.jsonl", secret_chat_rows(2))
    config = tiny_config(tmp_path, tiny_model, train, validation_data=str(val), hyperparameters={
        "max_steps": "6", "save_steps": "2", "save_total_limit": "2", "logging_steps": "2",
        "evaluation_strategy": "steps", "eval_steps": "3", "merge_lora_weights": "true"})
    lines: list[str] = []
    result = run(FinetuneConfig.from_dict(config), progress=lines.append)
    out = tmp_path / "out"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == \
        ["checkpoint-4", "checkpoint-6"]
    adapter_config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(tiny_model)
    assert sorted(adapter_config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "adapter.gguf").is_file() and (out / "merged" / "model.safetensors").is_file()
    assert (out / "merged" / "tokenizer.json").is_file()
    assert json.loads((out / "finetune.json").read_text()) == json.loads(json.dumps(result))
    assert result["steps"] == 6 and result["resumed_from"] is None
    assert result["data"] == {"training_lines": 8, "training_examples": 8,
                              "validation_examples": 2, "validation_split_from_training": False,
                              "max_seq_length": 256, "truncated_sequences": 0,
                              "dropped_sequences": 0}
    assert result["eval_loss_first"] is not None and result["train_tokens"] > 0
    assert [line.split(" loss")[0] for line in lines if line.startswith("step ")] == \
        ["step 1/6", "step 2/6", "step 4/6", "step 6/6"]
    assert [line.split(":")[0] for line in lines if line.startswith("eval")] == \
        ["eval at step 3", "eval at step 6"]


def test_text_completion_with_split_and_truncation(tiny_model: Path, tmp_path: Path) -> None:
    rows = [{"prompt": f"question {i} what capital", "answer": " paris"} for i in range(9)]
    rows.append({"prompt": "hello " * 80, "answer": " paris"})
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    config = tiny_config(tmp_path, tiny_model, train, task="text_completion", hyperparameters={
        "text_key": "prompt", "ground_truth_key": "answer", "max_seq_length": "32",
        "max_steps": "2"})
    lines: list[str] = []
    result = run(FinetuneConfig.from_dict(config), progress=lines.append)
    assert result["steps"] == 2 and result["data"]["validation_split_from_training"]
    assert (result["data"]["training_examples"] + result["data"]["validation_examples"] +
            result["data"]["dropped_sequences"]) == 10
    assert "no validation data given: split 1 of 10 training lines off for validation " \
        "(seed 42)" in lines


class _Stop(Exception):
    pass


def _stop_after_first_checkpoint() -> Any:
    from transformers import TrainerCallback

    class StopAfterSave(TrainerCallback):  # type: ignore[misc]
        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            raise _Stop(f"stopped after checkpoint-{state.global_step}")

    return StopAfterSave()


def test_rerun_resumes_from_the_last_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", secret_chat_rows(8))
    config = tiny_config(tmp_path, tiny_model, train,
                         hyperparameters={"max_steps": "4", "save_steps": "2"})
    with pytest.raises(_Stop, match="checkpoint-2"):
        run(FinetuneConfig.from_dict(config), extra_callbacks=[_stop_after_first_checkpoint()],
            progress=lambda _: None)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["checkpoint-2"]
    assert not (tmp_path / "out" / "finetune.json").exists()

    lines: list[str] = []
    result = run(FinetuneConfig.from_dict(config), progress=lines.append)
    assert "resuming from checkpoint-2" in lines
    assert [line.split(" loss")[0] for line in lines if line.startswith("step ")] == \
        ["step 3/4", "step 4/4"]
    assert result["steps"] == 4 and result["resumed_from"] == "checkpoint-2"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == \
        ["checkpoint-2", "checkpoint-4"]


def test_metrics_go_to_the_jobs_mlflow_run(tiny_model: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    # A plain file store (MLflow 3 keeps it behind this switch): a real tracking store, no server.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("finetune")
    run_id = client.create_run(experiment).info.run_id
    train = write_jsonl(tmp_path / "train.jsonl", secret_chat_rows(10))
    config = tiny_config(tmp_path, tiny_model, train, mlflow=True, hyperparameters={
        "max_steps": "6", "logging_steps": "2", "evaluation_strategy": "steps",
        "eval_steps": "3"})
    (tmp_path / "c.json").write_text(json.dumps(config))
    proc = subprocess.run([PYTHON, "-m", "ember.finetune.train", "--config",
                           str(tmp_path / "c.json")], capture_output=True, text=True, timeout=180,
                          env=subprocess_env(MLFLOW_TRACKING_URI=uri, MLFLOW_RUN_ID=run_id,
                                                         MLFLOW_ALLOW_FILE_STORE="true"))
    assert proc.returncode == 0, proc.stderr[-3000:]

    def steps(key: str) -> list[int]:
        return [m.step for m in client.get_metric_history(run_id, key)]

    assert steps("loss") == [1, 2, 4, 6]
    assert steps("learning_rate") == [1, 2, 4, 6]
    assert steps("eval_loss") == [3, 6]
    assert set(steps("epoch")) == {1, 2, 3, 4, 6}
    assert len(client.search_runs([experiment])) == 1     # no run of its own was started


@pytest.fixture(scope="module")
def smollm_run(smollm_gguf: Path, smollm_cache_root: Path, smollm_copy: Path,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """~20 LoRA steps on SmolLM2-135M teaching one distinctive answer."""
    tmp = tmp_path_factory.mktemp("smollm-run")
    train = write_jsonl(tmp / "train.jsonl", secret_chat_rows(16))
    config = tiny_config(tmp, smollm_gguf, train, conversion_cache=str(smollm_cache_root),
                         hyperparameters={"max_steps": "20", "per_device_train_batch_size": "4",
                                          "learning_rate": "0.001", "max_seq_length": "64",
                                          "logging_steps": "5", "merge_lora_weights": "true",
                                          "save_steps": "500"})
    lines: list[str] = []
    result = run(FinetuneConfig.from_dict(config), progress=lines.append)
    return {"result": result, "lines": lines, "out": tmp / "out"}


def test_smollm_lora_learns(smollm_run: dict[str, Any], smollm_copy: Path) -> None:
    result, out = smollm_run["result"], smollm_run["out"]
    assert result["trainable_base_model"] == str(smollm_copy)
    assert result["steps"] == 20
    assert result["train_loss_last"] < result["train_loss_first"] / 4
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "merged" / "model.safetensors").is_file() and (out / "adapter.gguf").is_file()
    print(f"\nSmolLM2 LoRA: {result['train_seconds'] / result['steps']:.2f} s/step, "
          f"{result['tokens_per_second']} tokens/s, peak RSS {result['peak_rss_mb']} MB, "
          f"loss {result['train_loss_first']:.3f} → {result['train_loss_last']:.4f}")


def _chat_ids(tokenizer: Any, question: str) -> list[int]:
    text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_llama_cpp_loads_the_gguf_adapter(smollm_run: dict[str, Any], smollm_gguf: Path,
                                          smollm_copy: Path) -> None:
    import llama_cpp
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    messages: Any = [{"role": "user", "content": "What is the secret word?"}]
    adapter = str(smollm_run["out"] / "adapter.gguf")
    ids = _chat_ids(AutoTokenizer.from_pretrained(smollm_copy), "What is the capital of France?")
    answers: list[str] = []
    logits = []
    loras: list[dict[str, Any]] = [{}, {"lora_path": adapter}]
    for lora in loras:
        llm: Any = llama_cpp.Llama(model_path=str(smollm_gguf), n_ctx=256, n_threads=1,
                              verbose=False, logits_all=True, **lora)
        reply = llm.create_chat_completion(messages=messages, max_tokens=16, temperature=0)
        answers.append(reply["choices"][0]["message"]["content"])
        llm.reset()
        llm.eval(ids)
        logits.append(np.array(llm.scores[:len(ids)]))
        llm.close()
    assert "zorblax" not in answers[0] and "zorblax" in answers[1], answers

    # What the adapter changes in llama.cpp matches what it changes in transformers (merged):
    # a wrong q/k row layout in the export leaves the answer above but drops this to ~0.94.
    def hf_logits(folder: Path) -> Any:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].numpy()

    hf_delta = hf_logits(smollm_run["out"] / "merged") - hf_logits(smollm_copy)
    cpp_delta = logits[1] - logits[0]
    assert np.corrcoef(hf_delta.ravel(), cpp_delta.ravel())[0, 1] > 0.98
