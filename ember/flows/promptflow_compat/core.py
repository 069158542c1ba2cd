"""``promptflow.core``: the names a flow's tool files import from it."""

from __future__ import annotations

from ember.flows.promptflow_compat._tool import ToolProvider, log_metric, tool

__all__ = ["ToolProvider", "log_metric", "tool"]
__version__ = "1.18.5+ember"
