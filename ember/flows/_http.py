"""A small keep-alive HTTP client on the standard library, for a flow run's calls to its
workspace server (connections, traces, metrics).

httpx would do, but importing it (and the SSL context its client builds) took a batch run's
process a tenth of a second before its first line, about a fifth of a 1,000-line Python run.
The calls here are few, JSON and mostly to loopback; a plain ``http.client`` connection does
them, HTTPS included (its SSL context is only made for an https URL).
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

from ember.credentials import auth_headers


class HttpError(ConnectionError):
    """The server could not be reached, or the connection broke mid-request."""


class Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Http:
    """One connection to ``base_url``'s host, reused by successive requests (one at a time)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0,
                 headers: dict[str, str] | None = None) -> None:
        """``headers`` go with every request, after the server's token (``ember.credentials``:
        EMBER_TOKEN — a job's own —, ``ember login``, the embedded server's owner token)."""
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http(s) URL")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._timeout = timeout
        # the token for this server (ember.credentials) unless the caller gave one
        self._headers = {k.lower(): v for k, v in
                         {**auth_headers(base_url), **(headers or {})}.items()}
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def post(self, url: str, *, json_body: Any = None,
             headers: dict[str, str] | None = None) -> Response:
        """POST ``url`` (absolute, on this client's host); a dropped keep-alive connection is
        opened again once. Raises HttpError when the server cannot be reached."""
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = b"" if json_body is None else json.dumps(json_body).encode()
        sent = {**self._headers, **{k.lower(): v for k, v in (headers or {}).items()}}
        if json_body is not None:
            sent.setdefault("content-type", "application/json")
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    conn.request("POST", path, body=body, headers=sent)
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    self._conn = None
                    if attempt == 2 or isinstance(exc, TimeoutError):
                        raise HttpError(str(exc) or type(exc).__name__) from None
                    continue   # a keep-alive connection the server closed: once more
                if resp.will_close:
                    conn.close()
                    self._conn = None
                return Response(resp.status, data)
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
