"""The router's side of language-model endpoints: which paths go to a language-model worker,
how usage reports are read, and the relay of an event stream (``protocol.py``, "Router, for
language-model endpoints").

A stream is relayed chunk by chunk (one SSE event each) as it arrives. ``request_timeout_ms``
bounds each gap between chunks (the time the client takes to read is not counted). When the
worker goes away before its terminating chunk, the client gets one last event, an OpenAI error
(which the ``openai`` client raises as an ``APIError``), and the body ends normally: the client
cannot be sent a status any more, and a reset connection would read as a network fault. When
the client goes away, the worker's connection is closed so that it stops generating.
"""

from __future__ import annotations

import asyncio
import re

import orjson

from ember.serving.router.asgi import Receive, Send, openai_error_body
from ember.serving.router.upstream import BrokenResponse, Stream

# What follows /endpoints/<ws>/<endpoint>/ on the worker surface, besides "score".
_PATHS = frozenset({"chat/completions", "completions", "embeddings", "info"})
# A request target sent on verbatim: printable ASCII, no space (uvicorn already refuses more).
safe_target = re.compile(rb"[\x21-\x7e]*\Z").match
_USAGE_EVENT = re.compile(rb"^: usage (\d+) (\d+)", re.MULTILINE)


def is_model_path(rest: list[str]) -> bool:
    """Whether ``rest`` (the path parts after the endpoint) is on the worker surface."""
    if rest[0] == "v1":
        return len(rest) > 1 and bool(rest[1])
    return "/".join(rest) in _PATHS


def parse_usage(value: bytes | None) -> tuple[int, int]:
    """(prompt, completion) tokens of an ``x-ember-usage`` value; (0, 0) if absent or bad."""
    if value:
        prompt, _, completion = value.partition(b" ")
        if prompt.isdigit() and completion.strip().isdigit():
            return int(prompt), int(completion)
    return 0, 0


def error_event(deployment: str, reason: str) -> bytes:
    body = openai_error_body(502, "WORKER_LOST", f"deployment {deployment}: the model server "
                             f"ended the stream early ({reason})")
    return b"data: " + orjson.dumps({"error": body}) + b"\n\n"


async def relay(send: Send, receive: Receive, stream: Stream, headers: list[tuple[bytes, bytes]],
                deployment: str, gap_s: float) -> tuple[int, bytes | None]:
    """Send ``stream`` to the client as it arrives; return (status to record, usage report).

    The status is the worker's, or 502 when it went away mid-stream, 504 when a gap ran past
    ``gap_s``. The stream is ended or aborted on return; the caller still holds the slot.
    """
    await send({"type": "http.response.start", "status": stream.status,
                "headers": [(b"content-type", stream.ctype), (b"cache-control", b"no-cache"),
                            *headers]})
    loop = asyncio.get_running_loop()
    watcher = loop.create_task(_watch_client(receive, stream))
    usage = stream.usage
    status = stream.status
    failure = ""
    finished = False   # the worker sent [DONE]: a later failure loses nothing
    try:
        async with asyncio.timeout(None) as timer:
            while not watcher.done():
                timer.reschedule(loop.time() + gap_s)
                chunk = await stream.next_chunk()
                if chunk is None:
                    break
                timer.reschedule(None)
                if b": usage " in chunk:
                    found = _USAGE_EVENT.search(chunk)
                    if found:
                        usage = found.group(1) + b" " + found.group(2)
                elif b"data: [DONE]" in chunk:
                    finished = True
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except TimeoutError:
        status, failure = 504, f"no event within {round(gap_s * 1000)} ms"
    except BrokenResponse as exc:
        status, failure = 502, str(exc)
    finally:
        watcher.cancel()
        stream.abort()   # a no-op after the terminating chunk
    if watcher.done() and not watcher.cancelled():   # the client left: nobody to tell
        return stream.status, usage
    last = error_event(deployment, failure) if failure and not finished else b""
    await send({"type": "http.response.body", "body": last, "more_body": False})
    return (stream.status if finished else status), usage


async def _watch_client(receive: Receive, stream: Stream) -> None:
    """Return when the client disconnects, closing the worker's connection first."""
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.abort()
