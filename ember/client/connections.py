"""``client.connections``: create or update, get, list, delete, and the secrets of one
(azure-ai-ml's ``ml_client.connections``; promptflow's ``pf.connections``)."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from ember.client.http import Http
from ember.entities.connections import Connection
from ember.specs.connections import resolve_env_refs


class ConnectionOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def _url(self, name: str = "", tail: str = "") -> str:
        return self._http.ws("/connections" + (f"/{quote(name, safe='')}" if name else "")
                             + tail)

    def create_or_update(self, connection: Connection) -> Connection:
        """Create the connection, or replace it (same type; a secret left out or ``******``
        keeps its stored value). ``${env:VAR}`` values are read from this process's
        environment first (InvalidInputError naming a variable that is not set). Returns it
        with secrets masked."""
        conn = resolve_env_refs(connection)
        body = {"type": conn.type, "configs": conn.configs, "secrets": conn.secrets,
                "tags": conn.tags}
        return Connection.from_dict(self._http.json("PUT", self._url(conn.name), json=body))

    def get(self, name: str, *, populate_secrets: bool = False) -> Connection:
        """The connection, secrets masked (``******``) unless ``populate_secrets`` (azure-ai-ml's
        flag), which reads them in clear."""
        if populate_secrets:
            return Connection.from_flat(self.list_secrets(name))
        return Connection.from_dict(self._http.json("GET", self._url(name)))

    def list(self) -> builtins.list[Connection]:
        """The workspace's connections by name, secrets masked."""
        return [Connection.from_dict(d) for d in self._http.json("GET", self._url())]

    def delete(self, name: str) -> None:
        self._http.request("DELETE", self._url(name))

    def list_secrets(self, name: str) -> dict[str, Any]:
        """The connection's plain form with secrets in clear, as a flow run takes it:
        ``{"name", "type", "api_key", "base_url", ...}`` or, for ``custom``, ``{"name",
        "type", "configs", "secrets"}`` (``ember.flows.connections.from_plain``)."""
        return self._http.json("POST", self._url(name, "/listsecrets"))  # type: ignore[no-any-return]
