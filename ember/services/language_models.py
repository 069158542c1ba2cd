"""Language models: what a model's files say about it (GGUF file or Hugging Face folder).

``inspect_model_files`` reads a model version's local files and answers whether they are a
language model, and its card: the facts a deployment needs (format, runtime, context length,
task) and the ones the catalog shows (parameters, quantisation, fine-tunable, adapter base).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RUNTIME_LLAMA_CPP = "llama.cpp"
RUNTIME_TRANSFORMERS = "transformers"
RUNTIMES = (RUNTIME_LLAMA_CPP, RUNTIME_TRANSFORMERS)
TASK_CHAT = "chat-completion"
TASK_TEXT = "text-generation"
TASK_EMBEDDINGS = "embeddings"


@dataclass(frozen=True)
class LanguageModelInfo:
    format: str                     # "gguf" | "hf" | "peft-adapter"
    path: Path                      # the GGUF file, or the folder (model or adapter)
    task: str                       # TASK_CHAT | TASK_TEXT | TASK_EMBEDDINGS
    runtimes: tuple[str, ...]       # the runtimes that can serve it; the first is the default
    context_length: int             # tokens (prompt + completion) one request may hold
    architecture: str | None = None
    parameters: int | None = None
    quantization: str | None = None  # e.g. "Q4_1"; None for float weights
    fine_tunable: bool = False
    base_model: str | None = None   # an adapter's base (a model reference), else None


def inspect_model_files(path: Path) -> LanguageModelInfo | None:
    """The card of the language model at ``path`` (a ``.gguf`` file, a folder holding one, a
    Hugging Face folder, or a PEFT adapter folder), or None when the files are not one.
    Raises ``InvalidInputError`` naming the file when they claim to be one but are broken."""
    raise NotImplementedError("being written: see issue 11")
