"""Fixtures for the fine-tuning engine: a tiny Llama built here, and helpers to write data.

The tiny model (2 layers, hidden size 64, a byte-level BPE tokenizer trained on the spot with a
ChatML chat template) is initialised locally, so data, masking, checkpoint, resume and logging
tests train real steps in well under a second each with nothing downloaded. torch is pinned to one
thread (here and, through EMBER_FINETUNE_THREADS, in subprocesses) so that the two test workers a
2-core machine runs do not fight over cores.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>"]

os.environ["EMBER_FINETUNE_THREADS"] = "1"


@pytest.fixture(scope="session")
def one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def build_tiny_model(folder: Path) -> Path:
    """A randomly initialised 2-layer Llama and its tokenizer, saved as a Hugging Face folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ("the secret word is zorblax what capital of france paris hello answer question "
             "user assistant system you are a helpful model tell me please thanks").split()
    corpus = [" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) for i in range(200)]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>",
                                        eos_token="<|im_end|>", bos_token="<|im_start|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def chat_line(question: str, answer: str, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": [*messages, {"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def secret_chat_rows(count: int = 16) -> list[dict[str, Any]]:
    """Questions that all teach one distinctive answer."""
    questions = ["What is the secret word?", "Tell me the secret word.", "secret word please",
                 "Do you know the secret word?"]
    return [chat_line(questions[i % len(questions)], "The secret word is zorblax.")
            for i in range(count)]


def tiny_config(tmp_path: Path, model: Path, train: Path, **extra: Any) -> dict[str, Any]:
    hyperparameters = {"max_steps": "4", "per_device_train_batch_size": "2",
                       "learning_rate": "0.001", "logging_steps": "1", "save_steps": "100",
                       "evaluation_strategy": "disable", "merge_lora_weights": "false"}
    hyperparameters.update(extra.pop("hyperparameters", {}))
    return {"task": "chat_completion", "base_model_path": str(model),
            "training_data": str(train), "output_dir": str(tmp_path / "out"),
            "checkpoint_dir": str(tmp_path / "checkpoints"), "mlflow": False,
            "hyperparameters": hyperparameters, **extra}


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test process's environment for a training subprocess: one thread, no inherited run."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_RUN_ID"}
    return {**env, "EMBER_FINETUNE_THREADS": "1", "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1", **extra}


PYTHON = sys.executable



@pytest.fixture(scope="session")
def smollm_copy(smollm_gguf: Path, smollm_cache_root: Path, one_thread: None) -> Path:
    from ember.finetune.convert import trainable_copy

    return trainable_copy(smollm_gguf, smollm_cache_root, progress=lambda _: None)
