"""Serverless endpoints: the same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ember.entities.online_endpoints import EndpointKeys
from ember.entities.serverless_endpoints import RateLimits, ServerlessEndpoint
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore

MODEL = "azureml://registries/azureml/models/SmolLM2-135M-Instruct"


class TestServerlessEndpointStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        for name in ("w1", "w2"):
            store.workspaces.create(Workspace(name=name, creation_time=time.time()))
        return "w1"

    def test_round_trip_keeps_every_stored_field_and_drops_the_shown_ones(
            self, store: SqlStore, ws: str) -> None:
        ep = ServerlessEndpoint(name="chat", model_id=MODEL, description="d", tags={"a": "b"},
                                properties={"p": "q"}, rate_limits=RateLimits(10, 2),
                                model=MODEL + "/versions/1", creation_time=12.5,
                                scoring_uri="http://x/endpoints/w1/chat",
                                usage={"primary": {"requests": 1}})
        store.serverless_endpoints.create_endpoint(ws, ep, EndpointKeys("k1", "k2"))
        got = store.serverless_endpoints.get_endpoint(ws, "chat")
        assert got == ServerlessEndpoint(name="chat", model_id=MODEL, description="d",
                                         tags={"a": "b"}, properties={"p": "q"},
                                         rate_limits=RateLimits(10, 2),
                                         model=MODEL + "/versions/1", creation_time=12.5)
        with pytest.raises(AlreadyExistsError, match="chat"):
            store.serverless_endpoints.create_endpoint(ws, ServerlessEndpoint(name="chat"),
                                                       EndpointKeys("x", "y"))
        # the same name in another workspace is another endpoint
        store.serverless_endpoints.create_endpoint("w2", ServerlessEndpoint(name="chat"),
                                                   EndpointKeys("x", "y"))
        assert [(w, e.name) for w, e in store.serverless_endpoints.list_endpoints()] == [
            ("w1", "chat"), ("w2", "chat")]
        assert [e.name for _, e in store.serverless_endpoints.list_endpoints("w2")] == ["chat"]

    def test_update_keys_and_delete(self, store: SqlStore, ws: str) -> None:
        store.serverless_endpoints.create_endpoint(ws, ServerlessEndpoint(name="e", model_id=MODEL),
                                                   EndpointKeys("k1", "k2"))
        got = store.serverless_endpoints.get_endpoint(ws, "e")
        got.provisioning_state, got.description = "Succeeded", "new"
        store.serverless_endpoints.update_endpoint(ws, got)
        again = store.serverless_endpoints.get_endpoint(ws, "e")
        assert (again.provisioning_state, again.description) == ("Succeeded", "new")
        assert store.serverless_endpoints.get_keys(ws, "e") == EndpointKeys("k1", "k2")
        store.serverless_endpoints.set_keys(ws, "e", EndpointKeys("k3", "k2"))
        assert store.serverless_endpoints.list_keys() == {(ws, "e"): EndpointKeys("k3", "k2")}
        store.serverless_endpoints.delete_endpoint(ws, "e")
        assert store.serverless_endpoints.list_endpoints(ws) == []
        for call in (lambda: store.serverless_endpoints.get_endpoint(ws, "e"),
                     lambda: store.serverless_endpoints.get_keys(ws, "e"),
                     lambda: store.serverless_endpoints.set_keys(ws, "e", EndpointKeys("a", "b")),
                     lambda: store.serverless_endpoints.update_endpoint(ws, got),
                     lambda: store.serverless_endpoints.delete_endpoint(ws, "e")):
            with pytest.raises(NotFoundError, match="serverless endpoint 'e'"):
                call()
