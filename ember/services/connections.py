"""Connections: the rules (names, types, required fields), secrets sealed at rest, masked reads.

Secrets are sealed with the server's key (``_secrets.py``) before they reach the store, and
opened only to merge an update or to answer :meth:`ConnectionService.list_secrets` (what a flow
run asks for). Every other read shows them as ``******``. No message raised here contains a
secret value: errors name connections, keys and environment variables only.

``create_or_update`` is a whole replacement (``PUT``) with one exception: a secret left out, or
sent back as ``******`` (what ``show`` printed), keeps its stored value, so a connection can be
shown, edited and sent back, and ``--set base_url=...`` needs no secret.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ember.entities.connections import CUSTOM, MASK, Connection, ConnectionKind, kind_of
from ember.entities.names import check_name
from ember.errors import ConflictError, InvalidInputError, NotFoundError, UnsupportedError
from ember.services._secrets import SecretBox
from ember.specs.connections import ENV_REF
from ember.store.connections import ConnectionStore

# Auth modes promptflow offers besides keys need Azure Entra ID tokens.
KEY_AUTH_ONLY = ("auth_mode {mode!r} needs Azure Entra ID tokens; Ember's connections "
                 "authenticate with keys (auth_mode: key)")


class ConnectionService:
    def __init__(self, store: ConnectionStore, box: SecretBox,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.box = box
        self.clock = clock

    def create_or_update(self, workspace: str, conn: Connection) -> Connection:
        """Create the connection, or replace an existing one of the same type (secrets left
        out or ``******`` keep their value). Returns it masked. Raises InvalidInputError for a
        bad name, an unknown type or key, a missing required field or an unresolved
        ``${env:VAR}``; ConflictError when the name holds a connection of another type."""
        check_name("connection", conn.name)
        kind = kind_of(conn.type, conn.name)
        configs, given = _split(conn, kind)
        try:
            old, sealed = self.store.get_sealed(workspace, conn.name)
        except NotFoundError:
            old, sealed = None, ""
        if old is not None and old.type != conn.type:
            raise ConflictError(f"connection {conn.name!r} is of type {old.type}, not "
                                f"{conn.type}; delete it first to change its type")
        opened: dict[str, str] | None = None

        def old_secret(key: str) -> str | None:
            nonlocal opened
            if old is None or key not in old.secrets:
                return None
            if opened is None:
                opened = self.box.open(sealed, f"connection {conn.name!r}")
            return opened.get(key)

        secrets = _merged(conn.name, kind, given, old, old_secret)
        for key, value in kind.defaults.items():
            configs.setdefault(key, value)
        _check_required(conn.name, kind, configs, secrets)
        now = self.clock()
        stored = Connection(name=conn.name, type=conn.type, configs=configs, secrets=secrets,
                            tags=dict(conn.tags),
                            creation_time=old.creation_time if old is not None else now,
                            last_modified_time=now)
        if old is None:
            self.store.create_connection(workspace, stored, self.box.seal(secrets))
        else:
            self.store.update_connection(workspace, stored, self.box.seal(secrets))
        return stored.masked()

    def get(self, workspace: str, name: str) -> Connection:
        """The connection, secrets masked. Raises NotFoundError."""
        return self.store.get_connection(workspace, name)

    def list(self, workspace: str) -> builtins.list[Connection]:
        """The workspace's connections by name, secrets masked."""
        return self.store.list_connections(workspace)

    def delete(self, workspace: str, name: str) -> None:
        """Raises NotFoundError."""
        self.store.delete_connection(workspace, name)

    def list_secrets(self, workspace: str, name: str) -> dict[str, Any]:
        """The connection's plain form with its secrets in clear (what a flow run takes:
        ``ember.flows.connections.from_plain``). Raises NotFoundError."""
        conn, sealed = self.store.get_sealed(workspace, name)
        secrets = self.box.open(sealed, f"connection {name!r}") if conn.secrets else {}
        return replace(conn, secrets=secrets).flat()


def _split(conn: Connection, kind: ConnectionKind) -> tuple[dict[str, str], dict[str, str]]:
    """The connection's configs and secrets, checked: known keys, string values, no
    ``${env:VAR}`` left. A typed connection's secret field found among its configs (an SDK
    user's slip) is taken as the secret it is."""
    configs = _strings(conn.name, "configs", conn.configs)
    secrets = _strings(conn.name, "secrets", conn.secrets)
    _strings(conn.name, "tags", conn.tags)
    if kind.type != CUSTOM:
        for key in [k for k in configs if k in kind.secrets]:
            secrets.setdefault(key, configs.pop(key))
        for key in (*configs, *secrets):
            if key not in kind.fields:
                raise InvalidInputError(
                    f"connection {conn.name!r} of type {kind.type} has no key {key!r}; its "
                    f"keys: {', '.join(kind.fields)}")
        mode = configs.get("auth_mode", "key")
        if "auth_mode" in kind.configs and mode != "key":
            raise UnsupportedError(f"connection {conn.name!r}: "
                                   + KEY_AUTH_ONLY.format(mode=mode))
    for where, values in (("configs", configs), ("secrets", secrets)):
        for key, value in values.items():
            ref = ENV_REF.match(value)
            if ref:
                field = f"{where}.{key}" if kind.type == CUSTOM else key
                raise InvalidInputError(
                    f"connection {conn.name!r}: {field} is an unresolved ${{env:{ref['var']}}}; "
                    "the SDK and the CLI replace it with the variable's value from the "
                    "client's environment before sending")
    return configs, secrets


def _strings(name: str, where: str, values: Any) -> dict[str, str]:
    if not isinstance(values, dict):
        raise InvalidInputError(f"connection {name!r}: {where} must be a mapping")
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"connection {name!r}: {where} keys must be non-empty "
                                    "strings")
        if not isinstance(value, str):
            # the value itself is not shown: it may be a secret
            raise InvalidInputError(f"connection {name!r}: {where}.{key} must be a string, "
                                    f"not {type(value).__name__}")
    return dict(values)


def _merged(name: str, kind: ConnectionKind, given: dict[str, str], old: Connection | None,
            old_secret: Callable[[str], str | None]) -> dict[str, str]:
    """The secrets to store: those given, with ``******`` and (for a typed connection, or a
    custom one given none) the ones left out taken from the stored connection."""
    def kept(key: str) -> str:
        value = old_secret(key)
        if value is None:
            raise InvalidInputError(
                f"connection {name!r}: secret {key!r} is {MASK}, which keeps a stored value, "
                "but there is none; give the secret itself")
        return value

    out = {k: (kept(k) if v == MASK else v) for k, v in given.items()}
    if old is not None:
        left_out = kind.secrets if kind.type != CUSTOM else (() if given else tuple(old.secrets))
        for key in left_out:
            if key not in out:
                value = old_secret(key)
                if value is not None:
                    out[key] = value
    return out


def _check_required(name: str, kind: ConnectionKind, configs: dict[str, str],
                    secrets: dict[str, str]) -> None:
    if kind.type == CUSTOM:
        if not secrets:
            raise InvalidInputError(
                f"connection {name!r} of type custom needs at least one secret (as promptflow "
                "requires): add secrets: {<name>: <value>}")
        return
    for key in kind.required:
        if not (secrets.get(key) or configs.get(key)):
            raise InvalidInputError(f"connection {name!r} of type {kind.type} needs {key}")
