"""Online endpoints and deployments: the same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ember.entities.online_endpoints import (
    CodeConfiguration,
    DataCollector,
    EndpointKeys,
    OnlineDeployment,
    OnlineEndpoint,
    RequestSettings,
)
from ember.entities.environments import Environment
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


class TestOnlineEndpointStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    @pytest.fixture
    def ws(self, store: SqlStore) -> str:
        store.workspaces.create(Workspace(name="w1", creation_time=time.time()))
        store.online_endpoints.create_endpoint("w1", OnlineEndpoint(name="ep", tags={"a": "b"}),
                                        EndpointKeys("k1", "k2"))
        return "w1"

    def test_endpoint_round_trip_keys_and_duplicates(self, store: SqlStore, ws: str) -> None:
        got = store.online_endpoints.get_endpoint(ws, "ep")
        assert got.tags == {"a": "b"} and got.auth_mode == "key"
        with pytest.raises(AlreadyExistsError, match="ep"):
            store.online_endpoints.create_endpoint(ws, OnlineEndpoint(name="ep"), EndpointKeys("x", "y"))
        assert store.online_endpoints.get_keys(ws, "ep") == EndpointKeys("k1", "k2")
        store.online_endpoints.set_keys(ws, "ep", EndpointKeys("k3", "k2"))
        assert store.online_endpoints.get_keys(ws, "ep").primary_key == "k3"
        assert store.online_endpoints.list_keys() == {(ws, "ep"): EndpointKeys("k3", "k2")}
        got.traffic = {"blue": 100}
        store.online_endpoints.update_endpoint(ws, got)
        assert store.online_endpoints.get_endpoint(ws, "ep").traffic == {"blue": 100}
        assert [e.name for _, e in store.online_endpoints.list_endpoints(ws)] == ["ep"]
        with pytest.raises(NotFoundError, match="nope"):
            store.online_endpoints.get_keys(ws, "nope")

    def test_deployment_round_trip_and_cascade(self, store: SqlStore, ws: str) -> None:
        d = OnlineDeployment(
            name="blue", endpoint_name="ep", model="azureml:m:1",
            code_configuration=CodeConfiguration("codes/abc", "score.py"),
            environment=Environment(conda_file={"dependencies": ["numpy"]}),
            request_settings=RequestSettings(request_timeout_ms=900),
            data_collector=DataCollector(collections={"request": {"enabled": "true"}}))
        store.online_endpoints.create_deployment(ws, d)
        got = store.online_endpoints.get_deployment(ws, "ep", "blue")
        assert got == d
        assert isinstance(got.environment, Environment)
        assert got.data_collector is not None and got.data_collector.enabled("request")
        with pytest.raises(AlreadyExistsError):
            store.online_endpoints.create_deployment(ws, d)
        with pytest.raises(NotFoundError, match="endpoint 'other'"):
            store.online_endpoints.create_deployment(ws, OnlineDeployment(name="x",
                                                                   endpoint_name="other"))
        got.instance_count = 3
        store.online_endpoints.update_deployment(ws, got)
        assert store.online_endpoints.get_deployment(ws, "ep", "blue").instance_count == 3
        assert [x.name for _, x in store.online_endpoints.list_deployments(ws, "ep")] == ["blue"]
        store.online_endpoints.delete_endpoint(ws, "ep")
        assert store.online_endpoints.list_deployments(ws) == []
        with pytest.raises(NotFoundError):
            store.online_endpoints.get_deployment(ws, "ep", "blue")
