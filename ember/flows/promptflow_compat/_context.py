"""What the executor tells user code through context variables: the tracer of the running
line (``promptflow.tracing.trace`` opens its spans there) and the metrics sink of the running
aggregation (``log_metric`` writes there). Context variables follow a node into its worker
thread (``asyncio.to_thread`` copies the context), so concurrent lines never mix."""

from __future__ import annotations

import contextvars
from typing import Any

current_tracer: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "ember_flow_tracer", default=None)
# key -> value, set while aggregation nodes run; None outside an aggregation.
metrics_sink: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "ember_flow_metrics", default=None)
