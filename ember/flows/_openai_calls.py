"""The openai client side of llm nodes: cached clients, the retry policy, streaming.

Apart from ``llm.py`` (which decides *what* to send) because this is *how* it is sent; see
``llm.py``'s docstring for the policy and its environment variables.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import http
import json
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx
import openai

from ember.errors import EndpointRequestError
from ember.flows import trace
from ember.flows.connections import from_plain

T = TypeVar("T")


def client_kwargs(plain: Mapping[str, Any]) -> dict[str, Any]:
    conn = from_plain(plain)
    # A local server without authentication: the client refuses an empty key.
    key = getattr(conn, "api_key", "") or "none"
    if conn.type == "azure_open_ai":
        return {"api_key": key, "azure_endpoint": getattr(conn, "api_base", ""),
                "api_version": getattr(conn, "api_version", None) or "2024-02-01"}
    if conn.type == "serverless":
        base = str(getattr(conn, "api_base", "")).rstrip("/")
        # As promptflow-tools does, so a serverless endpoint's URL works with the OpenAI SDK.
        return {"api_key": key, "base_url": base if base.endswith("/v1") else base + "/v1"}
    return {"api_key": key, "base_url": getattr(conn, "base_url", None) or None,
            "organization": getattr(conn, "organization", None) or None}


def _cache_key(plain: Mapping[str, Any]) -> str:
    # A digest, so the cache's keys do not hold secrets in clear.
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()


_lock = threading.Lock()
_sync_clients: dict[str, openai.OpenAI] = {}
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, openai.AsyncOpenAI]] \
    = weakref.WeakKeyDictionary()


def async_client(plain: Mapping[str, Any]) -> openai.AsyncOpenAI:
    loop = asyncio.get_running_loop()
    key = _cache_key(plain)
    with _lock:
        per_loop = _async_clients.setdefault(loop, {})
        client = per_loop.get(key)
        if client is None:
            kwargs = client_kwargs(plain)
            cls = openai.AsyncAzureOpenAI if "azure_endpoint" in kwargs else openai.AsyncOpenAI
            client = per_loop[key] = cls(**kwargs, max_retries=0)
        return client


async def close_clients() -> None:
    """Close the async clients of the running event loop (call before the loop ends, so their
    connections close cleanly instead of being dropped with the loop)."""
    with _lock:
        clients = list(_async_clients.pop(asyncio.get_running_loop(), {}).values())
    for client in clients:
        await client.close()


def sync_client(plain: Mapping[str, Any]) -> openai.OpenAI:
    key = _cache_key(plain)
    with _lock:
        client = _sync_clients.get(key)
        if client is None:
            kwargs = client_kwargs(plain)
            cls = openai.AzureOpenAI if "azure_endpoint" in kwargs else openai.OpenAI
            client = _sync_clients[key] = cls(**kwargs, max_retries=0)
        return client


# ---- retries -------------------------------------------------------------------------------

def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# Awaited between retries; a module attribute so tests can observe the waits.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _scrub(text: str, plain: Mapping[str, Any]) -> str:
    key = plain.get("api_key")
    if isinstance(key, str) and len(key) >= 4:
        text = text.replace(key, "***")
    return text[:500]


def _status_text(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)
    return exc.message


async def with_retries(what: str, call: Callable[[], Awaitable[T]], timeout: float,
                       plain: Mapping[str, Any]) -> T:
    max_retries = int(_env_float("EMBER_FLOW_LLM_MAX_RETRIES", 5))
    max_wait = _env_float("EMBER_FLOW_LLM_MAX_WAIT_S", 300)
    backoff = _env_float("EMBER_FLOW_LLM_BACKOFF_S", 1)
    waited = 0.0
    kinds: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        try:
            return await call()
        except openai.APIStatusError as exc:
            status = exc.status_code
            quota = status == 429 and getattr(exc, "code", None) == "insufficient_quota"
            if quota or (status != 429 and status < 500):
                raise EndpointRequestError(
                    f"{what}: the server answered {_status_text(status)}: "
                    f"{_scrub(_server_message(exc), plain)}", status=status,
                    endpoint_code=str(getattr(exc, "code", "") or "")) from None
            kinds.append(_status_text(status))
            wait = _retry_after(exc)
            last: EndpointRequestError = EndpointRequestError(
                f"{what}: the server answered {_status_text(status)}", status=status)
        except openai.APITimeoutError:
            kinds.append("timeout")
            last = EndpointRequestError(f"{what}: no answer within {timeout:g} s", status=504)
        except openai.APIConnectionError as exc:
            kinds.append("connection")
            cause = exc.__cause__ or exc
            last = EndpointRequestError(
                f"{what}: cannot reach the server: {_scrub(str(cause), plain)}", status=502)
        if wait is None:
            wait = min(60.0, backoff * 2 ** (attempt - 1))
        if attempt > max_retries or waited + wait > max_wait:
            if len(set(kinds)) == 1 and len(kinds) > 1:
                times = f"{len(kinds)} times"
                if kinds[0] == "timeout":
                    last.message = f"{last.message} ({times})"
                else:
                    last.message = f"{last.message} {times}"
            elif len(kinds) > 1:
                last.message = f"{last.message} (after {len(kinds)} attempts: {', '.join(kinds)})"
            if attempt <= max_retries:
                last.message += f"; gave up: the next wait would pass {max_wait:g} s of backoff"
            last.args = (last.message,)
            raise last
        await _sleep(wait)
        waited += wait


# ---- streaming -----------------------------------------------------------------------------

async def stream_open(what: str, client: openai.OpenAI, api: str, request: dict[str, Any],
                      timeout: float, plain: Mapping[str, Any]) -> Any:
    create = client.chat.completions.create if api == "chat" else client.completions.create
    kwargs: dict[str, Any] = {**request, "stream": True,
                              "stream_options": {"include_usage": True}}

    def open_stream() -> Any:
        try:
            return create(**kwargs, timeout=timeout)
        except openai.BadRequestError as exc:
            # Older servers and Azure api-versions refuse stream_options: stream without usage.
            if "stream_options" not in str(exc):
                raise
            kwargs.pop("stream_options", None)
            return create(**kwargs, timeout=timeout)

    return await with_retries(what, lambda: asyncio.to_thread(open_stream), timeout, plain)


def pieces(stream: Any, span: trace.Span, api: str, what: str,
           plain: Mapping[str, Any]) -> Iterator[str]:
    """The text deltas of an open stream; completes the span when the stream ends."""
    def generate() -> Iterator[str]:
        parts: list[str] = []
        try:
            for chunk in stream:
                if getattr(chunk, "model", None) and "llm.response.model" not in span.attributes:
                    span.set_attribute("llm.response.model", chunk.model)
                if getattr(chunk, "usage", None):
                    set_usage(span, chunk.usage)
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                text = choice.delta.content if api == "chat" else choice.text
                if text:
                    parts.append(text)
                    yield text
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            # The stream's body is read by httpx directly: its errors arrive unwrapped.
            err = EndpointRequestError(f"{what}: the stream broke off: "
                                       f"{_scrub(str(exc), plain)}", status=502)
            span.record_error(err)
            raise err from None
        finally:
            stream.close()
            span.set_outputs("".join(parts))
            span.end_ns = time.time_ns()
    return generate()


def set_usage(span: trace.Span, usage: Any) -> None:
    if usage is not None:
        span.set_token_usage(int(usage.prompt_tokens or 0),
                             int(getattr(usage, "completion_tokens", 0) or 0))
