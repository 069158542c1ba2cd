"""Per-deployment request metrics of the router, as JSON and as Prometheus text.

Also the usage of each endpoint per key (requests, prompt and completion tokens), which the
router meters for language-model endpoints (``protocol.py``) and reports under ``"usage"``.

Latency percentiles come from a ring of the last 10,000 samples per deployment (exact over that
window, so they follow the current behaviour of a deployment rather than its whole life); the
request/error/status counters and the latency sum are cumulative. Recording is O(1) on the event
loop thread; percentiles are computed (one sort) only when metrics are read.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from ember.serving.protocol import DeploymentMetrics

WINDOW = 10_000
QUANTILES = (0.5, 0.95, 0.99)
HISTORY_MINUTES = 24 * 60   # per-minute usage kept per endpoint (all keys together)


class DeploymentStats:
    """Counters and a latency window for one (endpoint, deployment)."""

    __slots__ = ("workspace", "endpoint", "deployment", "request_count", "error_count",
                 "status_counts", "latency_sum_ms", "_window", "_next")

    def __init__(self, workspace: str, endpoint: str, deployment: str) -> None:
        self.workspace = workspace
        self.endpoint = endpoint
        self.deployment = deployment
        self.request_count = 0
        self.error_count = 0
        self.status_counts: dict[int, int] = {}
        self.latency_sum_ms = 0.0
        self._window: list[float] = []
        self._next = 0

    def record(self, status: int, latency_ms: float) -> None:
        self.request_count += 1
        if status >= 400:
            self.error_count += 1
        counts = self.status_counts
        counts[status] = counts.get(status, 0) + 1
        self.latency_sum_ms += latency_ms
        window = self._window
        if len(window) < WINDOW:
            window.append(latency_ms)
        else:
            window[self._next] = latency_ms
            self._next = (self._next + 1) % WINDOW

    def quantiles(self) -> list[float | None]:
        """Nearest-rank percentiles over the window, in ms (None before the first request)."""
        samples = sorted(self._window)
        n = len(samples)
        if not n:
            return [None for _ in QUANTILES]
        return [round(samples[max(0, min(n - 1, math.ceil(q * n) - 1))], 3) for q in QUANTILES]

    def snapshot(self) -> DeploymentMetrics:
        p50, p95, p99 = self.quantiles()
        return DeploymentMetrics(
            request_count=self.request_count,
            error_count=self.error_count,
            latency_ms_p50=p50,
            latency_ms_p95=p95,
            latency_ms_p99=p99,
            status_counts={str(code): n for code, n in sorted(self.status_counts.items())},
        )


KEY_NAMES = ("primary", "secondary")   # by position in the route's key_hashes


def key_name(index: int) -> str:
    return KEY_NAMES[index] if index < len(KEY_NAMES) else f"key{index + 1}"


class EndpointUsage:
    """Requests and tokens of one endpoint, per key (by its index in ``key_hashes``)."""

    __slots__ = ("workspace", "endpoint", "requests", "prompt_tokens", "completion_tokens",
                 "_minutes")

    def __init__(self, workspace: str, endpoint: str) -> None:
        self.workspace = workspace
        self.endpoint = endpoint
        self.requests = [0, 0]
        self.prompt_tokens = [0, 0]
        self.completion_tokens = [0, 0]
        # [minute (epoch // 60), requests, prompt tokens, completion tokens], oldest first
        self._minutes: deque[list[int]] = deque(maxlen=HISTORY_MINUTES)

    def _minute(self) -> list[int]:
        now = int(time.time() // 60)
        minutes = self._minutes
        if not minutes or minutes[-1][0] != now:
            minutes.append([now, 0, 0, 0])
        return minutes[-1]

    def request(self, key: int) -> None:
        if key >= len(self.requests):
            grow = key + 1 - len(self.requests)
            for counts in (self.requests, self.prompt_tokens, self.completion_tokens):
                counts.extend([0] * grow)
        self.requests[key] += 1
        self._minute()[1] += 1

    def tokens(self, key: int, prompt: int, completion: int) -> None:
        """Add an answer's tokens (after :meth:`request` for the same key)."""
        self.prompt_tokens[key] += prompt
        self.completion_tokens[key] += completion
        bucket = self._minute()
        bucket[2] += prompt
        bucket[3] += completion

    def history(self) -> list[dict[str, int]]:
        """Requests and tokens per minute (all keys), for the minutes that had any, oldest
        first: [{"minute": <epoch seconds of its start>, "requests", "prompt_tokens",
        "completion_tokens"}]."""
        return [{"minute": m * 60, "requests": r, "prompt_tokens": p, "completion_tokens": c}
                for m, r, p, c in self._minutes]

    def requests_made(self) -> bool:
        return any(self.requests)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Every key that made a request: {"primary": {"requests", "prompt_tokens", ...}}."""
        return {key_name(i): {"requests": n, "prompt_tokens": self.prompt_tokens[i],
                              "completion_tokens": self.completion_tokens[i]}
                for i, n in enumerate(self.requests) if n}


class MetricsRegistry:
    """Every deployment's stats, keyed by ("<ws>/<endpoint>", deployment).

    Stats outlive table swaps (a new table reuses the object of an unchanged deployment) and are
    dropped when their deployment leaves the table: the control plane always pushes whole tables,
    so a deployment missing from one has been deleted.
    """

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], DeploymentStats] = {}
        self._usage: dict[str, EndpointUsage] = {}

    def existing_or_new(self, endpoint_key: str, deployment: str) -> DeploymentStats:
        """The stats object in use for this deployment, else a new one (not yet registered)."""
        stats = self._stats.get((endpoint_key, deployment))
        if stats is None:
            workspace, _, endpoint = endpoint_key.partition("/")
            stats = DeploymentStats(workspace, endpoint, deployment)
        return stats

    def usage_of(self, endpoint_key: str) -> EndpointUsage:
        """The usage object in use for this endpoint, else a new one (not yet registered)."""
        usage = self._usage.get(endpoint_key)
        if usage is None:
            workspace, _, endpoint = endpoint_key.partition("/")
            usage = EndpointUsage(workspace, endpoint)
        return usage

    def replace(self, stats: dict[tuple[str, str], DeploymentStats],
                usage: dict[str, EndpointUsage]) -> None:
        """Report exactly these deployments and endpoints from now on (the new table's)."""
        self._stats = stats
        self._usage = usage

    def to_json(self) -> dict[str, Any]:
        """``{"<ws>/<endpoint>": {"<deployment>": DeploymentMetrics}, "usage": {"<ws>/<endpoint>":
        {"primary": {"requests", "prompt_tokens", "completion_tokens"}, ...}},
        "usage_history": {"<ws>/<endpoint>": [per-minute usage, see EndpointUsage.history]}}``.
        Endpoint keys always hold a "/", so "usage" cannot collide with one."""
        out: dict[str, Any] = {}
        for (endpoint_key, deployment), stats in sorted(self._stats.items()):
            out.setdefault(endpoint_key, {})[deployment] = stats.snapshot()
        out["usage"] = {key: snap for key, usage in sorted(self._usage.items())
                        if (snap := usage.snapshot())}
        out["usage_history"] = {key: usage.history() for key, usage in sorted(self._usage.items())
                                if usage.requests_made()}
        return out

    def to_prometheus(self, inflight: dict[str, int]) -> str:
        lines = [
            ("# HELP ember_endpoint_requests_total Requests answered, by deployment and HTTP "
             "status (mirrored copies count for the mirrored deployment); and requests admitted, "
             "by endpoint key (label key, no deployment)."),
            "# TYPE ember_endpoint_requests_total counter",
        ]
        ordered = sorted(self._stats.items())
        for _key, stats in ordered:
            base = _labels(stats)
            for code, n in sorted(stats.status_counts.items()):
                lines.append(f'ember_endpoint_requests_total{{{base},code="{code}"}} {n}')
        # The same family, per key (no deployment label): sum one label set or the other.
        usages = [(u, _usage_labels(u), snap) for _k, u in sorted(self._usage.items())
                  if (snap := u.snapshot())]
        for _usage, base, snap in usages:
            for key, counts in snap.items():
                lines.append(f'ember_endpoint_requests_total{{{base},key="{_escape(key)}"}} '
                             f'{counts["requests"]}')
        lines += [
            ("# HELP ember_endpoint_tokens_total Tokens metered per endpoint and key, from the "
             "language-model workers' usage reports."),
            "# TYPE ember_endpoint_tokens_total counter",
        ]
        for _usage, base, snap in usages:
            for key, counts in snap.items():
                for kind in ("prompt", "completion"):
                    lines.append(f'ember_endpoint_tokens_total{{{base},key="{_escape(key)}",'
                                 f'kind="{kind}"}} {counts[kind + "_tokens"]}')
        lines += [
            ("# HELP ember_endpoint_request_latency_ms Router-measured latency from request "
             "receipt to response end, in ms; quantiles over the last 10000 requests."),
            "# TYPE ember_endpoint_request_latency_ms summary",
        ]
        for _key, stats in ordered:
            base = _labels(stats)
            for q, value in zip(QUANTILES, stats.quantiles(), strict=True):
                shown = "NaN" if value is None else repr(value)
                lines.append(f'ember_endpoint_request_latency_ms{{{base},quantile="{q}"}} {shown}')
            lines.append(f"ember_endpoint_request_latency_ms_sum{{{base}}} "
                         f"{round(stats.latency_sum_ms, 3)!r}")
            lines.append(f"ember_endpoint_request_latency_ms_count{{{base}}} {stats.request_count}")
        lines += [
            "# HELP ember_router_instance_in_flight Requests now in flight per worker instance.",
            "# TYPE ember_router_instance_in_flight gauge",
        ]
        for addr, n in sorted(inflight.items()):
            lines.append(f'ember_router_instance_in_flight{{instance="{_escape(addr)}"}} {n}')
        return "\n".join(lines) + "\n"


def _labels(stats: DeploymentStats) -> str:
    return (f'workspace="{_escape(stats.workspace)}",endpoint="{_escape(stats.endpoint)}",'
            f'deployment="{_escape(stats.deployment)}"')


def _usage_labels(usage: EndpointUsage) -> str:
    return f'workspace="{_escape(usage.workspace)}",endpoint="{_escape(usage.endpoint)}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
