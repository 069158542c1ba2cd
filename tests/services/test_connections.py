"""Connection rules on a real SQLite store: secrets sealed at rest, masked reads, the plain form
a flow run takes, updates that keep secrets, and validation errors that name keys, never
secret values."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from ember.entities.connections import MASK, Connection
from ember.entities.workspaces import Workspace
from ember.errors import (
    ConflictError,
    EmberError,
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
)
from ember.flows.connections import AzureOpenAIConnection, CustomConnection, from_plain
from ember.services._secrets import SecretBox, load_or_create_key
from ember.services.connections import ConnectionService
from ember.store.sql import tables as t
from ember.store.sql.store import SqlStore

SECRET = "sk-very-secret-0123456789"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    s.workspaces.create(Workspace(name="w", creation_time=time.time()))
    yield s
    s.close()


@pytest.fixture
def svc(store: SqlStore, tmp_path: Path) -> ConnectionService:
    return ConnectionService(store.connections,
                             SecretBox(load_or_create_key(tmp_path / "home")))


def openai(name: str = "llm", **fields: str) -> Connection:
    return Connection.from_flat({"name": name, "type": "open_ai", **fields})


def test_secrets_are_encrypted_at_rest(svc: ConnectionService, store: SqlStore,
                                       tmp_path: Path) -> None:
    svc.create_or_update("w", openai(api_key=SECRET, base_url="http://127.0.0.1:1/v1"))
    svc.create_or_update("w", Connection(name="c", configs={"endpoint": "http://e"},
                                         secrets={"token": SECRET + "-custom"}))
    with store.engine.connect() as db:
        rows = db.execute(select(t.connections)).all()
    assert len(rows) == 2
    for row in rows:
        assert SECRET not in repr(tuple(row))
        assert row.secrets.startswith("gAAAA")          # a Fernet token
    assert {r.name: r.spec for r in rows}["llm"] == {
        "configs": {"base_url": "http://127.0.0.1:1/v1"}, "secret_names": ["api_key"],
        "tags": {}}
    for path in tmp_path.glob("db.sqlite*"):              # the database and its WAL
        assert SECRET.encode() not in path.read_bytes()
    key = tmp_path / "home" / "secrets.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_reads_are_masked_and_list_secrets_gives_the_plain_form(svc: ConnectionService
                                                                ) -> None:
    shown = svc.create_or_update("w", openai(api_key=SECRET, base_url="http://h/v1"))
    assert shown.secrets == {"api_key": MASK}
    assert svc.get("w", "llm").flat() == {"name": "llm", "type": "open_ai", "api_key": MASK,
                                          "organization": None, "base_url": "http://h/v1"}
    assert svc.list_secrets("w", "llm") == {"name": "llm", "type": "open_ai",
                                            "api_key": SECRET, "organization": None,
                                            "base_url": "http://h/v1"}
    svc.create_or_update("w", Connection.from_flat({
        "name": "aoai", "type": "azure_open_ai", "api_key": SECRET, "api_base": "http://a"}))
    plain = svc.list_secrets("w", "aoai")
    assert plain == {"name": "aoai", "type": "azure_open_ai", "api_key": SECRET,
                     "api_base": "http://a", "api_type": "azure", "api_version": "2024-02-01",
                     "auth_mode": "key", "resource_id": None}
    aoai = from_plain(plain)
    assert isinstance(aoai, AzureOpenAIConnection) and aoai.api_key == SECRET
    svc.create_or_update("w", Connection(name="mine", configs={"endpoint": "http://e"},
                                         secrets={"token": SECRET}, tags={"t": "1"}))
    assert svc.list_secrets("w", "mine") == {"name": "mine", "type": "custom",
                                             "configs": {"endpoint": "http://e"},
                                             "secrets": {"token": SECRET}}
    custom = from_plain(svc.list_secrets("w", "mine"))
    assert isinstance(custom, CustomConnection) and custom["token"] == SECRET
    assert [(c.name, c.secrets) for c in svc.list("w")] == [
        ("aoai", {"api_key": MASK}), ("llm", {"api_key": MASK}), ("mine", {"token": MASK})]
    assert SECRET not in repr(svc.list("w"))
    svc.delete("w", "mine")
    with pytest.raises(NotFoundError, match="connection 'mine'"):
        svc.list_secrets("w", "mine")


def test_an_update_keeps_the_secrets_it_leaves_out_or_masks(svc: ConnectionService) -> None:
    first = svc.create_or_update("w", openai(api_key=SECRET, base_url="http://a"))
    svc.create_or_update("w", openai(base_url="http://b"))                  # left out
    assert svc.list_secrets("w", "llm")["api_key"] == SECRET
    svc.create_or_update("w", openai(api_key=MASK, organization="org"))     # show → update
    again = svc.list_secrets("w", "llm")
    assert (again["api_key"], again["base_url"], again["organization"]) == (SECRET, None, "org")
    svc.create_or_update("w", openai(api_key="sk-new"))
    assert svc.list_secrets("w", "llm")["api_key"] == "sk-new"
    now = svc.get("w", "llm")
    assert now.creation_time == first.creation_time <= now.last_modified_time

    svc.create_or_update("w", Connection(name="c", secrets={"a": "1", "b": "2"}))
    svc.create_or_update("w", Connection(name="c", configs={"x": "y"}))    # no secrets given
    assert svc.list_secrets("w", "c")["secrets"] == {"a": "1", "b": "2"}
    svc.create_or_update("w", Connection(name="c", secrets={"a": MASK, "c": "3"}))
    assert svc.list_secrets("w", "c")["secrets"] == {"a": "1", "c": "3"}


@pytest.mark.parametrize("conn, message", [
    (openai(base_url="http://x"), "connection 'llm' of type open_ai needs api_key"),
    (Connection.from_flat({"name": "a", "type": "azure_open_ai", "api_key": SECRET}),
     "connection 'a' of type azure_open_ai needs api_base"),
    (Connection(name="c", configs={"endpoint": "e"}),
     "connection 'c' of type custom needs at least one secret"),
    (Connection(name="x", type="open_ai", configs={"base_uri": "h"}, secrets={"api_key": SECRET}),
     "connection 'x' of type open_ai has no key 'base_uri'"),
    (Connection(name="x", type="openai", secrets={"api_key": SECRET}),
     "unknown connection type 'openai'; known types: .*open_ai"),
    (Connection(name="../x", secrets={"t": SECRET}), "connection name '../x' is invalid"),
    (openai(api_key="${env:OPENAI_KEY}"), r"api_key is an unresolved \$\{env:OPENAI_KEY\}"),
    (openai(api_key=MASK), "secret 'api_key' is \\*\\*\\*\\*\\*\\*.*give the secret itself"),
    (Connection(name="c", secrets={"t": 3}), "secrets.t must be a string, not int"),  # type: ignore[dict-item]
])
def test_invalid_connections_are_refused_naming_the_key(svc: ConnectionService,
                                                        conn: Connection, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        svc.create_or_update("w", conn)
    assert SECRET not in str(caught.value)
    assert svc.list("w") == []


def test_type_change_and_key_auth_only(svc: ConnectionService) -> None:
    svc.create_or_update("w", openai(api_key=SECRET))
    with pytest.raises(ConflictError, match="is of type open_ai, not custom"):
        svc.create_or_update("w", Connection(name="llm", secrets={"t": "v"}))
    with pytest.raises(UnsupportedError, match="auth_mode 'meid_token' needs Azure Entra"):
        svc.create_or_update("w", Connection.from_flat({
            "name": "a", "type": "azure_open_ai", "api_key": SECRET, "api_base": "http://a",
            "auth_mode": "meid_token"}))


def test_the_key_file_is_reused_and_an_explicit_key_wins(store: SqlStore,
                                                          tmp_path: Path) -> None:
    home = tmp_path / "home2"
    first = ConnectionService(store.connections, SecretBox(load_or_create_key(home)))
    first.create_or_update("w", openai(api_key=SECRET))
    again = ConnectionService(store.connections, SecretBox(load_or_create_key(home)))
    assert again.list_secrets("w", "llm")["api_key"] == SECRET       # a restarted server

    given = Fernet.generate_key().decode()
    assert load_or_create_key(tmp_path / "home3", given) == given.encode()
    assert not (tmp_path / "home3").exists()
    other = ConnectionService(store.connections, SecretBox(given.encode()))
    with pytest.raises(EmberError, match="secrets of connection 'llm' cannot be read with "
                                         "this server's key") as caught:
        other.list_secrets("w", "llm")
    assert SECRET not in str(caught.value)
    assert other.get("w", "llm").secrets == {"api_key": MASK}          # the rest still reads
    other.create_or_update("w", openai(api_key="sk-2"))                 # and can be replaced
    assert other.list_secrets("w", "llm")["api_key"] == "sk-2"
    with pytest.raises(InvalidInputError, match="EMBER_SECRETS_KEY is not a Fernet key") as bad:
        load_or_create_key(home, "not-a-key-but-secret")
    assert "not-a-key-but-secret" not in str(bad.value)
