"""``tool``, ``ToolProvider`` and ``log_metric`` as promptflow's ``promptflow.core`` has them.

``tool`` only marks the function (``__ember_tool__``, and ``__tool`` as promptflow's own
decorator sets, so the loader finds either); it returns the function itself, still callable.
promptflow also wraps it in a trace span; Ember's executor opens the node's span instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar, overload

from ember.flows.promptflow_compat._context import metrics_sink

log = logging.getLogger("promptflow")
F = TypeVar("F", bound=Callable[..., Any])

TOOL_TYPES = ("python", "llm", "prompt", "custom_llm", "csharp")


@overload
def tool(func: F) -> F: ...


@overload
def tool(func: None = None, *, name: str | None = None, description: str | None = None,
         type: str | None = None, input_settings: Any = None,
         streaming_option_parameter: str | None = None, **kwargs: Any) -> Callable[[F], F]: ...


def tool(func: Any = None, *, name: str | None = None, description: str | None = None,
         type: str | None = None, input_settings: Any = None,
         streaming_option_parameter: str | None = None, **kwargs: Any) -> Any:
    """Mark a function (or a ``ToolProvider`` method) as a flow tool; bare or with arguments."""
    if type is not None and type not in TOOL_TYPES:
        from ember.flows.promptflow_compat.exceptions import UserErrorException
        raise UserErrorException(f"tool type {type!r} is not one of {', '.join(TOOL_TYPES)}")

    def mark(f: F) -> F:
        info = {"name": name, "description": description, "type": type,
                "input_settings": input_settings,
                "streaming_option_parameter": streaming_option_parameter, **kwargs}
        f.__ember_tool__ = info  # type: ignore[attr-defined]
        setattr(f, "__tool", None)   # promptflow's own mark; setattr keeps the name unmangled
        return f

    return mark(func) if func is not None else mark


class ToolProvider:
    """Base class of class tools: ``__init__`` takes the node inputs it names (connections
    among them), a ``@tool`` method the rest."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def log_metric(key: str, value: float, variant_id: str | None = None) -> None:
    """Record a metric of the running aggregation node. promptflow honours it only in
    aggregation nodes; elsewhere it warns and records nothing. ``variant_id`` is accepted and
    ignored: one run has one variant, and metrics are ``{key: value}``."""
    sink = metrics_sink.get()
    if sink is None:
        log.warning("log_metric(%r) called outside an aggregation node; ignored", key)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            log.warning("log_metric(%r): value %r is not a number; ignored", key, value)
            return
    if isinstance(value, float) and math.isnan(value):
        log.warning("log_metric(%r): value is NaN; recorded as is", key)
    # ints stay ints, as promptflow's metrics.json shows them ({"n": 1}).
    sink[key] = value
