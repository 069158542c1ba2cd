"""Accounts on the server: ``client.users``, ``client.tokens``, ``client.roles`` (the
workspace's role assignments), ``client.audit`` and ``client.whoami()``. Each returns the
server's JSON as plain dicts, as ``client.workspaces`` does; errors are Ember's error classes
(``PermissionDeniedError`` for a caller who may not, ``NotFoundError``,
``AlreadyExistsError``...), rebuilt by :mod:`ember.client.http`.
"""

from __future__ import annotations

import builtins
from typing import Any

import httpx

from ember.client.http import Http

_API = "/api/v1"
LOGIN_TOKEN_NAME = "ember login"

Record = dict[str, Any]


def whoami(http: Http) -> Record:
    """The caller: ``user``, ``is_admin``, ``kind`` (user, owner, password, job...),
    ``subject`` and its ``roles`` in every workspace."""
    return http.json("GET", f"{_API}/whoami")  # type: ignore[no-any-return]


def token_from_password(endpoint: str, username: str, password: str, *,
                        name: str = LOGIN_TOKEN_NAME,
                        expires_in_days: float | None = None,
                        transport: httpx.BaseTransport | None = None) -> Record:
    """Mint a token for ``username`` with its password (HTTP Basic, which the server takes
    as MLflow's clients send it): the new token's record, with the plain ``token``."""
    http = Http(endpoint, "", transport=transport)
    try:
        body: Record = {"name": name}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        # the request's own auth replaces any bearer token the client found for the endpoint
        return http.json("POST", f"{_API}/tokens", json=body,  # type: ignore[no-any-return]
                         auth=httpx.BasicAuth(username, password))
    finally:
        http.close()


class UserOperations:
    """Server accounts; creating, listing, disabling and enabling them needs a server admin,
    reading or changing one's own account does not."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, name: str, password: str | None = None,
               is_admin: bool = False) -> Record:
        """A new user; without a password it logs in with tokens only (an admin mints its
        first one: ``client.tokens.create(user=name)``)."""
        body = {"name": name, "password": password, "is_admin": is_admin}
        return self._http.json("POST", f"{_API}/users", json=body)  # type: ignore[no-any-return]

    def list(self) -> builtins.list[Record]:
        return self._http.json("GET", f"{_API}/users")  # type: ignore[no-any-return]

    def get(self, name: str) -> Record:
        return self._http.json("GET", f"{_API}/users/{name}")  # type: ignore[no-any-return]

    def disable(self, name: str) -> Record:
        """Disable the user: its tokens and password stop working until it is enabled."""
        return self._http.json(  # type: ignore[no-any-return]
            "POST", f"{_API}/users/{name}/disable")

    def enable(self, name: str) -> Record:
        return self._http.json(  # type: ignore[no-any-return]
            "POST", f"{_API}/users/{name}/enable")

    def set_password(self, name: str, password: str) -> Record:
        return self._http.json(  # type: ignore[no-any-return]
            "PUT", f"{_API}/users/{name}/password", json={"password": password})


class TokenOperations:
    """API tokens (``Authorization: Bearer``): the caller's own; a server admin's for anyone."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, name: str = "", expires_in_days: float | None = None,
               user: str | None = None) -> Record:
        """A new token: its record with the plain ``token``, which is never shown again.
        ``expires_in_days`` None: the server's default lifetime; ``user``: admins only."""
        body: Record = {"name": name}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        if user is not None:
            body["user"] = user
        return self._http.json("POST", f"{_API}/tokens", json=body)  # type: ignore[no-any-return]

    def list(self, user: str | None = None, all_users: bool = False) -> builtins.list[Record]:
        """Token records (never the tokens themselves): the caller's, ``user``'s or, with
        ``all_users``, everyone's (admins)."""
        params: dict[str, str] = {}
        if user is not None:
            params["user"] = user
        if all_users:
            params["all_users"] = "true"
        found: builtins.list[Record] = self._http.json("GET", f"{_API}/tokens", params=params)
        return [{k: v for k, v in t.items() if k != "token"} for t in found]

    def revoke(self, token_id: str) -> Record:
        """Revoke a token by its ``id``: it stops working at once. Returns its record."""
        return self._http.json(  # type: ignore[no-any-return]
            "DELETE", f"{_API}/tokens/{token_id}")


class RoleOperations:
    """The client's workspace's role assignments (Azure's built-in role names, e.g.
    ``"AzureML Data Scientist"``); the workspace's Owners change them."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def assign(self, user: str, role: str) -> Record:
        return self._http.json(  # type: ignore[no-any-return]
            "POST", self._http.ws("/roles"), json={"user": user, "role": role})

    def list(self, user: str | None = None) -> builtins.list[Record]:
        params = {} if user is None else {"user": user}
        return self._http.json(  # type: ignore[no-any-return]
            "GET", self._http.ws("/roles"), params=params)

    def remove(self, user: str, role: str) -> Record:
        return self._http.json(  # type: ignore[no-any-return]
            "DELETE", self._http.ws("/roles"), params={"user": user, "role": role})


class AuditOperations:
    """The audit log: every mutating request and every denied one."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def list(self, user: str | None = None, since: float | None = None, limit: int = 1000,
             all_workspaces: bool = False) -> builtins.list[Record]:
        """Entries, newest first: the client's workspace's (its
        Owners), or with ``all_workspaces`` every entry, server-level ones included (server
        admins). ``since``: seconds since the epoch."""
        params: dict[str, str | float | int] = {"limit": limit}
        if user is not None:
            params["user"] = user
        if since is not None:
            params["since"] = since
        path = f"{_API}/audit" if all_workspaces else self._http.ws("/audit")
        return self._http.json("GET", path, params=params)  # type: ignore[no-any-return]
