"""Fixtures for fine-tuning jobs: the tiny Llama of the training's own tests (2 layers, hidden
size 64, a byte-level BPE tokenizer trained on the spot, ChatML chat template) and chat data.

torch runs on one thread in every training process (EMBER_FINETUNE_THREADS, inherited by the
test servers started after this module is imported), so two test workers share 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.finetune.conftest import build_tiny_model, chat_line, secret_chat_rows, write_jsonl

os.environ["EMBER_FINETUNE_THREADS"] = "1"
__all__ = ["chat_line", "secret_chat_rows", "write_jsonl"]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face folder: a randomly initialised 2-layer Llama with a chat template."""
    import torch

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def chats(tmp_path: Path) -> tuple[Path, Path]:
    """(train.jsonl, val.jsonl): chats that all teach one answer."""
    data = tmp_path / "data"
    data.mkdir()
    return (write_jsonl(data / "train.jsonl", secret_chat_rows(8)),
            write_jsonl(data / "val.jsonl", secret_chat_rows(2)))
