"""``promptflow.tracing``: ``trace`` opens a span in the running line's trace (nothing outside a
flow run); ``start_trace`` is a no-op (Ember's executor always traces)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ember.flows.promptflow_compat._context import current_tracer

F = TypeVar("F", bound=Callable[..., Any])


def start_trace(*args: Any, **kwargs: Any) -> None:
    return None


def _inputs(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), **kwargs}
    return {k: v for k, v in bound.arguments.items() if k != "self"}


def trace(func: Any = None, **options: Any) -> Any:
    """Decorate a function (sync or async) so each call is a span under the current one."""

    def wrap(f: F) -> F:
        name = getattr(f, "__qualname__", getattr(f, "__name__", "function"))
        if inspect.iscoroutinefunction(f):
            @functools.wraps(f)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                tracer = current_tracer.get()
                if tracer is None:
                    return await f(*args, **kwargs)
                with tracer.span(name, "UNKNOWN", inputs=_inputs(f, args, kwargs),
                                 attributes={"function": name}) as span:
                    result = await f(*args, **kwargs)
                    span.set_outputs(result)
                    return result
            return run_async  # type: ignore[return-value]

        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            tracer = current_tracer.get()
            if tracer is None:
                return f(*args, **kwargs)
            with tracer.span(name, "UNKNOWN", inputs=_inputs(f, args, kwargs),
                             attributes={"function": name}) as span:
                result = f(*args, **kwargs)
                span.set_outputs(result)
                return result
        return run  # type: ignore[return-value]

    return wrap(func) if func is not None else wrap


class ThreadPoolExecutorWithContext(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context (spans nest)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        import contextvars
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)


__all__ = ["ThreadPoolExecutorWithContext", "start_trace", "trace"]
