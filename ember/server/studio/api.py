"""The studio's one data path: the REST API the SDK uses, called in process.

A page handler reads through :class:`StudioApi`, which sends the request through the whole
app (middleware, the one access check, the same routes) with the session's token, over
httpx's ASGI transport: what a page shows is exactly what that caller's SDK would get. Errors
come back as the Ember errors the SDK raises (``error_from_body``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Depends, Request

from ember.errors import error_from_body
from ember.server.studio.session import Session, page_session

API = "/api/v1"


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class StudioApi:
    def __init__(self, client: httpx.AsyncClient, workspace: str | None = None) -> None:
        self._client = client
        self.workspace = workspace

    def ws(self, path: str, workspace: str | None = None) -> str:
        """A workspace route's path: ``ws("/jobs")`` is ``/api/v1/workspaces/<ws>/jobs``."""
        return f"{API}/workspaces/{quote(workspace or self.workspace or '')}{path}"

    async def request(self, method: str, path: str, *, params: Any = None,
                      json: Any = None) -> Any:
        response = await self._client.request(method, path, params=params, json=json)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"message": response.text}
            raise error_from_body(response.status_code, body)
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return await self.request("GET", path, params=clean)

    async def get_with_headers(self, path: str, params: Any = None) -> tuple[Any, httpx.Headers]:
        """A GET's body and its response headers (a list's total travels in a header);
        ``params`` may repeat a key: a list of pairs."""
        response = await self._client.get(path, params=params)
        if response.status_code >= 400:
            raise error_from_body(response.status_code, _json_or_text(response))
        return (response.json() if response.content else None), response.headers

    async def post(self, path: str, json: Any = None, *,
                   headers: dict[str, str] | None = None) -> Any:
        response = await self._client.post(path, json=json, headers=headers)
        if response.status_code >= 400:
            raise error_from_body(response.status_code, _json_or_text(response))
        return response.json() if response.content else None

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"message": response.text}


def client_for(request: Request, authorization: str | None) -> httpx.AsyncClient:
    """An in-process client of this app; ``authorization``: the header it sends."""
    host = request.client.host if request.client else "127.0.0.1"
    port = request.client.port if request.client else 0
    transport = httpx.ASGITransport(app=request.app, client=(host, port))
    headers = {"authorization": authorization} if authorization else {}
    return httpx.AsyncClient(transport=transport, base_url="http://studio.internal",
                             headers=headers, timeout=60.0)


async def studio_api(request: Request,
                     session: Session = Depends(page_session)) -> AsyncIterator[StudioApi]:
    """A page's API client, with the caller's session token and the page's workspace."""
    authorization = f"Bearer {session.token}" if session.token else None
    async with client_for(request, authorization) as client:
        yield StudioApi(client, request.path_params.get("workspace"))
