"""Connections: the credentials and addresses a prompt flow's tools use (``pf connection``,
``az ml connection``).

A connection is held in one normalised form whatever its type: ``configs`` (the fields that are
not secret) and ``secrets`` (the ones that are; masked as ``******`` on every read but
``listsecrets``). Users write the *flat* form of promptflow's YAML, which
:meth:`Connection.flat` / :meth:`Connection.from_flat` convert: a typed connection keeps its
fields at the top level (``api_key``, ``base_url``...), a ``custom`` one keeps ``configs`` and
``secrets`` as mappings. The flat form with secrets in clear is what a flow run receives
(``ember.flows.connections.from_plain``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ember.entities.codec import from_plain
from ember.errors import InvalidInputError

MASK = "******"          # promptflow's scrubbed value; sent back in an update it means "keep"
CUSTOM = "custom"
# Keys of the flat form that are not fields: the YAML's schema line, what `pf connection show`
# prints (so its output can be fed back), and Ember's tags.
META_KEYS = ("$schema", "name", "type", "module", "tags", "created_date",
             "last_modified_date", "expiry_time")


@dataclass(frozen=True)
class ConnectionKind:
    """What a connection type holds: its secret fields, its other fields, which are required
    and the defaults promptflow fills in."""

    type: str
    class_name: str                       # promptflow's class (and connection store) name
    secrets: tuple[str, ...] = ("api_key",)
    configs: tuple[str, ...] = ()
    required: tuple[str, ...] = ("api_key",)
    defaults: Mapping[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        return self.secrets + self.configs


KINDS: dict[str, ConnectionKind] = {k.type: k for k in (
    ConnectionKind("open_ai", "OpenAIConnection", configs=("organization", "base_url")),
    ConnectionKind("azure_open_ai", "AzureOpenAIConnection",
                   configs=("api_base", "api_type", "api_version", "auth_mode", "resource_id"),
                   required=("api_key", "api_base"),
                   defaults={"api_type": "azure", "api_version": "2024-02-01",
                             "auth_mode": "key"}),
    ConnectionKind("serverless", "ServerlessConnection", configs=("api_base",),
                   required=("api_key", "api_base")),
    ConnectionKind("serp", "SerpConnection"),
    ConnectionKind("cognitive_search", "CognitiveSearchConnection",
                   configs=("api_base", "api_version"), required=("api_key", "api_base"),
                   defaults={"api_version": "2023-11-01"}),
    ConnectionKind("azure_content_safety", "AzureContentSafetyConnection",
                   configs=("endpoint", "api_version", "api_type"),
                   required=("api_key", "endpoint"),
                   defaults={"api_version": "2023-10-01", "api_type": "Content Safety"}),
    ConnectionKind("form_recognizer", "FormRecognizerConnection",
                   configs=("endpoint", "api_version", "api_type"),
                   required=("api_key", "endpoint"),
                   defaults={"api_version": "2023-07-31", "api_type": "Form Recognizer"}),
    ConnectionKind("azure_ai_services", "AzureAIServicesConnection",
                   configs=("endpoint", "auth_mode"), required=("api_key", "endpoint"),
                   defaults={"auth_mode": "key"}),
    ConnectionKind("qdrant", "QdrantConnection", configs=("api_base",),
                   required=("api_key", "api_base")),
    ConnectionKind("weaviate", "WeaviateConnection", configs=("api_base",),
                   required=("api_key", "api_base")),
    # custom: free-form configs and secrets; promptflow requires at least one secret
    ConnectionKind(CUSTOM, "CustomConnection", secrets=(), required=()),
)}


def kind_of(type_: str, name: str = "") -> ConnectionKind:
    """The kind of a connection type; raises InvalidInputError listing the known types."""
    kind = KINDS.get(type_)
    if kind is None:
        who = f"connection {name!r} has " if name else ""
        raise InvalidInputError(f"{who}unknown connection type {type_!r}; known types: "
                                f"{', '.join(sorted(KINDS))}")
    return kind


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds).isoformat() if seconds else ""


@dataclass
class Connection:
    """A connection in its normalised form. Build one from the flat YAML shape with
    :meth:`from_flat`, or directly: ``Connection(name="llm", type="open_ai",
    configs={"base_url": "http://127.0.0.1:8000/v1"}, secrets={"api_key": "sk-..."})``.

    A secret value may be ``${env:VAR}``: the SDK and the CLI replace it with the variable's
    value before sending (the server never reads its own environment for it)."""

    name: str
    type: str = CUSTOM
    configs: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # read-only, seconds since the epoch
    creation_time: float = 0.0
    last_modified_time: float = 0.0

    def __repr__(self) -> str:   # a connection printed in a log or a traceback shows no secret
        return (f"Connection(name={self.name!r}, type={self.type!r}, configs={self.configs!r}, "
                f"secrets={sorted(self.secrets)!r})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Connection:
        return from_plain(cls, d)

    def masked(self) -> Connection:
        """A copy whose secret values are ``******``."""
        return replace(self, secrets={k: MASK for k in self.secrets}, configs=dict(self.configs),
                       tags=dict(self.tags))

    def flat(self, *, shown: bool = False) -> dict[str, Any]:
        """promptflow's shape: ``{"name", "type", <fields>}`` for a typed connection (every
        field of its type, ``None`` when unset; left out when ``shown``), ``{"name", "type", "configs", "secrets"}`` for
        a custom one. ``shown`` adds what ``pf connection show`` prints besides (``tags`` when
        there are some, ``created_date``, ``last_modified_date``); without it this is the plain
        form a flow run takes (``ember.flows.connections.from_plain``). Secrets are as this
        object holds them."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        kind = KINDS.get(self.type)
        if kind is None or kind.type == CUSTOM:
            out["configs"] = dict(self.configs)
            out["secrets"] = dict(self.secrets)
        else:
            for key in kind.fields:
                value = self.secrets.get(key, self.configs.get(key))
                if value is not None or not shown:   # pf's show leaves unset fields out
                    out[key] = value
        if shown:
            if self.tags:
                out["tags"] = dict(self.tags)
            out["created_date"] = _iso(self.creation_time)
            out["last_modified_date"] = _iso(self.last_modified_time)
        return out

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> Connection:
        """The connection of a flat form (see :meth:`flat`). Raises InvalidInputError for an
        unknown type or a key its type does not have, naming it; values are taken as given
        (the service checks them)."""
        name = str(flat.get("name") or "")
        kind = kind_of(str(flat.get("type") or ""), name)
        unknown = [k for k in flat if k not in META_KEYS and k not in
                   (("configs", "secrets") if kind.type == CUSTOM else kind.fields)]
        if unknown:
            raise InvalidInputError(
                f"connection {name!r} of type {kind.type} has no key {unknown[0]!r}; its keys: "
                f"{', '.join(kind.fields or ('configs', 'secrets'))}")
        tags = dict(flat.get("tags") or {})
        if kind.type == CUSTOM:
            return cls(name=name, type=kind.type, configs=dict(flat.get("configs") or {}),
                       secrets=dict(flat.get("secrets") or {}), tags=tags)
        given = {k: flat[k] for k in kind.fields if flat.get(k) is not None}
        return cls(name=name, type=kind.type, tags=tags,
                   configs={k: v for k, v in given.items() if k in kind.configs},
                   secrets={k: v for k, v in given.items() if k in kind.secrets})
