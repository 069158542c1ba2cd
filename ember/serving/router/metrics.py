"""Per-deployment request metrics of the router, as JSON and as Prometheus text.

Latency percentiles come from a ring of the last 10,000 samples per deployment (exact over that
window, so they follow the current behaviour of a deployment rather than its whole life); the
request/error/status counters and the latency sum are cumulative. Recording is O(1) on the event
loop thread; percentiles are computed (one sort) only when metrics are read.
"""

from __future__ import annotations

import math

from ember.serving.protocol import DeploymentMetrics

WINDOW = 10_000
QUANTILES = (0.5, 0.95, 0.99)


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


class MetricsRegistry:
    """Every deployment's stats, keyed by ("<ws>/<endpoint>", deployment).

    Stats outlive table swaps (a new table reuses the object of an unchanged deployment) and are
    dropped when their deployment leaves the table: the control plane always pushes whole tables,
    so a deployment missing from one has been deleted.
    """

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], DeploymentStats] = {}

    def existing_or_new(self, endpoint_key: str, deployment: str) -> DeploymentStats:
        """The stats object in use for this deployment, else a new one (not yet registered)."""
        stats = self._stats.get((endpoint_key, deployment))
        if stats is None:
            workspace, _, endpoint = endpoint_key.partition("/")
            stats = DeploymentStats(workspace, endpoint, deployment)
        return stats

    def replace(self, stats: dict[tuple[str, str], DeploymentStats]) -> None:
        """Report exactly these deployments from now on (the new table's)."""
        self._stats = stats

    def to_json(self) -> dict[str, dict[str, DeploymentMetrics]]:
        out: dict[str, dict[str, DeploymentMetrics]] = {}
        for (endpoint_key, deployment), stats in sorted(self._stats.items()):
            out.setdefault(endpoint_key, {})[deployment] = stats.snapshot()
        return out

    def to_prometheus(self, inflight: dict[str, int]) -> str:
        lines = [
            ("# HELP ember_endpoint_requests_total Scoring requests answered, by deployment and "
             "HTTP status (mirrored copies count for the mirrored deployment)."),
            "# TYPE ember_endpoint_requests_total counter",
        ]
        ordered = sorted(self._stats.items())
        for _key, stats in ordered:
            base = _labels(stats)
            for code, n in sorted(stats.status_counts.items()):
                lines.append(f'ember_endpoint_requests_total{{{base},code="{code}"}} {n}')
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


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
