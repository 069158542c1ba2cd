"""Computes: the same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ember.entities.computes import Compute
from ember.entities.workspaces import Workspace
from ember.errors import NotFoundError
from ember.store.sql.store import SqlStore


class TestComputeStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        for name in ("w1", "w2"):
            store.workspaces.create(Workspace(name=name, creation_time=time.time()))
        return "w1"

    def test_round_trip_replace_list_and_delete(self, store: SqlStore, ws: str) -> None:
        ray = Compute(name="ray1", type="ray", description="lab", address="http://h:8265",
                      max_concurrent_jobs=3, resources={"CPU": 1.0, "GPU": 0.5},
                      tags={"team": "a"}, creation_time=10.5)
        store.computes.create_or_update(ws, ray)
        assert store.computes.get(ws, "ray1") == ray
        bare = Compute(name="a", type="ray", address="https://x:443", creation_time=1.0)
        store.computes.create_or_update(ws, bare)
        assert store.computes.get(ws, "a") == bare   # no limits: None and {}
        replaced = Compute(name="ray1", type="ray", address="http://h2:8265", creation_time=11.0)
        store.computes.create_or_update(ws, replaced)
        assert store.computes.get(ws, "ray1") == replaced
        assert [c.name for c in store.computes.list(ws)] == ["a", "ray1"]
        assert store.computes.list("w2") == []   # per workspace
        with pytest.raises(NotFoundError, match="compute 'ray1' does not exist in workspace 'w2'"):
            store.computes.get("w2", "ray1")
        store.computes.delete(ws, "ray1")
        assert [c.name for c in store.computes.list(ws)] == ["a"]
        with pytest.raises(NotFoundError, match="compute 'ray1'"):
            store.computes.delete(ws, "ray1")
