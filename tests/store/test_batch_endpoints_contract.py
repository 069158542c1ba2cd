"""Batch endpoints and deployments: the same store contract on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ember.entities.batch_endpoints import (
    BatchDeployment,
    BatchEndpoint,
    BatchSettings,
    RetrySettings,
)
from ember.entities.online_endpoints import CodeConfiguration
from ember.entities.workspaces import Workspace
from ember.errors import AlreadyExistsError, NotFoundError
from ember.store.sql.store import SqlStore


class TestBatchStoreContract:
    @pytest.fixture
    def store(self, sql_store: SqlStore) -> SqlStore:
        return sql_store   # SQLite and PostgreSQL (tests/conftest.py)

    def test_round_trip_replace_and_cascade(self, store: SqlStore) -> None:
        store.workspaces.create(Workspace(name="w1", creation_time=time.time()))
        s = store.batch_endpoints
        s.create_endpoint("w1", BatchEndpoint(name="b", default_deployment="d1"))
        with pytest.raises(AlreadyExistsError):
            s.create_endpoint("w1", BatchEndpoint(name="b"))
        d = BatchDeployment(name="d1", endpoint_name="b", model="azureml:m:1",
                            code_configuration=CodeConfiguration("codes/x", "score.py"),
                            settings=BatchSettings(mini_batch_size=3, error_threshold=2,
                                                   retry_settings=RetrySettings(1, 5)))
        s.put_deployment("w1", d)
        assert s.get_deployment("w1", "b", "d1") == d
        d.settings.mini_batch_size = 7
        s.put_deployment("w1", d)
        assert s.get_deployment("w1", "b", "d1").settings.mini_batch_size == 7
        assert [x.name for x in s.list_deployments("w1", "b")] == ["d1"]
        with pytest.raises(NotFoundError, match="'nope'"):
            s.put_deployment("w1", BatchDeployment(name="x", endpoint_name="nope"))
        assert s.get_endpoint("w1", "b").default_deployment == "d1"
        s.delete_endpoint("w1", "b")
        assert s.list_endpoints("w1") == []
        with pytest.raises(NotFoundError):
            s.get_deployment("w1", "b", "d1")
