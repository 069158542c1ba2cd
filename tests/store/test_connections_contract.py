"""Connections: the same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ember.entities.connections import MASK, Connection
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


class TestConnectionStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        for name in ("w1", "w2"):
            store.workspaces.create(Workspace(name=name, creation_time=time.time()))
        return "w1"

    def test_round_trip_masks_secrets_and_keeps_the_sealed_text(self, store: SqlStore,
                                                                 ws: str) -> None:
        conn = Connection(name="llm", type="open_ai", configs={"base_url": "http://x/v1"},
                          secrets={"api_key": "never-stored"}, tags={"team": "a"},
                          creation_time=10.5, last_modified_time=11.5)
        store.connections.create_connection(ws, conn, "sealed-1")
        want = Connection(name="llm", type="open_ai", configs={"base_url": "http://x/v1"},
                          secrets={"api_key": MASK}, tags={"team": "a"},
                          creation_time=10.5, last_modified_time=11.5)
        assert store.connections.get_connection(ws, "llm") == want
        assert store.connections.get_sealed(ws, "llm") == (want, "sealed-1")
        with pytest.raises(AlreadyExistsError, match="connection 'llm'"):
            store.connections.create_connection(ws, conn, "x")
        # the same name in another workspace is another connection
        store.connections.create_connection("w2", Connection(name="llm", secrets={"t": "v"}),
                                            "sealed-2")
        store.connections.create_connection(ws, Connection(name="a", secrets={"t": "v"}), "s")
        assert [c.name for c in store.connections.list_connections(ws)] == ["a", "llm"]
        assert [c.type for c in store.connections.list_connections("w2")] == ["custom"]

    def test_update_and_delete(self, store: SqlStore, ws: str) -> None:
        store.connections.create_connection(
            ws, Connection(name="c", secrets={"t": "v"}, creation_time=1.0,
                           last_modified_time=1.0), "s1")
        store.connections.update_connection(
            ws, Connection(name="c", configs={"e": "f"}, secrets={"t": "v", "u": "w"},
                           creation_time=99.0, last_modified_time=2.0), "s2")
        got, sealed = store.connections.get_sealed(ws, "c")
        assert sealed == "s2"
        assert got == Connection(name="c", configs={"e": "f"}, secrets={"t": MASK, "u": MASK},
                                 creation_time=1.0, last_modified_time=2.0)
        store.connections.delete_connection(ws, "c")
        assert store.connections.list_connections(ws) == []
        for call in (lambda: store.connections.get_connection(ws, "c"),
                     lambda: store.connections.get_sealed(ws, "c"),
                     lambda: store.connections.update_connection(ws, got, "s"),
                     lambda: store.connections.delete_connection(ws, "c")):
            with pytest.raises(NotFoundError, match="connection 'c' does not exist"):
                call()
