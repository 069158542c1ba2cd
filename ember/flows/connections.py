"""Connection objects a flow's tools receive, and where a flow run gets them from.

A connection's *plain* form is the Azure ML / promptflow YAML shape with its secrets in clear:

    {"name": "local", "type": "open_ai", "api_key": "...", "base_url": "http://.../v1",
     "organization": null}
    {"name": "aoai", "type": "azure_open_ai", "api_key": "...", "api_base": "http://...",
     "api_type": "azure", "api_version": "2024-02-01"}
    {"name": "mine", "type": "custom", "configs": {"endpoint": "..."}, "secrets": {"token": "..."}}

The server keeps connections (secrets encrypted at rest) and hands the plain form only to a flow
run that needs it (``POST .../connections/<name>/listsecrets``). The classes below are what a
Python tool annotated with ``promptflow.connections.OpenAIConnection`` (or the others) receives;
``promptflow_compat`` serves them under promptflow's names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from ember.errors import InvalidInputError, NotFoundError

# YAML type → class name (promptflow's names; the connection store's ``connectionType``).
TYPE_NAMES = {"open_ai": "OpenAIConnection", "azure_open_ai": "AzureOpenAIConnection",
              "custom": "CustomConnection", "serp": "SerpConnection",
              "serverless": "ServerlessConnection"}


class _Connection:
    type = ""

    def __init__(self, name: str | None = None, **fields: Any) -> None:
        self.name = name
        for key, value in fields.items():
            setattr(self, key, value)

    def __repr__(self) -> str:  # never shows a secret
        return f"{type(self).__name__}(name={self.name!r})"


class OpenAIConnection(_Connection):
    """``open_ai``: ``api_key``, ``organization``, ``base_url`` (any OpenAI-compatible server,
    an Ember language-model deployment included)."""

    type = "open_ai"

    def __init__(self, api_key: str = "", organization: str | None = None,
                 base_url: str | None = None, name: str | None = None, **extra: Any) -> None:
        super().__init__(name=name, api_key=api_key, organization=organization,
                         base_url=base_url, **extra)


class AzureOpenAIConnection(_Connection):
    type = "azure_open_ai"

    def __init__(self, api_key: str = "", api_base: str = "", api_type: str = "azure",
                 api_version: str = "2024-02-01", name: str | None = None,
                 **extra: Any) -> None:
        super().__init__(name=name, api_key=api_key, api_base=api_base, api_type=api_type,
                         api_version=api_version, **extra)


class ServerlessConnection(_Connection):
    type = "serverless"

    def __init__(self, api_key: str = "", api_base: str = "", name: str | None = None,
                 **extra: Any) -> None:
        super().__init__(name=name, api_key=api_key, api_base=api_base, **extra)


class SerpConnection(_Connection):
    type = "serp"

    def __init__(self, api_key: str = "", name: str | None = None, **extra: Any) -> None:
        super().__init__(name=name, api_key=api_key, **extra)


class CustomConnection(_Connection, Mapping[str, Any]):
    """``custom``: ``configs`` and ``secrets``, both readable as attributes and as keys
    (``conn.endpoint``, ``conn["token"]``), as promptflow's class allows."""

    type = "custom"

    def __init__(self, secrets: dict[str, str] | None = None,
                 configs: dict[str, Any] | None = None, name: str | None = None,
                 **extra: Any) -> None:
        self.name = name
        self.secrets = dict(secrets or {})
        self.configs = dict(configs or {})
        self.configs.update(extra)

    def _all(self) -> dict[str, Any]:
        return {**self.configs, **self.secrets}

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key in ("secrets", "configs", "name"):
            raise AttributeError(key)
        try:
            return self._all()[key]
        except KeyError:
            raise AttributeError(f"custom connection {self.name!r} has no key {key!r}") from None

    def __getitem__(self, key: str) -> Any:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


CLASSES: dict[str, type[_Connection]] = {
    c.type: c for c in (OpenAIConnection, AzureOpenAIConnection, CustomConnection,
                        SerpConnection, ServerlessConnection)}


def from_plain(plain: Mapping[str, Any]) -> _Connection:
    """The connection object for a plain connection (see the module docstring)."""
    kind = plain.get("type")
    cls = CLASSES.get(str(kind))
    if cls is None:
        raise InvalidInputError(f"connection {plain.get('name')!r} has type {kind!r}; known "
                                f"types: {', '.join(sorted(CLASSES))}")
    fields = {k: v for k, v in plain.items() if k not in ("type", "$schema", "module")}
    return cls(**fields)


class ConnectionProvider(Protocol):
    """Where a flow run gets its connections: ``get(name)`` returns the plain form with secrets
    in clear, or raises NotFoundError naming the connection."""

    def get(self, name: str) -> dict[str, Any]: ...


class StaticConnections:
    """Connections given as plain forms (a served flow's resolved connections, a test's)."""

    def __init__(self, plains: Mapping[str, Mapping[str, Any]]) -> None:
        self._plains = {name: dict(p) for name, p in plains.items()}

    def get(self, name: str) -> dict[str, Any]:
        try:
            return {"name": name, **self._plains[name]}
        except KeyError:
            raise NotFoundError(f"connection {name!r} not found") from None
