"""Sentence embeddings from a Hugging Face encoder folder in the sentence-transformers layout
(``config.json``, weights, tokenizer, ``modules.json``, ``1_Pooling/config.json``), with
transformers alone (sentence-transformers is not needed).

The pooling is read from ``1_Pooling/config.json`` (mean, CLS or max over the tokens, padding
masked out) and L2 normalisation from ``modules.json`` (a ``Normalize`` module), so the vectors
equal what sentence-transformers gives for the same folder. Without those files: mean pooling
and normalisation (the common case). Inputs are embedded in batches of ``BATCH`` under one lock.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ember.serving.llm._hf_tokens import TokenBytes
from ember.serving.llm.runtime import (
    FINISH_ERROR,
    Event,
    GenRequest,
    Runtime,
)
from ember.serving.llm.transformers_runtime import import_transformers

BATCH = 32


def pooling_of(path: Path) -> tuple[str, bool]:
    """(``"mean"`` | ``"cls"`` | ``"max"``, normalise) from the sentence-transformers files."""
    mode, normalise = "mean", True
    modules_file = path / "modules.json"
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text())
        normalise = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
        for m in modules:
            if str(m.get("type", "")).endswith("Pooling"):
                pooling_file = path / str(m.get("path") or "1_Pooling") / "config.json"
                if pooling_file.is_file():
                    cfg = json.loads(pooling_file.read_text())
                    for name in ("cls", "max", "mean"):
                        if cfg.get(f"pooling_mode_{name}_token" if name == "cls" else
                                   f"pooling_mode_{name}_tokens"):
                            mode = name
                            break
    return mode, normalise


class EmbeddingsRuntime(Runtime):
    name = "transformers"

    def __init__(self, path: Path, *, threads: int = 1, device: str | None = None) -> None:
        torch, transformers = import_transformers()
        self._torch = torch
        torch.set_num_threads(max(1, threads))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        self.model = transformers.AutoModel.from_pretrained(str(path)).to(self.device).eval()
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 512))
        self.dimensions = int(self.model.config.hidden_size)
        self.pooling, self.normalise = pooling_of(path)
        self.chat_template = None
        self.bos_token = self.tokenizer.cls_token or ""
        self.eos_token = self.tokenizer.sep_token or ""
        self._pad = int(self.tokenizer.pad_token_id or 0)
        self._token_bytes = TokenBytes(self.tokenizer)
        self._lock = threading.Lock()

    def tokenize(self, text: str, *, add_special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special)["input_ids"])

    def token_bytes(self, token: int) -> bytes:
        return self._token_bytes(token)

    def submit(self, request: GenRequest) -> None:
        request.sink.put(Event(index=request.index, finish=FINISH_ERROR,
                               error="an embedding model does not generate text"))

    def embed(self, inputs: list[list[int]]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(inputs), BATCH):
            out.extend(self._batch(inputs[start:start + BATCH]))
        return out

    def _batch(self, inputs: list[list[int]]) -> list[list[float]]:
        torch = self._torch
        width = max(len(ids) for ids in inputs)
        ids = torch.full((len(inputs), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, tokens in enumerate(inputs):
            ids[row, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[row, :len(tokens)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with self._lock, torch.inference_mode():
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            pooled = hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
        else:
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        if self.normalise:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        result: list[list[float]] = pooled.cpu().tolist()
        return result

    def close(self) -> None:
        pass
