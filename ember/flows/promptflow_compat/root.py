"""``promptflow`` itself. ``from promptflow import tool`` still works. promptflow logs a
deprecation warning for it; Ember runs such flows unchanged and keeps supporting the form, so the
line is only a debug message (``ember.flows`` logger), not noise on every flow test."""

from __future__ import annotations

import logging
from typing import Any

__version__ = "1.18.5+ember"
_DEPRECATED = {"tool", "log_metric", "ToolProvider", "log_flow_metric"}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        from ember.flows.promptflow_compat import _tool
        logging.getLogger("ember.flows").debug(
            "'from promptflow import %s' is deprecated and will be removed in the future. "
            "Use 'from promptflow.core import %s' instead.", name,
            "log_metric" if name == "log_flow_metric" else name)
        # Cached so one import logs once (the import system looks the name up twice).
        value = getattr(_tool, "log_metric" if name == "log_flow_metric" else name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'promptflow' has no attribute {name!r}")
