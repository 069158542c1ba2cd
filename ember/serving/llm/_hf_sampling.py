"""Cheaper per-request top-k and top-p for transformers' continuous batching, on CPU.

transformers' per-request warpers (``cb_logits_processors.py``) sort the whole vocabulary of
every row at every step, twice (top-k for its threshold, top-p for its cumulative sum), even for
a greedy request (top-k 1, top-p 1). On CPU with SmolLM2 (49,152 tokens) at 16 streams those
two sorts took ~20 % of the worker (py-spy, benchmarks/bench_llm_transformers.py). The
replacements give the same scores:

- top-k: the k-th largest value from ``torch.topk`` with the batch's largest k (k = 1 for a greedy
  batch: one pass, no sort); rows whose k is the whole vocabulary are left alone.
- top-p: a batch whose every top-p is 1 is left alone (the original then only masks tokens of
  probability 0, which cannot be drawn anyway); otherwise the original.

On other devices the originals run unchanged (reading the batch's largest k would synchronise
with the device at every step, and break CUDA-graph capture).
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    """Make the continuous-batching managers created from now on use the cheaper warpers."""
    global _installed
    if _installed:
        return
    import torch
    from transformers.generation.continuous_batching import cb_logits_processors as cb
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    class CpuTopK(cb.ContinuousBatchingTopKLogitsWarper):  # type: ignore[misc]
        def __call__(self, scores: Any, tensor_arg: Any) -> Any:
            if scores.device.type != "cpu":
                return super().__call__(scores, tensor_arg)
            vocab = scores.size(-1)
            top_k = tensor_arg[: scores.size(0)].to(torch.int64).clamp(min=1, max=vocab)
            limited = top_k < vocab
            if not bool(limited.any()):
                return scores
            k = int(top_k[limited].max())
            largest = torch.topk(scores, k, dim=-1).values               # [B, k], descending
            thresholds = largest.gather(-1, (top_k.clamp(max=k) - 1).unsqueeze(-1))
            thresholds = thresholds.masked_fill(~limited.unsqueeze(-1), float("-inf"))
            return scores.masked_fill(scores < thresholds, self.filter_value)

    class CpuTopP(cb.ContinuousBatchingTopPLogitsWarper):  # type: ignore[misc]
        def __call__(self, scores: Any, tensor_arg: Any) -> Any:
            if scores.device.type == "cpu":
                top_p = tensor_arg[: scores.size(0)].view(dtype=torch.float32)
                if bool((top_p >= 1.0).all()):
                    return scores
            return super().__call__(scores, tensor_arg)

    cb.CLASSIC_TO_CB_PROCESSORS_MAP[TopKLogitsWarper] = CpuTopK
    cb.CLASSIC_TO_CB_PROCESSORS_MAP[TopPLogitsWarper] = CpuTopP
    _installed = True
