"""The SDK's one HTTP transport: maps error bodies back to Ember's error classes."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from ember.credentials import auth_headers
from ember.errors import ServerUnavailableError, error_from_body


def _tls(base_url: str) -> ssl.SSLContext | bool:
    """httpx's default: a context with the system's CAs, loaded when the client is made (a
    few tens of milliseconds). A plain-http server needs none: this context has no CAs, so a
    TLS connection it were asked for would fail its verification rather than skip it."""
    if base_url.startswith("https://"):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class Http:
    def __init__(self, base_url: str, workspace: str, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None,
                 token: str | None = None) -> None:
        """``token``: the bearer token to send; None: the one ``ember.credentials`` finds for
        ``base_url`` (EMBER_TOKEN, ``ember login``, the embedded server's owner token)."""
        self.base_url = base_url.rstrip("/")
        self.workspace = workspace
        self._auth = ({"Authorization": f"Bearer {token}"} if token
                      else auth_headers(self.base_url))
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                   verify=_tls(self.base_url), headers=self._auth)

    @property
    def headers(self) -> dict[str, str]:
        """The headers every request carries (the token), for clients made beside this one."""
        return dict(self._auth)

    def ws(self, path: str) -> str:
        return f"/api/v1/workspaces/{self.workspace}{path}"

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.client.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(
                f"cannot reach the Ember server at {self.base_url}: {exc}") from exc
        if resp.status_code >= 400:
            try:
                body: Any = resp.json()
            except ValueError:
                body = resp.text
            raise error_from_body(resp.status_code, body)
        return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def close(self) -> None:
        self.client.close()
