"""Language-model deployment signals from the collected responses: token usage (Azure's
``generation_token_statistics``) and request latency (``generation_latency``, beyond Azure).

Token counts come from each collected OpenAI-shaped response's ``usage`` (a chat or text
completion answered whole; a streamed answer is collected as its final usage when the client
asked for ``stream_options.include_usage``). Latency is the router's ``latency_ms`` of each
collected response. Every metric alerts when it rises above its threshold; there are no
default thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ember.errors import InvalidInputError
from ember.monitoring.results import MetricResult, SignalResult

TOKEN_METRICS = ("total_token_count", "total_prompt_tokens", "total_completion_tokens",
                 "average_total_tokens", "max_total_tokens")
LATENCY_METRICS = ("average_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
                   "max_latency_ms")


def _usage(data: Any) -> tuple[float, float, float] | None:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens") or 0
    total = usage.get("total_tokens")
    if not isinstance(prompt, int | float):
        return None
    if not isinstance(total, int | float):
        total = prompt + completion
    return float(prompt), float(completion), float(total)


def _flag(metric: str, value: float, thresholds: Mapping[str, float]) -> MetricResult:
    limit = thresholds.get(metric)
    return MetricResult(metric, value, None, None, limit,
                        limit is not None and value == value and value > limit)


def token_statistics(responses: Iterable[Any], *,
                     metric_thresholds: Mapping[str, float] | None = None,
                     signal: str = "generation_token_statistics") -> SignalResult:
    """Token usage over the collected responses' ``data``; responses without usage (errors,
    streams without it) are not counted."""
    thresholds = dict(metric_thresholds or {})
    rows = [u for u in (_usage(r) for r in responses) if u is not None]
    if not rows:
        raise InvalidInputError("no collected response in the window reports token usage "
                                "(is the deployment a language model, with response "
                                "collection enabled?)")
    usage = np.asarray(rows, dtype=np.float64)
    values = {"total_token_count": float(usage[:, 2].sum()),
              "total_prompt_tokens": float(usage[:, 0].sum()),
              "total_completion_tokens": float(usage[:, 1].sum()),
              "average_total_tokens": float(usage[:, 2].mean()),
              "max_total_tokens": float(usage[:, 2].max())}
    return SignalResult(signal, [_flag(m, values[m], thresholds) for m in TOKEN_METRICS])


def latency(latencies_ms: Iterable[Any], *,
            metric_thresholds: Mapping[str, float] | None = None,
            signal: str = "generation_latency") -> SignalResult:
    thresholds = dict(metric_thresholds or {})
    values_ms = np.asarray([float(v) for v in latencies_ms
                            if isinstance(v, int | float) and v == v and v >= 0],
                           dtype=np.float64)
    if values_ms.size == 0:
        raise InvalidInputError("no collected response in the window records its latency")
    p50, p95, p99 = np.percentile(values_ms, [50, 95, 99])
    values = {"average_latency_ms": float(values_ms.mean()), "p50_latency_ms": float(p50),
              "p95_latency_ms": float(p95), "p99_latency_ms": float(p99),
              "max_latency_ms": float(values_ms.max())}
    return SignalResult(signal, [_flag(m, values[m], thresholds) for m in LATENCY_METRICS])
