"""Invoking an endpoint as the signed-in caller: the request goes on to the router's scoring
URI with the endpoint's key, which never leaves the server.

This is what ``online_endpoints.invoke`` of the SDK does (fetch a key, POST to the scoring
URI), done on the server for callers that must not hold the key — the studio's Test tab and
chat playground. The routes that use it are declared ``secrets``: whoever may read the key may
also use it, and nobody else. The answer is streamed back as the router sends it, so a
language model's server-sent events reach the browser token by token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import Request
from starlette.responses import StreamingResponse

from ember.errors import ServerUnavailableError

# The router's answer headers worth passing on (the rest are hop-by-hop or the router's own).
_PASSED = ("content-type", "azureml-model-deployment", "x-request-id", "retry-after")
TIMEOUT = 200.0   # the SDK's invoke timeout: a language model may think a while


async def forward(request: Request, url: str, key: str,
                  deployment: str | None = None) -> StreamingResponse:
    """POST the request's body to ``url`` with ``key``; the router's answer, streamed."""
    headers = {"Authorization": f"Bearer {key}",
               "Content-Type": request.headers.get("content-type", "application/json")}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    body = await request.body()
    client = httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT, connect=10.0))
    try:
        answer = await client.send(client.build_request("POST", url, content=body,
                                                        headers=headers), stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise ServerUnavailableError(f"the endpoint router did not answer: {exc}") from None

    async def relayed() -> AsyncIterator[bytes]:
        # closed in a finally, not a background task: a caller who goes away mid-answer (the
        # playground's Stop) cancels the stream, and the router's connection must close too
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        finally:
            await answer.aclose()
            await client.aclose()

    passed = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED}
    return StreamingResponse(relayed(), status_code=answer.status_code, headers=passed)
