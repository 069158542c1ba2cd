"""model_prediction and compute_metrics on real models made on the spot: a tiny Llama (a
byte-level BPE tokenizer trained here, a ChatML template, random 2-layer weights), a PEFT adapter
on it, and a scikit-learn classifier saved as an MLflow model; the components run as the job
would run them, in subprocesses on files."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ember.errors import InvalidInputError
from ember.finetune import prediction as P
from ember.finetune.metrics import compute

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

CHATML = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + "
          "'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}"
          "{{'<|im_start|>assistant\n'}}{% endif %}")
WORDS = ["the", "cat", "dog", "sat", "on", "a", "mat", "red", "blue", "sun", "moon", "tree",
         "river", "one", "two", "three", "hello", "world"]
PROMPTS = ["the cat sat on", "hello world", "one two three four five six", "a red sun"]
ENV = {**os.environ, "EMBER_FINETUNE_THREADS": ""}


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("llama")
    rng = random.Random(0)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        [" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(200)],
        trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>",
                                                            "<|im_end|>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", chat_template=CHATML)
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapter(llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    folder = tmp_path_factory.mktemp("adapter")
    model = get_peft_model(LlamaForCausalLM.from_pretrained(str(llama)), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    torch.manual_seed(1)
    with torch.no_grad():   # PEFT starts lora_B at zero (a no-op adapter); make it act
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)
    model.save_pretrained(str(folder))
    return folder


def reference_greedy(folder: Path, text: str, n: int, adapter: Path | None = None,
                     add_special_tokens: bool = True) -> str:
    """transformers' own generate on one unpadded prompt (PEFT for an adapter)."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(folder))
    model: Any = LlamaForCausalLM.from_pretrained(str(folder))
    if adapter is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, str(adapter))
    ids = tok(text, return_tensors="pt", add_special_tokens=add_special_tokens)
    with torch.no_grad():
        out = model.eval().generate(**ids, max_new_tokens=n, do_sample=False,
                                    pad_token_id=tok.pad_token_id)
    new = out[0, ids["input_ids"].shape[1]:].tolist()
    if tok.eos_token_id in new:
        new = new[:new.index(tok.eos_token_id)]
    return str(tok.decode(new, skip_special_tokens=True)).strip()


def run_module(module: str, *args: str, env: dict[str, str] | None = None,
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", f"ember.finetune.{module}", *args],
                          check=False, capture_output=True, text=True, timeout=120,
                          env=env or ENV)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batched_left_padded_generation_equals_one_prompt_at_a_time(llama: Path) -> None:
    lm = P.load_language_model(llama)
    assert lm.tokenizer.padding_side == "left"
    batches = list(P.generate(lm, PROMPTS, batch_size=3, max_new_tokens=6))
    assert [b.rows for _, b in batches] == [3, 1]
    got = [text for answers, _ in batches for text in answers]
    assert got == [reference_greedy(llama, p, 6) for p in PROMPTS]
    assert all(b.output_tokens <= 6 * b.rows and b.input_tokens > 0 for _, b in batches)


def test_chat_rows_render_the_template_and_keep_the_last_answer_as_truth(llama: Path) -> None:
    rows: list[dict[str, Any]] = [{"messages": [{"role": "user", "content": "hello world"},
                          {"role": "assistant", "content": "the sun"}]},
            {"messages": json.dumps([{"role": "user", "content": "a red tree"}]),
             "ground_truth": "blue"}]
    prompts, truths = P.language_inputs("chat-completion", rows, ["messages"], "ground_truth")
    assert truths == ["the sun", "blue"]
    assert prompts[0] == [{"role": "user", "content": "hello world"}]
    lm = P.load_language_model(llama)
    [(answers, _)] = list(P.generate(lm, prompts, batch_size=2, max_new_tokens=5))
    rendered = [lm.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                for m in prompts]
    assert rendered[0].endswith("<|im_start|>assistant\n")
    assert answers == [reference_greedy(llama, r, 5, add_special_tokens=False)
                       for r in rendered]


def test_an_adapter_folder_loads_its_base_and_changes_the_output(llama: Path,
                                                                  adapter: Path) -> None:
    assert json.loads((adapter / "adapter_config.json").read_text())[
        "base_model_name_or_path"] == str(llama)
    [(base, _)] = P.generate(P.load_language_model(llama), PROMPTS, max_new_tokens=6)
    [(tuned, _)] = P.generate(P.load_language_model(adapter), PROMPTS, max_new_tokens=6)
    assert tuned != base
    assert tuned == [reference_greedy(llama, p, 6, adapter=adapter) for p in PROMPTS]


def test_an_mlflow_transformers_folder_finds_model_and_tokenizer(llama: Path,
                                                                 tmp_path: Path) -> None:
    import shutil

    (tmp_path / "MLmodel").write_text("flavors:\n  transformers: {}\n")
    for part in ("model", "components/tokenizer"):
        (tmp_path / part).mkdir(parents=True)
    for file in llama.iterdir():
        shutil.copy(file, tmp_path / ("components/tokenizer" if "token" in file.name
                                      or "chat" in file.name else "model"))
    [(answers, _)] = P.generate(P.load_language_model(tmp_path), PROMPTS[:2], max_new_tokens=4)
    assert answers == [reference_greedy(llama, p, 4) for p in PROMPTS[:2]]


def test_an_adapter_whose_base_is_missing(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "/nowhere/base", "peft_type": "LORA"}))
    with pytest.raises(InvalidInputError, match="base model '/nowhere/base'.*not a folder"):
        P.load_language_model(tmp_path)


def test_files_folders_and_bad_data(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "rows.csv").write_text("x,y\n1,a\n2.5,\n")
    assert P.read_rows(tmp_path / "one") == [{"x": 1.0, "y": "a"}, {"x": 2.5, "y": None}]
    (tmp_path / "one" / "more.jsonl").write_text('{"x": 1}\n')
    with pytest.raises(InvalidInputError, match="exactly one .*found: more.jsonl, rows.csv"):
        P.read_rows(tmp_path / "one")
    (tmp_path / "bad.jsonl").write_text('{"x": 1}\nnot json\n')
    with pytest.raises(InvalidInputError, match="bad.jsonl is not valid JSONL"):
        P.read_rows(tmp_path / "bad.jsonl")
    with pytest.raises(InvalidInputError, match="has no column 'z' \\(columns: x\\)"):
        P.column([{"x": 1}], "z", "f.jsonl")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(3)
    rows = [{"a": rng.gauss(c, 1.0), "b": rng.gauss(-c, 1.0), "label": ["no", "yes"][c]}
            for c in (0, 1) * 20]
    model = LogisticRegression().fit(pd.DataFrame(rows)[["a", "b"]], [r["label"] for r in rows])
    folder = tmp_path_factory.mktemp("sk") / "model"
    mlflow.sklearn.save_model(model, str(folder))
    return folder, rows


def test_a_tabular_mlflow_model_predicts_labels_and_probabilities(
        classifier: tuple[Path, list[dict[str, Any]]]) -> None:
    import mlflow.sklearn
    import pandas as pd

    folder, rows = classifier
    predictions, probabilities = P.predict_tabular(folder, rows, ["a", "b"])
    model = mlflow.sklearn.load_model(str(folder))
    features = pd.DataFrame(rows)[["a", "b"]]
    assert predictions == list(model.predict(features))
    assert probabilities is not None
    want = model.predict_proba(features)
    assert [p["no"] for p in probabilities] == pytest.approx(want[:, 0].tolist())
    assert [p["yes"] for p in probabilities] == pytest.approx(want[:, 1].tolist())


def test_text_generation_end_to_end_logs_to_the_jobs_run(llama: Path, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "ground_truth": p + " on a mat"}) + "\n"
                            for p in PROMPTS))
    out = tmp_path / "out"
    pred = run_module("model_prediction", "--task", "text-generation", "--test-data", str(data),
                      "--mlflow-model", str(llama), "--input-column-names", "prompt",
                      "--batch-size", "3", "--max-new-tokens", "5",
                      "--predictions", str(out / "predictions"),
                      "--ground-truth", str(out / "ground_truth"),
                      "--performance-metadata", str(out / "perf"))
    assert pred.returncode == 0, pred.stderr
    assert "Traceback" not in pred.stderr
    assert "generating on cpu with 1 torch thread(s)" in pred.stdout
    assert "predicted 3/4 rows" in pred.stdout and "predicted 4/4 rows" in pred.stdout
    predictions = [r["predictions"] for r in read_jsonl(out / "predictions/predictions.jsonl")]
    assert predictions == [reference_greedy(llama, p, 5) for p in PROMPTS]
    truths = read_jsonl(out / "ground_truth/ground_truth.jsonl")
    assert truths == [{"ground_truth": p + " on a mat"} for p in PROMPTS]
    perf = read_jsonl(out / "perf/performance_metadata.jsonl")
    assert [p["rows"] for p in perf] == [3, 1] and all(p["time_taken_ms"] > 0 for p in perf)

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store)
    experiment = client.create_experiment("eval", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    metrics = run_module(
        "compute_metrics", "--task", "text-generation", "--ground-truth", str(out / "ground_truth"),
        "--prediction", str(out / "predictions"), "--evaluation-result", str(out / "eval"),
        env={**ENV, "MLFLOW_TRACKING_URI": store, "MLFLOW_RUN_ID": run_id})
    assert metrics.returncode == 0, metrics.stderr
    result = json.loads((out / "eval/evaluation_result.json").read_text())
    want = compute("text-generation", [t["ground_truth"] for t in truths], predictions)
    assert result == {"task": "text-generation", "rows": 4, "metrics": want, "artifacts": {}}
    logged = client.get_run(run_id).data.metrics
    assert logged == pytest.approx(want)
    assert client.search_runs([experiment])[0].info.run_id == run_id   # no second run


def test_tabular_classification_end_to_end_with_probabilities(
        classifier: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    folder, rows = classifier
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.csv").write_text("a,b,label\n" + "".join(
        f"{r['a']},{r['b']},{r['label']}\n" for r in rows))
    out = tmp_path / "out"
    pred = run_module("model_prediction", "--task", "tabular-classification", "--test-data",
                      str(data), "--mlflow-model", str(folder), "--label-column-name", "label",
                      "--predictions", str(out / "p"), "--ground-truth", str(out / "g"),
                      "--prediction-probabilities", str(out / "pp"))
    assert pred.returncode == 0, pred.stderr
    metrics = run_module("compute_metrics", "--task", "tabular-classification",
                         "--ground-truth", str(out / "g"), "--prediction", str(out / "p"),
                         "--prediction-probabilities", str(out / "pp"),
                         "--evaluation-config-params", '{"positive_label": "yes"}',
                         "--evaluation-result", str(out / "eval"))
    assert metrics.returncode == 0, metrics.stderr
    result = json.loads((out / "eval/evaluation_result.json").read_text())
    assert result["artifacts"]["class_labels"] == ["no", "yes"]
    assert sum(map(sum, result["artifacts"]["confusion_matrix"])) == len(rows)
    assert 0.5 < result["metrics"]["AUC_binary"] <= 1.0
    assert {"accuracy", "log_loss", "f1_score_binary"} <= set(result["metrics"])


def test_compute_metrics_fails_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "g.jsonl").write_text('{"answer": "a"}\n')
    (tmp_path / "p.jsonl").write_text('{"predictions": "a"}\n')
    bad = run_module("compute_metrics", "--task", "question-answering", "--ground-truth",
                     str(tmp_path / "g.jsonl"), "--ground-truth-column-name", "label",
                     "--prediction", str(tmp_path / "p.jsonl"),
                     "--evaluation-result", str(tmp_path / "eval"))
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        (f"[ember] compute_metrics failed: {tmp_path / 'g.jsonl'} has no column 'label' "
         "(columns: answer)")]


def test_model_prediction_refuses_a_task_it_cannot_predict(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"x": 1}\n')
    bad = run_module("model_prediction", "--task", "fill-mask", "--test-data",
                     str(tmp_path / "t.jsonl"), "--mlflow-model", str(tmp_path),
                     "--predictions", str(tmp_path / "p"), "--ground-truth", str(tmp_path / "g"))
    assert bad.returncode == 1
    assert "model_prediction does not predict for fill-mask" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
